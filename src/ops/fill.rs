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

fn fill_bits(gpu: &Gpu, tensor: &Tensor, bits: u32) -> Result<Dispatch> {
    let kernel = gpu.kernel("fill", "fill", &[])?;
    let params = gpu.uniform(&[dim(tensor.len()), bits]);
    gpu.dispatch_1d(&kernel, &[(0, &params), (1, tensor.buffer())], tensor.len())
}
