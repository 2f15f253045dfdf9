use crate::gpu::{Dispatch, Gpu, Result, Tensor};

use super::{length, same_shape};

/// out = a + b.
pub fn forward(gpu: &Gpu, a: &Tensor, b: &Tensor, out: &Tensor) -> Result<Dispatch> {
    same_shape("add", &[("a", a), ("b", b), ("out", out)])?;
    let kernel = gpu.kernel("add", "forward", &[])?;
    gpu.dispatch_1d(&kernel, &[("params", &length(gpu, a)), ("a", a), ("b", b), ("out", out)], a.len())
}
