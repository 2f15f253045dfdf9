//! The HE-ready layout (`sturdy export --he`): the scalars a CKKS evaluator would otherwise
//! spend levels on are folded into the weights, so every site receives u = x / B and
//! returns u q(u) = ReLU(x) / B (`poly::he`).
//!
//! Every value v of the graph is held divided by a scale s_v (plain value = s_v x HE-ready
//! value): 1 for the input and the logits, B for a site's input and output, and for a
//! convolution or linear layer whatever its reader needs (the B of the ReLU it feeds, or of
//! the ReLU after the residual sum it feeds). A weighted layer from s_in to s_out computes
//! W s_in / s_out and b / s_out: for a convolution B_in / B_out, for the classifier
//! B / (H W), the global average pooling becoming a sum. Where a value cannot carry the
//! scale its reader needs (an identity shortcut: a ReLU's output into a residual sum), the
//! reader multiplies it by `input_scales` (a scalar product off the critical path). An
//! option-A shortcut (subsampling and zero channels) carries its reader's scale itself.
//! Max pooling sites (VGG) have no HE-ready form yet.

use std::collections::HashMap;

use anyhow::{bail, Context};

use super::manifest::Layer;
use crate::checkpoint::Checkpoint;
use crate::nn::describe::INPUT;
use crate::nn::Op;

/// The scale each value must have for its readers, where a reader asks for one.
fn required_scales(layers: &[Layer], bounds: &[f32]) -> HashMap<String, f64> {
    let mut required: HashMap<String, f64> = HashMap::new();
    for layer in layers.iter().rev() {
        match &layer.op {
            Op::Relu { input, site_index, .. } => {
                required.insert(input.clone(), bounds[*site_index as usize] as f64);
            }
            Op::Add { name, inputs, .. } => {
                let scale = required.get(name).copied().unwrap_or(1.0);
                for input in inputs {
                    required.insert(input.clone(), scale);
                }
            }
            _ => {}
        }
    }
    required
}

/// `tensor` of `weights` multiplied by `factor` (in f64, rounded once to f32).
fn scale_tensor(weights: &mut Checkpoint, tensor: &str, factor: f64) -> anyhow::Result<()> {
    let t = weights.tensors.iter_mut().find(|t| t.name == tensor).with_context(|| format!("no tensor {tensor}"))?;
    t.data.iter_mut().for_each(|v| *v = (*v as f64 * factor) as f32);
    Ok(())
}

/// The plain graph `layers` (batch norm folded, `bounds` by site index) in the HE-ready
/// layout, its weights rescaled in `weights` (module doc).
pub fn fold_bounds(layers: &[Layer], weights: &mut Checkpoint, bounds: &[f32]) -> anyhow::Result<Vec<Layer>> {
    let required = required_scales(layers, bounds);
    let mut scale: HashMap<String, f64> = HashMap::from([(INPUT.to_string(), 1.0)]);
    let mut folded = Vec::with_capacity(layers.len());
    for layer in layers {
        let op = &layer.op;
        let name = op.name().to_string();
        let input_scale = |i: usize| -> anyhow::Result<f64> {
            let input = op.inputs()[i];
            scale.get(input).copied().with_context(|| format!("{name} reads {input} before it is computed"))
        };
        let wanted = required.get(&name).copied().unwrap_or(1.0);
        let (own, input_scales) = match op {
            Op::Conv2d { weight, bias, .. } => {
                scale_tensor(weights, weight, input_scale(0)? / wanted)?;
                let bias = bias.as_deref().with_context(|| format!("{name} has no bias: fold batch norm first"))?;
                scale_tensor(weights, bias, 1.0 / wanted)?;
                (wanted, None)
            }
            Op::Linear { weight, bias, .. } => {
                scale_tensor(weights, weight, input_scale(0)? / wanted)?;
                scale_tensor(weights, bias, 1.0 / wanted)?;
                (wanted, None)
            }
            Op::Relu { site_index, .. } => {
                let bound = bounds[*site_index as usize] as f64;
                if input_scale(0)? != bound {
                    bail!("{name} reads a value that no weighted layer can divide by its bound");
                }
                (bound, None)
            }
            Op::Add { .. } => {
                let scales = vec![input_scale(0)? / wanted, input_scale(1)? / wanted];
                (wanted, scales.iter().any(|&s| s != 1.0).then_some(scales))
            }
            // Subsampling and zero channels take the scale their reader wants through
            // `input_scales`, which the runner folds into the mask it multiplies by anyway.
            Op::ZeroPadShortcut { .. } => {
                let factor = input_scale(0)? / wanted;
                (wanted, (factor != 1.0).then_some(vec![factor]))
            }
            Op::GlobalAveragePool { input_shape: [_, h, w], .. } => {
                // The mean of the input times H W: the sum, whose 1 / (H W) the classifier takes.
                let area = (h * w) as f64;
                (input_scale(0)? / area, Some(vec![area]))
            }
            Op::MaxPool2x2 { .. } => bail!(
                "{name} is a max pooling site, which has no HE-ready form yet: export without --he \
                 (the plain layout evaluates it)"
            ),
            Op::BatchNorm { .. } => bail!("{name}: fold batch norm before the bounds"),
        };
        scale.insert(name, own);
        folded.push(Layer { op: op.clone(), input_scales });
    }
    Ok(folded)
}
