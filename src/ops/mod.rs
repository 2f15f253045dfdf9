//! One file per op: each builds the [`Dispatch`]es of its kernels in `shaders/`,
//! bound to the tensors of one layer, after checking their shapes.
//!
//! [`Dispatch`]: crate::gpu::Dispatch

pub mod add;
pub mod batchnorm;
pub mod calibrate;
pub mod conv2d;
pub mod fill;
pub mod gemm;
pub mod linear;
pub mod loss;
pub mod matmul;
pub mod mixup;
pub mod noisy_relu;
pub mod poly_relu;
pub mod pool;
pub mod relu;
pub mod sgd;

use crate::gpu::{GpuError, Result, Tensor};

/// Fails unless every tensor has the shape of the first.
pub(crate) fn same_shape(op: &str, tensors: &[(&str, &Tensor)]) -> Result<()> {
    let (first_name, first) = tensors[0];
    match tensors.iter().find(|(_, t)| t.shape() != first.shape()) {
        Some((name, t)) => Err(GpuError::shape(format!(
            "{op}: {name} has shape {:?}, {first_name} has {:?}; they must match",
            t.shape(),
            first.shape()
        ))),
        None => Ok(()),
    }
}

/// Fails unless `tensor` has exactly `expected` as its shape.
pub(crate) fn expect_shape(op: &str, name: &str, tensor: &Tensor, expected: &[usize]) -> Result<()> {
    if tensor.shape() == expected {
        Ok(())
    } else {
        Err(GpuError::shape(format!("{op}: {name} has shape {:?}, expected {expected:?}", tensor.shape())))
    }
}

/// A tensor dimension as the u32 that kernels index with.
pub(crate) fn dim(value: usize) -> u32 {
    u32::try_from(value).expect("tensor dimensions fit in u32: tensors are bounded by the binding-size limit")
}
