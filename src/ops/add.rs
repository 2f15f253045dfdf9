use crate::gpu::{Bindable, Dispatch, Gpu, Result, Tensor};

use super::{length, per_element, same_shape};

/// out = a + b.
pub fn forward(gpu: &Gpu, a: &Tensor, b: &Tensor, out: &Tensor) -> Result<Dispatch> {
    same_shape("add", &[("a", a), ("b", b), ("out", out)])?;
    let (entry, threads) = per_element(("forward", "forward_vec4"), a.len(), a.len());
    let kernel = gpu.kernel("add", entry, &[])?;
    let bindings: [(&str, &dyn Bindable); 7] =
        [("params", &length(gpu, a)), ("a", a), ("b", b), ("out", out), ("a4", a), ("b4", b), ("out4", out)];
    gpu.dispatch_1d(&kernel, &bindings, threads)
}
