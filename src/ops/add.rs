use crate::gpu::{Dispatch, Gpu, Result, Tensor};

use super::{length, same_shape};

/// out = a + b.
pub fn forward(gpu: &Gpu, a: &Tensor, b: &Tensor, out: &Tensor) -> Result<Dispatch> {
    sum(gpu, a, b, out, false)
}

/// out = max(a + b, 0): a residual sum and the ReLU after it in one pass.
pub fn forward_relu(gpu: &Gpu, a: &Tensor, b: &Tensor, out: &Tensor) -> Result<Dispatch> {
    sum(gpu, a, b, out, true)
}

fn sum(gpu: &Gpu, a: &Tensor, b: &Tensor, out: &Tensor, relu: bool) -> Result<Dispatch> {
    same_shape("add", &[("a", a), ("b", b), ("out", out)])?;
    let kernel = gpu.kernel("add", "forward", &[("RELU", f64::from(u8::from(relu)))])?;
    gpu.dispatch_1d(&kernel, &[("params", &length(gpu, a)), ("a", a), ("b", b), ("out", out)], a.len())
}
