//! A plain f64 CPU forward pass of an exported network, one image at a time, from its
//! layer list and tensors alone, through the CPU references of the kernels. It is what
//! an HE or MPC pipeline computes (in the clear), and what the tests check the export
//! against the GPU backbone with.

use std::collections::HashMap;

use anyhow::{bail, Context};

use crate::checkpoint::Checkpoint;
use crate::nn::describe::INPUT;
use crate::nn::Op;
use crate::ops::batchnorm::BatchNormShape;
use crate::ops::conv2d::Conv2dShape;
use crate::ops::poly_relu::max_pool_scales;
use crate::poly::export::ReluExport;
use crate::reference;

/// What each site computes.
#[derive(Clone, Copy, Debug)]
pub enum SiteFunction<'a> {
    /// max(x, 0) and the exact 2x2 max: the backbone.
    Exact,
    /// The PANN, with the site's bound B and the GPU kernels' overflow policy: ReLU sites
    /// compute x (1 + p(x / B)) / 2 with x first clamped to [-B, B]; max pooling sites the
    /// polynomial max of `ops::poly_relu::max_pool_forward`, differences clamped to their
    /// D. (An HE pipeline cannot clamp; there an input beyond B makes the polynomial
    /// explode, which is why B is calibrated with a margin.)
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

/// An exported network held in f64.
pub struct CpuNetwork {
    layers: Vec<Op>,
    tensors: HashMap<String, Vec<f64>>,
}

impl CpuNetwork {
    pub fn new(layers: &[Op], weights: &Checkpoint) -> CpuNetwork {
        let tensors =
            weights.tensors.iter().map(|t| (t.name.clone(), t.data.iter().map(|&v| v as f64).collect())).collect();
        CpuNetwork { layers: layers.to_vec(), tensors }
    }

    fn tensor(&self, name: &str) -> anyhow::Result<&[f64]> {
        self.tensors.get(name).map(Vec::as_slice).with_context(|| format!("tensor {name:?} is not in the export"))
    }

    /// The last op's output (the logits) for one image, laid out as the layer list's
    /// input shape ([C, H, W], normalised as the export's manifest says).
    pub fn forward(&self, image: &[f64], sites: SiteFunction) -> anyhow::Result<Vec<f64>> {
        let mut values: HashMap<&str, Vec<f64>> = HashMap::from([(INPUT, image.to_vec())]);
        for op in &self.layers {
            let input = |i: usize| -> anyhow::Result<&[f64]> {
                let name = op.inputs()[i];
                values
                    .get(name)
                    .map(Vec::as_slice)
                    .with_context(|| format!("{} reads {name:?} before it is computed", op.name()))
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
                    reference::conv2d::forward(&shape, input(0)?, self.tensor(weight)?, bias)
                }
                Op::BatchNorm { weight, bias, running_mean, running_var, eps, shape, .. } => {
                    let bn = BatchNormShape { batch: 1, channels: shape[0], spatial: shape[1..].iter().product() };
                    let (gamma, beta) = (self.tensor(weight)?, self.tensor(bias)?);
                    let (mean, var) = (self.tensor(running_mean)?, self.tensor(running_var)?);
                    reference::batchnorm::forward_inference(bn, input(0)?, gamma, beta, mean, var, *eps as f64)
                }
                Op::Relu { name, bound, site_index, .. } => match sites.polynomial(*site_index)? {
                    None => reference::relu::forward(input(0)?),
                    Some(relu) => {
                        let b = calibrated(name, *bound)?;
                        let clamped = input(0)?.iter().map(|&x| x.clamp(-b, b));
                        clamped.map(|x| x * (1.0 + relu.eval_sign(x / b)) / 2.0).collect()
                    }
                },
                Op::Add { .. } => reference::add::forward(input(0)?, input(1)?),
                Op::GlobalAveragePool { input_shape: [c, h, w], .. } => {
                    reference::pool::global_average_forward([1, *c, *h, *w], input(0)?)
                }
                Op::MaxPool2x2 { name, input_shape: [c, h, w], bound, site_index, .. } => {
                    match sites.polynomial(*site_index)? {
                        None => reference::pool::max_pool_forward([1, *c, *h, *w], input(0)?).0,
                        Some(relu) => {
                            let scales = max_pool_scales(calibrated(name, *bound)?);
                            let sign = |u| relu.eval_sign(u);
                            reference::poly_relu::max_pool_forward_with(sign, scales, [1, *c, *h, *w], input(0)?)
                        }
                    }
                }
                Op::ZeroPadShortcut { input_shape: [c, h, w], output_shape, .. } => {
                    reference::shortcut::forward([1, *c, *h, *w], output_shape[0], input(0)?)
                }
                Op::Linear { weight, bias, in_features, .. } => {
                    reference::linear::forward(input(0)?, self.tensor(weight)?, self.tensor(bias)?, *in_features)
                }
            };
            values.insert(op.name(), output);
        }
        let last = self.layers.last().context("the export has no layers")?;
        Ok(values.remove(last.name()).expect("every op's output was stored"))
    }
}
