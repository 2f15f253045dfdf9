//! A plain f64 CPU forward pass of an exported network, one image at a time, from its
//! layer list and tensors alone, through the CPU references of the kernels. It is what
//! an HE or MPC pipeline computes (in the clear), in either layout (plain, or HE-ready:
//! `export::he`), and what the tests check the export against the GPU backbone with and
//! `sturdy predict --export` writes out.

use std::collections::HashMap;

use anyhow::{bail, Context};

use super::manifest::{Layer, Manifest};
use crate::checkpoint::Checkpoint;
use crate::nn::describe::INPUT;
use crate::nn::Op;
use crate::ops::batchnorm::BatchNormShape;
use crate::ops::conv2d::Conv2dShape;
use crate::ops::poly_relu::max_pool_scales;
use crate::poly::export::ReluExport;
use crate::poly::ReluApprox;
use crate::reference;
use crate::reference::poly_relu::{max_pool_overflow_count, overflow_count};

/// What each site computes.
#[derive(Clone, Copy, Debug)]
pub enum SiteFunction<'a> {
    /// max(x, 0) and the exact 2x2 max: the backbone.
    Exact,
    /// The PANN, with the site's bound B: ReLU sites compute x (1 + p(x / B)) / 2 (in the
    /// HE-ready layout u q(u) of their input u = x / B), with x first clamped to [-B, B]
    /// (u to [-1, 1]) where [`Clamp::Clamp`] asks, as the GPU kernels do; max pooling
    /// sites the polynomial max of `ops::poly_relu::max_pool_forward`, differences always
    /// clamped to their D. (An HE pipeline cannot clamp; there an input beyond B makes the
    /// polynomial explode, which is why B is calibrated with a margin.)
    Poly(&'a ReluExport),
    /// The PANN with a polynomial per site, indexed by site index (an export with per-site
    /// alphas: `Manifest::site_polynomials`).
    PerSite(&'a [&'a ReluExport]),
}

impl SiteFunction<'_> {
    /// The polynomial of site `index`; None for the exact functions.
    fn polynomial(&self, index: u32) -> anyhow::Result<Option<&ReluExport>> {
        match self {
            SiteFunction::Exact => Ok(None),
            SiteFunction::Poly(relu) => Ok(Some(relu)),
            SiteFunction::PerSite(list) => match list.get(index as usize) {
                Some(relu) => Ok(Some(relu)),
                None => bail!("site {index} has no polynomial ({} given)", list.len()),
            },
        }
    }
}

/// The bound B of a PANN site, which a calibrated export has.
fn calibrated(name: &str, bound: Option<f32>) -> anyhow::Result<f64> {
    match bound {
        Some(bound) => Ok(bound as f64),
        None => bail!("site {name} has no bound: the export is not calibrated"),
    }
}

/// Whether PANN sites clamp their inputs to the bound (the GPU's policy) or evaluate the
/// polynomial wherever the input lies (what encryption computes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clamp {
    Clamp,
    NoClamp,
}

/// One image through the network.
#[derive(Clone, Debug, PartialEq)]
pub struct Forward {
    pub logits: Vec<f64>,
    /// Site inputs beyond their bound (and max pooling differences beyond their D).
    pub overflows: usize,
}

/// An exported network held in f64.
pub struct CpuNetwork {
    layers: Vec<Layer>,
    tensors: HashMap<String, Vec<f64>>,
    /// The HE-ready layout: sites read x / B and return ReLU(x) / B.
    he_ready: bool,
}

impl CpuNetwork {
    /// A graph in the plain layout.
    pub fn new(layers: &[Layer], weights: &Checkpoint) -> CpuNetwork {
        let tensors =
            weights.tensors.iter().map(|t| (t.name.clone(), t.data.iter().map(|&v| v as f64).collect())).collect();
        CpuNetwork { layers: layers.to_vec(), tensors, he_ready: false }
    }

    /// An export, in the layout its manifest states.
    pub fn of_export(manifest: &Manifest, weights: &Checkpoint) -> CpuNetwork {
        let he_ready = manifest.activation.bounds_folded_into_weights;
        CpuNetwork { he_ready, ..CpuNetwork::new(&manifest.layers, weights) }
    }

    fn tensor(&self, name: &str) -> anyhow::Result<&[f64]> {
        self.tensors.get(name).map(Vec::as_slice).with_context(|| format!("tensor {name:?} is not in the export"))
    }

    /// The last op's output (the logits) for one image, sites clamping as the GPU's do.
    pub fn forward(&self, image: &[f64], sites: SiteFunction) -> anyhow::Result<Vec<f64>> {
        Ok(self.run(image, sites, Clamp::Clamp)?.logits)
    }

    /// The logits for one image, laid out as the layer list's input shape ([C, H, W],
    /// normalised as the export's manifest says), and the overflows on the way.
    pub fn run(&self, image: &[f64], sites: SiteFunction, clamp: Clamp) -> anyhow::Result<Forward> {
        let mut values: HashMap<&str, Vec<f64>> = HashMap::from([(INPUT, image.to_vec())]);
        let mut overflows = 0;
        for layer in &self.layers {
            let op = &layer.op;
            let input = |i: usize| -> anyhow::Result<Vec<f64>> {
                let name = op.inputs()[i];
                let value =
                    values.get(name).with_context(|| format!("{} reads {name:?} before it is computed", op.name()))?;
                Ok(match layer.input_scales.as_ref().map(|s| s[i]) {
                    Some(scale) => value.iter().map(|v| v * scale).collect(),
                    None => value.clone(),
                })
            };
            let output = match op {
                Op::Conv2d { weight, bias, input_shape, output_shape, kernel, stride, padding, .. } => {
                    let [in_channels, height, width] = *input_shape;
                    let shape = Conv2dShape {
                        batch: 1,
                        in_channels,
                        out_channels: output_shape[0],
                        height,
                        width,
                        kernel: *kernel,
                        stride: *stride,
                        padding: *padding,
                    };
                    let bias = bias.as_deref().map(|b| self.tensor(b)).transpose()?;
                    reference::conv2d::forward(&shape, &input(0)?, self.tensor(weight)?, bias)
                }
                Op::BatchNorm { weight, bias, running_mean, running_var, eps, shape, .. } => {
                    let bn = BatchNormShape { batch: 1, channels: shape[0], spatial: shape[1..].iter().product() };
                    let (gamma, beta) = (self.tensor(weight)?, self.tensor(bias)?);
                    let (mean, var) = (self.tensor(running_mean)?, self.tensor(running_var)?);
                    reference::batchnorm::forward_inference(bn, &input(0)?, gamma, beta, mean, var, *eps as f64)
                }
                Op::Relu { name, bound, site_index, .. } => match sites.polynomial(*site_index)? {
                    None => reference::relu::forward(&input(0)?),
                    Some(relu) => {
                        // The HE-ready layout's input is already x / B, its output ReLU(x) / B.
                        let b = if self.he_ready { 1.0 } else { calibrated(name, *bound)? };
                        let x = input(0)?;
                        overflows += overflow_count(b, &x) as usize;
                        let limit = if clamp == Clamp::Clamp { b } else { f64::INFINITY };
                        let clamped = x.iter().map(|&x| x.clamp(-limit, limit));
                        match self.he_ready {
                            true => clamped.map(|u| relu.he.relu_over_bound(u)).collect(),
                            false => clamped.map(|x| x * (1.0 + relu.eval_sign(x / b)) / 2.0).collect(),
                        }
                    }
                },
                Op::Add { .. } => reference::add::forward(&input(0)?, &input(1)?),
                Op::GlobalAveragePool { input_shape: [c, h, w], .. } => {
                    reference::pool::global_average_forward([1, *c, *h, *w], &input(0)?)
                }
                Op::MaxPool2x2 { name, input_shape: [c, h, w], bound, site_index, .. } => {
                    match sites.polynomial(*site_index)? {
                        None => reference::pool::max_pool_forward([1, *c, *h, *w], &input(0)?).0,
                        Some(_) if self.he_ready => bail!("{name}: max pooling has no HE-ready form"),
                        Some(relu) => {
                            let (x, dims) = (input(0)?, [1, *c, *h, *w]);
                            let scales = max_pool_scales(calibrated(name, *bound)?);
                            overflows +=
                                max_pool_overflow_count(ReluApprox::get(relu.alpha)?, scales, dims, &x) as usize;
                            let sign = |u| relu.eval_sign(u);
                            reference::poly_relu::max_pool_forward_with(sign, scales, dims, &x)
                        }
                    }
                }
                Op::Linear { weight, bias, in_features, .. } => {
                    reference::linear::forward(&input(0)?, self.tensor(weight)?, self.tensor(bias)?, *in_features)
                }
            };
            values.insert(op.name(), output);
        }
        let last = self.layers.last().context("the export has no layers")?;
        let logits = values.remove(last.op.name()).expect("every op's output was stored");
        Ok(Forward { logits, overflows })
    }
}
