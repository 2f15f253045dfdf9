//! Fully connected layer with weight [out, in] (PyTorch layout) and bias [out].
//! `x` is [N, in], or any [N, ...] whose trailing dimensions multiply to `in` (a
//! feature map read flattened, e.g. [N, C, 1, 1] after global pooling); `dx` has the
//! shape of `x`.

use crate::gpu::{Bindable, Dispatch, Gpu, GpuError, Result, Tensor, UniformBuffer};

use super::{dim, expect_shape};

crate::uniform! {
    pub(crate) struct Params {
        batch: u32,
        in_features: u32,
        out_features: u32,
    }
}

/// Batch size, in and out features, read from `x` [N, ...] and `w` [out, in].
fn dims(op: &str, x: &Tensor, w: &Tensor) -> Result<(usize, usize, usize)> {
    let [out_features, in_features] = *w.shape() else {
        return Err(GpuError::shape(format!("{op}: w has shape {:?}, expected [out, in]", w.shape())));
    };
    let (batch, features) = match x.shape() {
        [batch, rest @ ..] if !rest.is_empty() => (*batch, rest.iter().product::<usize>()),
        _ => (0, 0),
    };
    if features != in_features {
        return Err(GpuError::shape(format!(
            "{op}: x has shape {:?}, expected [N, {in_features}] (or [N, ...] with {in_features} features) to match w {:?}",
            x.shape(),
            w.shape()
        )));
    }
    Ok((batch, in_features, out_features))
}

fn params(gpu: &Gpu, (batch, in_features, out_features): (usize, usize, usize)) -> UniformBuffer {
    gpu.uniform(&Params { batch: dim(batch), in_features: dim(in_features), out_features: dim(out_features) })
}

/// y[n, o] = b[o] + sum_i x[n, i] w[o, i]; y is [N, out].
pub fn forward(gpu: &Gpu, x: &Tensor, w: &Tensor, b: &Tensor, y: &Tensor) -> Result<Dispatch> {
    let op = "linear forward";
    let (batch, in_features, out_features) = dims(op, x, w)?;
    expect_shape(op, "b", b, &[out_features])?;
    expect_shape(op, "y", y, &[batch, out_features])?;
    let kernel = gpu.kernel("linear", "forward", &[])?;
    let params = params(gpu, (batch, in_features, out_features));
    let bindings: &[(&str, &dyn Bindable)] = &[("params", &params), ("x", x), ("w", w), ("b", b), ("y", y)];
    gpu.dispatch_1d(&kernel, bindings, batch * out_features)
}

/// dx = dy W: the gradient passed to the layer below.
pub fn backward_input(gpu: &Gpu, w: &Tensor, dy: &Tensor, dx: &Tensor) -> Result<Dispatch> {
    let op = "linear backward_input";
    let (batch, in_features, out_features) = dims(op, dx, w)?;
    expect_shape(op, "dy", dy, &[batch, out_features])?;
    let kernel = gpu.kernel("linear", "backward_input", &[])?;
    let params = params(gpu, (batch, in_features, out_features));
    gpu.dispatch_1d(&kernel, &[("params", &params), ("w", w), ("dy", dy), ("dx", dx)], batch * in_features)
}

/// dw = dy^T x and db = sum over the batch of dy, both written (not accumulated).
pub fn backward_params(gpu: &Gpu, x: &Tensor, dy: &Tensor, dw: &Tensor, db: &Tensor) -> Result<[Dispatch; 2]> {
    let op = "linear backward_params";
    let (batch, in_features, out_features) = dims(op, x, dw)?;
    expect_shape(op, "dy", dy, &[batch, out_features])?;
    expect_shape(op, "db", db, &[out_features])?;
    let params = params(gpu, (batch, in_features, out_features));
    let bindings: &[(&str, &dyn Bindable)] = &[("params", &params), ("x", x), ("dy", dy), ("dw", dw), ("db", db)];
    let weight = gpu.kernel("linear", "backward_weight", &[])?;
    let bias = gpu.kernel("linear", "backward_bias", &[])?;
    Ok([
        gpu.dispatch_1d(&weight, bindings, out_features * in_features)?,
        gpu.dispatch_1d(&bias, bindings, out_features)?,
    ])
}
