//! The option-A residual shortcut (`shaders/shortcut.wgsl`): He et al.'s parameter-free
//! projection, PyTorch's `F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, before, after))`. Every
//! other row and column of x (`[N, C, H, W] -> [N, C', ceil(H/2), ceil(W/2)]`) with zero
//! channels padded on both sides: `before = (C' - C) / 2` in front, the rest behind, which
//! is `planes // 4` on each side for the published `C' = 2C`.

use crate::gpu::{Bindable, Dispatch, Gpu, GpuError, Result, Tensor, UniformBuffer};

use super::{dim, expect_shape, per_row_run};

crate::uniform! {
    /// The shader's parameter block (`Params` in shortcut.wgsl).
    pub(crate) struct Params {
        batch: u32,
        channels: u32,
        height: u32,
        width: u32,
        out_channels: u32,
        out_height: u32,
        out_width: u32,
        before: u32,
    }
}

/// The output shape for an `[N, C, H, W]` input and `out_channels` >= C.
pub fn output_shape(x_shape: &[usize], out_channels: usize) -> Result<[usize; 4]> {
    match *x_shape {
        [n, c, h, w] if out_channels >= c => Ok([n, out_channels, h.div_ceil(2), w.div_ceil(2)]),
        _ => Err(GpuError::shape(format!(
            "option-A shortcut: input has shape {x_shape:?}, expected [N, C, H, W] with C <= {out_channels} \
             (it adds channels, it cannot remove them)"
        ))),
    }
}

/// The zero channels in front of x's when `channels` become `out_channels`.
pub fn channels_before(channels: usize, out_channels: usize) -> usize {
    (out_channels - channels) / 2
}

fn params(gpu: &Gpu, x_shape: &[usize], y_shape: [usize; 4]) -> UniformBuffer {
    let [n, c, out_c] = [x_shape[0], x_shape[1], y_shape[1]];
    gpu.uniform(&Params {
        batch: dim(n),
        channels: dim(c),
        height: dim(x_shape[2]),
        width: dim(x_shape[3]),
        out_channels: dim(out_c),
        out_height: dim(y_shape[2]),
        out_width: dim(y_shape[3]),
        before: dim(channels_before(c, out_c)),
    })
}

/// y = subsampled x with zero channels around it; every element of y is written.
pub fn forward(gpu: &Gpu, x: &Tensor, y: &Tensor) -> Result<Dispatch> {
    let out = checked_output("option-A shortcut forward", x.shape(), y)?;
    // Four outputs of a row read two aligned vec4s of x where x's rows hold fours too.
    let run = if x.shape()[3].is_multiple_of(4) { out[3] } else { 1 };
    let (entry, threads) = per_row_run(("forward", "forward_vec4"), y.len(), run, out[3]);
    let kernel = gpu.kernel("shortcut", entry, &[])?;
    let bindings: [(&str, &dyn Bindable); 5] =
        [("params", &params(gpu, x.shape(), out)), ("x", x), ("y", y), ("x4", x), ("y4", y)];
    gpu.dispatch_1d(&kernel, &bindings, threads)
}

/// dx = dy at the subsampled positions, 0 elsewhere; every element of dx is written.
pub fn backward(gpu: &Gpu, dy: &Tensor, dx: &Tensor) -> Result<Dispatch> {
    let out = checked_output("option-A shortcut backward", dx.shape(), dy)?;
    let width = dx.shape()[3];
    let (entry, threads) = per_row_run(("backward", "backward_vec4"), dx.len(), width, width);
    let kernel = gpu.kernel("shortcut", entry, &[])?;
    let bindings: [(&str, &dyn Bindable); 4] =
        [("params", &params(gpu, dx.shape(), out)), ("dy", dy), ("dx", dx), ("dx4", dx)];
    gpu.dispatch_1d(&kernel, &bindings, threads)
}

/// The output shape for `input_shape` and the channels of `output`, checked against `output`.
fn checked_output(op: &str, input_shape: &[usize], output: &Tensor) -> Result<[usize; 4]> {
    let out_channels = output.shape().get(1).copied().unwrap_or(0);
    let out = output_shape(input_shape, out_channels).map_err(|e| GpuError::shape(format!("{op}: {e}")))?;
    expect_shape(op, "the output", output, &out)?;
    Ok(out)
}
