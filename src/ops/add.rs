use crate::gpu::{Dispatch, Gpu, Result, Tensor};

use super::{dim, same_shape};

/// out = a + b.
pub fn forward(gpu: &Gpu, a: &Tensor, b: &Tensor, out: &Tensor) -> Result<Dispatch> {
    same_shape("add", &[("a", a), ("b", b), ("out", out)])?;
    let kernel = gpu.kernel("add", "forward", &[])?;
    let params = gpu.uniform(&dim(a.len()));
    gpu.dispatch_1d(&kernel, &[(0, &params), (1, a.buffer()), (2, b.buffer()), (3, out.buffer())], a.len())
}
