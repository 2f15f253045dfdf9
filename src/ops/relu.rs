use crate::gpu::{Bindable, Dispatch, Gpu, GpuError, Result, Tensor};

use super::{dim, per_element, same_shape, Length};

/// y = max(x, 0).
pub fn forward(gpu: &Gpu, x: &Tensor, y: &Tensor) -> Result<Dispatch> {
    same_shape("relu forward", &[("x", x), ("y", y)])?;
    let (entry, threads) = per_element(("forward", "forward_vec4"), x.len(), x.len());
    let kernel = gpu.kernel("relu", entry, &[])?;
    let bindings: [(&str, &dyn Bindable); 5] =
        [("params", &super::length(gpu, x)), ("x", x), ("y", y), ("x4", x), ("y4", y)];
    gpu.dispatch_1d(&kernel, &bindings, threads)
}

/// dx = dy where x > 0, else 0.
pub fn backward(gpu: &Gpu, x: &Tensor, dy: &Tensor, dx: &Tensor) -> Result<Dispatch> {
    same_shape("relu backward", &[("x", x), ("dy", dy), ("dx", dx)])?;
    let (entry, threads) = per_element(("backward", "backward_vec4"), x.len(), x.len());
    let kernel = gpu.kernel("relu", entry, &[])?;
    let bindings: [(&str, &dyn Bindable); 7] =
        [("params", &super::length(gpu, x)), ("x", x), ("dy", dy), ("dx", dx), ("x4", x), ("dy4", dy), ("dx4", dx)];
    gpu.dispatch_1d(&kernel, &bindings, threads)
}

/// The u32 words of `len` values stored as f16 for [`forward_f16_storage`]: whole fours
/// of halves, two to a word.
pub fn f16_storage_words(len: usize) -> usize {
    2 * len.div_ceil(4)
}

/// y = max(x, 0) for `len` values stored as f16, two per u32 element of `x` and `y`, four
/// an invocation (shaders/relu_f16.wgsl): the probe of what f16 storage would save. Needs
/// SHADER_F16.
pub fn forward_f16_storage(gpu: &Gpu, x: &Tensor, y: &Tensor, len: usize) -> Result<Dispatch> {
    same_shape("relu forward_f16_storage", &[("x", x), ("y", y)])?;
    let words = f16_storage_words(len);
    if x.len() != words {
        return Err(GpuError::shape(format!("relu forward_f16_storage: {len} halves need {words} words")));
    }
    if !gpu.has_f16() {
        return Err(GpuError::Device(format!("{} has no SHADER_F16", gpu.adapter_name())));
    }
    let kernel = gpu.kernel("relu_f16", "forward", &[])?;
    gpu.dispatch_1d(
        &kernel,
        &[("params", &gpu.uniform(&Length { len: dim(len) })), ("x", x), ("y", y)],
        len.div_ceil(4),
    )
}
