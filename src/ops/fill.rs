//! Sets every element of a tensor to one value, as a kernel so that it stays inside the
//! step's compute pass (zeroing gradients, resetting accumulated statistics).

use crate::gpu::{Dispatch, Gpu, Result, Tensor};

use super::dim;

/// tensor[i] = value (an f32 tensor).
pub fn fill(gpu: &Gpu, tensor: &Tensor, value: f32) -> Result<Dispatch> {
    fill_bits(gpu, tensor, value.to_bits())
}

/// tensor[i] = value (a u32 tensor).
pub fn fill_u32(gpu: &Gpu, tensor: &Tensor, value: u32) -> Result<Dispatch> {
    fill_bits(gpu, tensor, value)
}

crate::uniform! {
    pub(crate) struct Params {
        len: u32,
        value: u32,
    }
}

fn fill_bits(gpu: &Gpu, tensor: &Tensor, value: u32) -> Result<Dispatch> {
    let kernel = gpu.kernel("fill", "fill", &[])?;
    let params = gpu.uniform(&Params { len: dim(tensor.len()), value });
    gpu.dispatch_1d(&kernel, &[("params", &params), ("out", tensor)], tensor.len())
}
