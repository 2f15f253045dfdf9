//! Dropout (`shaders/dropout.wgsl`): in training each element is zeroed with probability
//! `rate` and the others scaled by 1 / (1 - rate), by a mask drawn from the counter-based
//! hash of (seed, step, stream) that noise training uses (`ops::noisy_relu::counter`), so a
//! run is reproducible and backward recomputes the forward's mask. Rate 0 is the identity,
//! which is what evaluation runs.

use crate::gpu::{Dispatch, Gpu, GpuError, Result, Tensor};

use super::{dim, same_shape};

crate::uniform! {
    /// The shader's parameter block (`Params` in dropout.wgsl).
    pub(crate) struct Params {
        len: u32,
        stream: u32,
        drop_below: u32,
        scale: f32,
    }
}

/// The random word below which an element is dropped: rate 2^32, rounded to the nearest.
pub fn drop_below(rate: f64) -> u32 {
    (rate * 2f64.powi(32)).round() as u32
}

/// 1 / (1 - rate): the scale of the kept elements, in f32 as the kernel applies it.
pub fn keep_scale(rate: f64) -> f32 {
    (1.0 / (1.0 - rate)) as f32
}

fn params(gpu: &Gpu, len: usize, stream: u32, rate: f64) -> Result<crate::gpu::UniformBuffer> {
    if !(0.0..1.0).contains(&rate) {
        return Err(GpuError::shape(format!("dropout: rate {rate} must be in [0, 1)")));
    }
    Ok(gpu.uniform(&Params { len: dim(len), stream, drop_below: drop_below(rate), scale: keep_scale(rate) }))
}

/// y = x * mask / (1 - rate) with the mask of `stream` at the (seed, step) in `counter`.
pub fn forward(gpu: &Gpu, counter: &Tensor, stream: u32, rate: f64, x: &Tensor, y: &Tensor) -> Result<Dispatch> {
    same_shape("dropout forward", &[("x", x), ("y", y)])?;
    let kernel = gpu.kernel("dropout", "forward", &[])?;
    let params = params(gpu, x.len(), stream, rate)?;
    gpu.dispatch_1d(&kernel, &[("params", &params), ("counter", counter), ("x", x), ("y", y)], x.len())
}

/// dx = dy * mask / (1 - rate), the forward's mask: keep the counter unchanged between them.
pub fn backward(gpu: &Gpu, counter: &Tensor, stream: u32, rate: f64, dy: &Tensor, dx: &Tensor) -> Result<Dispatch> {
    same_shape("dropout backward", &[("dy", dy), ("dx", dx)])?;
    let kernel = gpu.kernel("dropout", "backward", &[])?;
    let params = params(gpu, dy.len(), stream, rate)?;
    gpu.dispatch_1d(&kernel, &[("params", &params), ("counter", counter), ("dy", dy), ("dx", dx)], dy.len())
}
