use crate::gpu::{Dispatch, Gpu, Result, Tensor};

use super::{length, same_shape};

/// y = max(x, 0).
pub fn forward(gpu: &Gpu, x: &Tensor, y: &Tensor) -> Result<Dispatch> {
    same_shape("relu forward", &[("x", x), ("y", y)])?;
    let kernel = gpu.kernel("relu", "forward", &[])?;
    gpu.dispatch_1d(&kernel, &[("params", &length(gpu, x)), ("x", x), ("y", y)], x.len())
}

/// dx = dy where x > 0, else 0.
pub fn backward(gpu: &Gpu, x: &Tensor, dy: &Tensor, dx: &Tensor) -> Result<Dispatch> {
    same_shape("relu backward", &[("x", x), ("dy", dy), ("dx", dx)])?;
    let kernel = gpu.kernel("relu", "backward", &[])?;
    gpu.dispatch_1d(&kernel, &[("params", &length(gpu, x)), ("x", x), ("dy", dy), ("dx", dx)], x.len())
}
