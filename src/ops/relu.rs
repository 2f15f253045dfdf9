use crate::gpu::{Dispatch, Gpu, GpuError, Result, Tensor};

use super::{dim, same_shape, Length};

/// y = max(x, 0).
pub fn forward(gpu: &Gpu, x: &Tensor, y: &Tensor) -> Result<Dispatch> {
    same_shape("relu forward", &[("x", x), ("y", y)])?;
    let kernel = gpu.kernel("relu", "forward", &[])?;
    gpu.dispatch_1d(&kernel, &[("params", &super::length(gpu, x)), ("x", x), ("y", y)], x.len())
}

/// dx = dy where x > 0, else 0.
pub fn backward(gpu: &Gpu, x: &Tensor, dy: &Tensor, dx: &Tensor) -> Result<Dispatch> {
    same_shape("relu backward", &[("x", x), ("dy", dy), ("dx", dx)])?;
    let kernel = gpu.kernel("relu", "backward", &[])?;
    gpu.dispatch_1d(&kernel, &[("params", &super::length(gpu, x)), ("x", x), ("dy", dy), ("dx", dx)], x.len())
}

/// y = max(x, 0) for `len` values stored as f16, two per u32 element of `x` and `y`
/// (shaders/relu_f16.wgsl): the probe of what f16 storage would save. Needs SHADER_F16.
pub fn forward_f16_storage(gpu: &Gpu, x: &Tensor, y: &Tensor, len: usize) -> Result<Dispatch> {
    same_shape("relu forward_f16_storage", &[("x", x), ("y", y)])?;
    if x.len() != len.div_ceil(2) {
        return Err(GpuError::shape(format!("relu forward_f16_storage: {len} halves need {} words", len.div_ceil(2))));
    }
    if !gpu.has_f16() {
        return Err(GpuError::Device(format!("{} has no SHADER_F16", gpu.adapter_name())));
    }
    let kernel = gpu.kernel("relu_f16", "forward", &[])?;
    gpu.dispatch_1d(&kernel, &[("params", &gpu.uniform(&Length { len: dim(len) })), ("x", x), ("y", y)], x.len())
}
