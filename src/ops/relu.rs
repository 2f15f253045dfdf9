use crate::gpu::{Dispatch, Gpu, Result, Tensor};

use super::{dim, same_shape};

fn params(gpu: &Gpu, x: &Tensor) -> wgpu::Buffer {
    gpu.uniform(&dim(x.len()))
}

/// y = max(x, 0).
pub fn forward(gpu: &Gpu, x: &Tensor, y: &Tensor) -> Result<Dispatch> {
    same_shape("relu forward", &[("x", x), ("y", y)])?;
    let kernel = gpu.kernel("relu", "forward", &[])?;
    gpu.dispatch_1d(&kernel, &[(0, &params(gpu, x)), (1, x.buffer()), (2, y.buffer())], x.len())
}

/// dx = dy where x > 0, else 0.
pub fn backward(gpu: &Gpu, x: &Tensor, dy: &Tensor, dx: &Tensor) -> Result<Dispatch> {
    same_shape("relu backward", &[("x", x), ("dy", dy), ("dx", dx)])?;
    let kernel = gpu.kernel("relu", "backward", &[])?;
    gpu.dispatch_1d(&kernel, &[(0, &params(gpu, x)), (1, x.buffer()), (3, dy.buffer()), (4, dx.buffer())], x.len())
}
