//! A network's inference graph as data: each layer describes the operations it runs in
//! evaluation mode, with the checkpoint names of the tensors they read. `sturdy export`
//! folds batch norm away and writes the result for HE and MPC pipelines, so the graph
//! comes from the layers the GPU runs, not from a second description of each model.

use serde::{Deserialize, Serialize};

/// The value the network's first layer reads.
pub const INPUT: &str = "input";

/// One operation of the inference graph. Its output is a value named after the op
/// (`name`); `input` / `inputs` name earlier ops' outputs or [`INPUT`]. Shapes are per
/// image, without the batch dimension: `[C, H, W]` for images, `[F]` for vectors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// y[o,i,j] = bias[o] + sum_{c,u,v} weight[o,c,u,v] x[c, i*stride+u-padding, j*stride+v-padding],
    /// zero outside the input; weight has shape [output_shape[0], input_shape[0], kernel, kernel].
    Conv2d {
        name: String,
        input: String,
        weight: String,
        /// Shape [output_shape[0]]; None for the bias-free convolutions of training.
        bias: Option<String>,
        input_shape: [usize; 3],
        output_shape: [usize; 3],
        kernel: usize,
        stride: usize,
        padding: usize,
    },
    /// y = weight (x - running_mean) / sqrt(running_var + eps) + bias, per channel.
    BatchNorm {
        name: String,
        input: String,
        weight: String,
        bias: String,
        running_mean: String,
        running_var: String,
        eps: f32,
        shape: Vec<usize>,
    },
    /// An activation site: ReLU in the backbone, x (1 + p(x / bound)) / 2 in a PANN.
    Relu {
        name: String,
        input: String,
        /// The site's index in the network's site tables (`Network::site_list` order).
        site_index: u32,
        /// B: None until calibrated.
        bound: Option<f32>,
        shape: Vec<usize>,
    },
    /// Element-wise sum (the residual connection).
    Add { name: String, inputs: [String; 2], shape: Vec<usize> },
    /// [C, H, W] -> [C]: the mean of each channel.
    GlobalAveragePool { name: String, input: String, input_shape: [usize; 3] },
    /// 2x2 windows, stride 2, floor on odd sizes: the maximum of each window in the
    /// backbone; in a PANN max(max(a, b), max(c, d)) with each max the polynomial max of
    /// the site's bound (`ops::poly_relu::max_pool_forward`).
    MaxPool2x2 {
        name: String,
        input: String,
        input_shape: [usize; 3],
        output_shape: [usize; 3],
        /// The site's index in the network's site tables.
        site_index: u32,
        /// B, which bounds |x| of the pool's input: None until calibrated.
        bound: Option<f32>,
    },
    /// The option-A residual shortcut: y[o, i, j] = x[o - before, 2i, 2j] where
    /// 0 <= o - before < C, else 0, with before = (C' - C) / 2 (rounded down) zero channels
    /// in front and the rest behind; output [C', ceil(H / 2), ceil(W / 2)]. PyTorch's
    /// `F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, before, C' - C - before))`.
    ZeroPadShortcut { name: String, input: String, input_shape: [usize; 3], output_shape: [usize; 3] },
    /// y = weight x + bias, x flattened row-major; weight [out_features, in_features].
    Linear { name: String, input: String, weight: String, bias: String, in_features: usize, out_features: usize },
}

impl Op {
    /// The op's name, which is also the name of its output value.
    pub fn name(&self) -> &str {
        match self {
            Op::Conv2d { name, .. }
            | Op::BatchNorm { name, .. }
            | Op::Relu { name, .. }
            | Op::Add { name, .. }
            | Op::GlobalAveragePool { name, .. }
            | Op::MaxPool2x2 { name, .. }
            | Op::ZeroPadShortcut { name, .. }
            | Op::Linear { name, .. } => name,
        }
    }

    /// The values the op reads.
    pub fn inputs(&self) -> Vec<&str> {
        match self {
            Op::Add { inputs, .. } => inputs.iter().map(String::as_str).collect(),
            Op::Conv2d { input, .. }
            | Op::BatchNorm { input, .. }
            | Op::Relu { input, .. }
            | Op::GlobalAveragePool { input, .. }
            | Op::MaxPool2x2 { input, .. }
            | Op::ZeroPadShortcut { input, .. }
            | Op::Linear { input, .. } => vec![input],
        }
    }

    /// Renames the values the op reads through `rename` (e.g. a folded batch norm's
    /// output to its convolution's).
    pub fn rename_inputs(&mut self, rename: impl Fn(&str) -> Option<String>) {
        let apply = |value: &mut String| {
            if let Some(new) = rename(value) {
                *value = new;
            }
        };
        match self {
            Op::Add { inputs, .. } => inputs.iter_mut().for_each(apply),
            Op::Conv2d { input, .. }
            | Op::BatchNorm { input, .. }
            | Op::Relu { input, .. }
            | Op::GlobalAveragePool { input, .. }
            | Op::MaxPool2x2 { input, .. }
            | Op::ZeroPadShortcut { input, .. }
            | Op::Linear { input, .. } => apply(input),
        }
    }
}

/// A per-image shape from a batched one.
pub fn per_image(shape: &[usize]) -> Vec<usize> {
    shape[1..].to_vec()
}

/// A batched NCHW shape's per-image [C, H, W].
pub fn per_image_chw(shape: &[usize]) -> [usize; 3] {
    [shape[1], shape[2], shape[3]]
}
