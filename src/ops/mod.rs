//! One file per op: each builds the [`Dispatch`]es of its kernels in `shaders/`,
//! bound to the tensors of one layer, after checking their shapes.
//!
//! [`Dispatch`]: crate::gpu::Dispatch

pub mod add;
pub mod batchnorm;
pub mod calibrate;
pub mod conv2d;
pub mod dropout;
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
pub mod shortcut;
pub mod variants;

use crate::gpu::{Gpu, GpuError, Result, Tensor, UniformBuffer, UniformMirror};

/// Every shader uniform and the Rust struct that mirrors it. Binding checks each pair when
/// a dispatch is made; `kernels-tests/shaders.rs` checks them all at once, and that no
/// shader uniform is missing here.
pub fn uniform_mirrors() -> Vec<UniformMirror> {
    vec![
        UniformMirror::of::<Length>("add", "params"),
        UniformMirror::of::<batchnorm::Params>("batchnorm", "params"),
        UniformMirror::of::<calibrate::Params>("calibrate", "params"),
        UniformMirror::of::<conv2d::Params>("conv2d", "params"),
        UniformMirror::of::<conv2d::implicit_gemm::Packing>("conv2d", "packing"),
        UniformMirror::of::<conv2d::implicit_gemm::WeightPacking>("conv2d", "weight_packing"),
        UniformMirror::of::<dropout::Params>("dropout", "params"),
        UniformMirror::of::<fill::Params>("fill", "params"),
        UniformMirror::of::<gemm::GemmLayout>("gemm", "params"),
        UniformMirror::of::<gemm::Chunks>("gemm", "chunks"),
        UniformMirror::of::<gemm::MatrixPacking>("gemm", "matrix"),
        UniformMirror::of::<gemm::GemmLayout>("gemm_subgroup", "params"),
        UniformMirror::of::<linear::Params>("linear", "params"),
        UniformMirror::of::<loss::Params>("loss", "params"),
        UniformMirror::of::<mixup::Params>("mixup", "params"),
        UniformMirror::of::<noisy_relu::Params>("noisy_relu", "params"),
        UniformMirror::of::<poly_relu::Params>("poly_relu", "params"),
        UniformMirror::of::<pool::Params>("pool", "params"),
        UniformMirror::of::<Length>("relu", "params"),
        UniformMirror::of::<Length>("relu_f16", "params"),
        UniformMirror::of::<sgd::Params>("sgd", "params"),
        UniformMirror::of::<shortcut::Params>("shortcut", "params"),
    ]
}

/// The entry point of a per-element kernel over `len` values and the threads it runs: its
/// `vec4` form, four consecutive values per thread through the shader's vec4 views of the
/// same buffers, where the runs of values a thread's four must not straddle (channel
/// planes, or the whole tensor) are `run` long, a multiple of 4; else `plain`, one value
/// per thread. lavapipe scalarises storage loads one per instruction, so a vec4 load moves
/// four values for the price of one (BENCHMARKS.md: 3x on batch norm's normalisation).
pub(crate) fn per_element(entries: (&'static str, &'static str), len: usize, run: usize) -> (&'static str, usize) {
    let (plain, vec4) = entries;
    match run.is_multiple_of(4) {
        true => (vec4, len / 4),
        false => (plain, len),
    }
}

/// Threads of a kernel over `len` values in rows of `width` that takes a run of up to
/// four values of a row per thread (`row_run` in shaders/common/grid.wgsl): the scalar
/// twins of vec4 kernels whose rows are not whole fours. Where they are, as many as the
/// vec4 form's fours.
pub(crate) fn row_runs(len: usize, width: usize) -> usize {
    len / width * width.div_ceil(4)
}

/// The entry point of a per-element kernel whose forms both take four values of a row of
/// `width` per thread, the scalar one a run of up to four: the vec4 form where [`per_element`]
/// picks it for `run`, and the threads ([`row_runs`]).
pub(crate) fn per_row_run(
    entries: (&'static str, &'static str),
    len: usize,
    run: usize,
    width: usize,
) -> (&'static str, usize) {
    (per_element(entries, len, run).0, row_runs(len, width))
}

crate::uniform! {
    /// The uniform of the elementwise shaders (`Params` in relu.wgsl and add.wgsl).
    pub(crate) struct Length {
        len: u32,
    }
}

/// The uniform holding `tensor`'s element count.
pub(crate) fn length(gpu: &Gpu, tensor: &Tensor) -> UniformBuffer {
    gpu.uniform(&Length { len: dim(tensor.len()) })
}

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

/// Checks a per-site table (`[sites]`, one value per activation site) that `site` indexes.
pub(crate) fn expect_site_table(op: &str, name: &str, site: u32, per_site: &Tensor) -> Result<()> {
    if per_site.shape().len() == 1 && (site as usize) < per_site.len() {
        Ok(())
    } else {
        Err(GpuError::shape(format!(
            "{op}: {name} has shape {:?}, expected [sites] with more than {site} sites",
            per_site.shape()
        )))
    }
}

/// A tensor dimension as the u32 that kernels index with.
pub(crate) fn dim(value: usize) -> u32 {
    u32::try_from(value).expect("tensor dimensions fit in u32: tensors are bounded by the binding-size limit")
}
