//! What the reference encrypted-inference runner (`interop/openfhe/infer`) pays for one
//! image of an HE-ready export, counted op by op on its packing:
//!
//! - one CKKS ciphertext per channel; a [C, H, W] map lies on the input's H0 x W0 grid in
//!   slots row-major, value (i, j) at slot g (i W0 + j) where the gap g doubles at each
//!   stride-2 convolution (no repacking, so no rotation for it); other slots hold zeros.
//! - conv2d: each input channel rotated once per tap off the centre (by g (dy W0 + dx));
//!   each (output, input, tap) one plaintext product by the weight times the tap's mask
//!   (in range and on the output grid, which also zeroes what a stride skips); 1 level.
//! - relu: each channel through OpenFHE's `EvalChebyshevSeries` component by component,
//!   then u q(u): the polynomial's OpenFHE depth and products (`poly::cost`).
//! - add: a scalar product per channel where `input_scales` scales an input (1 level on
//!   that input's path, which is shorter than the other).
//! - global_average_pool (a sum in this layout): log2 of the grid's slots rounded up to a
//!   power of two rotations per channel, adding the channel's slots into slot 0.
//! - linear: a scalar product per weight; 1 level.
//! - zero_pad_shortcut (option A): each input channel times the mask of the grid of twice
//!   its gap, scaled by `input_scales` (one plaintext product; 1 level), zero channels as
//!   no ciphertext at all.
//!
//! The depth is the longest path in levels: the multiplicative depth CKKS must provide.

use std::collections::HashMap;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::manifest::Manifest;
use crate::nn::Op;
use crate::poly::cost::EvaluatorCosts;

/// The runner's cost of one image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkCost {
    /// Levels along the critical path.
    pub depth: u32,
    pub rotations: usize,
    /// Ciphertext by plaintext (or scalar) products.
    pub plaintext_products: usize,
    /// Ciphertext by ciphertext products (the ReLUs').
    pub ciphertext_products: usize,
}

fn taps_off_centre(kernel: usize, padding: usize) -> usize {
    (0..kernel * kernel).filter(|&t| (t / kernel, t % kernel) != (padding, padding)).count()
}

/// Counts an HE-ready export's ops under the packing of the module doc.
pub fn network_cost(manifest: &Manifest) -> anyhow::Result<NetworkCost> {
    let [_, h0, w0] = manifest.input.shape;
    let polynomials = manifest.site_polynomials()?;
    let mut cost = NetworkCost { depth: 0, rotations: 0, plaintext_products: 0, ciphertext_products: 0 };
    let mut level: HashMap<&str, u32> = HashMap::from([(crate::nn::describe::INPUT, 0)]);
    for layer in &manifest.layers {
        let op = &layer.op;
        let input_level = |i: usize| -> anyhow::Result<u32> {
            let name = op.inputs()[i];
            level.get(name).copied().with_context(|| format!("{} reads {name} before it is computed", op.name()))
        };
        let scaled = |i: usize| layer.input_scales.as_ref().is_some_and(|s| s[i] != 1.0);
        let depth = match op {
            Op::Conv2d { input_shape, output_shape, kernel, padding, .. } => {
                cost.rotations += input_shape[0] * taps_off_centre(*kernel, *padding);
                cost.plaintext_products += output_shape[0] * input_shape[0] * kernel * kernel;
                input_level(0)? + 1
            }
            Op::Relu { site_index, shape, .. } => {
                let relu = EvaluatorCosts::of(&polynomials[*site_index as usize].he.degrees()).openfhe;
                cost.ciphertext_products += shape[0] * relu.products as usize;
                input_level(0)? + relu.depth
            }
            Op::Add { shape, .. } => {
                let mut depth = 0;
                for i in 0..2 {
                    cost.plaintext_products += if scaled(i) { shape[0] } else { 0 };
                    depth = depth.max(input_level(i)? + u32::from(scaled(i)));
                }
                depth
            }
            // Every other row and column is the input on a grid of twice the gap, masked to
            // it (one plaintext product per kept channel); added zero channels cost nothing.
            Op::ZeroPadShortcut { input_shape, .. } => {
                cost.plaintext_products += input_shape[0];
                input_level(0)? + 1
            }
            Op::GlobalAveragePool { input_shape: [c, h, w], .. } => {
                let summed = layer.input_scales.as_ref().is_some_and(|s| s[0] == (h * w) as f64);
                anyhow::ensure!(summed, "{}: the runner sums; export with --he", op.name());
                cost.rotations += c * (h0 * w0).next_power_of_two().trailing_zeros() as usize;
                input_level(0)?
            }
            Op::Linear { in_features, out_features, .. } => {
                cost.plaintext_products += in_features * out_features;
                input_level(0)? + 1
            }
            Op::MaxPool2x2 { .. } | Op::BatchNorm { .. } => {
                anyhow::bail!("{}: not in an HE-ready export", op.name())
            }
        };
        cost.depth = cost.depth.max(depth);
        level.insert(op.name(), depth);
    }
    Ok(cost)
}
