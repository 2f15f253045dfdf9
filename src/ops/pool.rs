//! Pooling over NCHW (`shaders/pool.wgsl`): global average pooling `[N, C, H, W] -> [N, C]`
//! and 2x2 max pooling with stride 2 `[N, C, H, W] -> [N, C, H/2, W/2]` (floor: an odd
//! last row or column is dropped, as PyTorch's `MaxPool2d(2)`).
//!
//! Max pooling saves, for every output, the flat index into x of its window's maximum
//! (a u32 tensor of the output's shape); ties keep the first position in row-major
//! window order (top-left, top-right, bottom-left, bottom-right). Backward routes dy to
//! those indices and writes zero to every other element of dx. NaN inputs give
//! unspecified results.

use crate::gpu::{Dispatch, Gpu, GpuError, Result, Tensor, UniformBuffer};

use super::{dim, expect_shape};

crate::uniform! {
    /// The shader's parameter block (`Params` in pool.wgsl).
    pub(crate) struct Params {
        planes: u32,
        height: u32,
        width: u32,
        out_height: u32,
        out_width: u32,
    }
}

/// `[N, C, H, W]` of a 4-D input, or an error naming the op and tensor.
fn nchw(op: &str, name: &str, tensor: &Tensor) -> Result<[usize; 4]> {
    <[usize; 4]>::try_from(tensor.shape())
        .map_err(|_| GpuError::shape(format!("{op}: {name} has shape {:?}, expected [N, C, H, W]", tensor.shape())))
}

fn params(gpu: &Gpu, [n, c, h, w]: [usize; 4], [out_h, out_w]: [usize; 2]) -> UniformBuffer {
    gpu.uniform(&Params {
        planes: dim(n * c),
        height: dim(h),
        width: dim(w),
        out_height: dim(out_h),
        out_width: dim(out_w),
    })
}

/// y[n, c] = mean over (h, w) of x[n, c, h, w]; x is `[N, C, H, W]`, y `[N, C]`.
/// One invocation per (n, c) sums its H*W values: meant for the small final feature maps
/// of classification networks.
pub fn global_average_forward(gpu: &Gpu, x: &Tensor, y: &Tensor) -> Result<Dispatch> {
    const OP: &str = "global average pool forward";
    let [n, c, h, w] = nchw(OP, "x", x)?;
    expect_shape(OP, "y", y, &[n, c])?;
    let kernel = gpu.kernel("pool", "global_average_forward", &[])?;
    let params = params(gpu, [n, c, h, w], [1, 1]);
    gpu.dispatch_1d(&kernel, &[("params", &params), ("x", x), ("y", y)], n * c)
}

/// dx[n, c, h, w] = dy[n, c] / (H*W); dy is `[N, C]`, dx `[N, C, H, W]`.
pub fn global_average_backward(gpu: &Gpu, dy: &Tensor, dx: &Tensor) -> Result<Dispatch> {
    const OP: &str = "global average pool backward";
    let [n, c, h, w] = nchw(OP, "dx", dx)?;
    expect_shape(OP, "dy", dy, &[n, c])?;
    let kernel = gpu.kernel("pool", "global_average_backward", &[])?;
    let params = params(gpu, [n, c, h, w], [1, 1]);
    gpu.dispatch_1d(&kernel, &[("params", &params), ("dy", dy), ("dx", dx)], dx.len())
}

/// The output shape of 2x2 stride-2 max pooling of an `[N, C, H, W]` input:
/// `[N, C, H/2, W/2]`, rounded down. Fails where H or W is below 2 (no window fits).
pub fn max_pool_output_shape(x_shape: &[usize]) -> Result<[usize; 4]> {
    match *x_shape {
        [n, c, h, w] if h >= 2 && w >= 2 => Ok([n, c, h / 2, w / 2]),
        _ => Err(GpuError::shape(format!(
            "max pool 2x2: input has shape {x_shape:?}, expected [N, C, H, W] with H >= 2 and W >= 2"
        ))),
    }
}

/// y = 2x2 stride-2 max of x, argmax = x's flat index of each maximum (first on ties).
/// x is `[N, C, H, W]`; y (f32) and argmax (u32) are [`max_pool_output_shape`].
pub fn max_pool_forward(gpu: &Gpu, x: &Tensor, y: &Tensor, argmax: &Tensor) -> Result<Dispatch> {
    const OP: &str = "max pool forward";
    let dims = nchw(OP, "x", x)?;
    let out = max_pool_output_shape(x.shape())?;
    expect_shape(OP, "y", y, &out)?;
    expect_shape(OP, "argmax", argmax, &out)?;
    let kernel = gpu.kernel("pool", "max_forward", &[])?;
    let params = params(gpu, dims, [out[2], out[3]]);
    gpu.dispatch_1d(&kernel, &[("params", &params), ("x", x), ("y", y), ("argmax", argmax)], y.len())
}

/// dx[argmax[o]] = dy[o] for every output o, 0 elsewhere: every element of dx is written.
/// dx is `[N, C, H, W]`; argmax (from [`max_pool_forward`]) and dy are its pooled shape.
pub fn max_pool_backward(gpu: &Gpu, argmax: &Tensor, dy: &Tensor, dx: &Tensor) -> Result<Dispatch> {
    const OP: &str = "max pool backward";
    let dims = nchw(OP, "dx", dx)?;
    let out = max_pool_output_shape(dx.shape())?;
    expect_shape(OP, "argmax", argmax, &out)?;
    expect_shape(OP, "dy", dy, &out)?;
    let kernel = gpu.kernel("pool", "max_backward", &[])?;
    let params = params(gpu, dims, [out[2], out[3]]);
    gpu.dispatch_1d(&kernel, &[("params", &params), ("argmax", argmax), ("dy", dy), ("dx", dx)], dx.len())
}
