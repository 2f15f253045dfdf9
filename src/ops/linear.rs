//! Fully connected layer with weight [out, in] (PyTorch layout) and bias [out].
//! `x` is [N, in], or any [N, ...] whose trailing dimensions multiply to `in` (a
//! feature map read flattened, e.g. [N, C, 1, 1] after global pooling); `dx` has the
//! shape of `x`.
//!
//! Variants ([`Variant`], chosen per op and shape by `ops::variants::choose`): the direct
//! kernels of `shaders/linear.wgsl`, or the products as GEMMs over packed matrices
//! (`gemm::matrix_product`) with either loader. The bias gradient is always direct.

use crate::gpu::{Bindable, Dispatch, Gpu, GpuError, Result, Tensor, UniformBuffer};

use super::gemm::{matrices_fit, matrix_product, MatrixView};
use super::variants::{Product, Variant};
use super::{dim, expect_shape};

/// `product`'s (A, B) views of its operands given batch N, in and out features: forward
/// y = x W^T, backward_input dx = dy W, backward_weight dw = dy^T x.
fn views(product: Product, n: usize, i: usize, o: usize) -> [MatrixView; 2] {
    match product {
        Product::Forward => [MatrixView::rows(n, i), MatrixView::transposed(i, o)],
        Product::BackwardInput => [MatrixView::rows(n, o), MatrixView::rows(o, i)],
        Product::BackwardWeight => [MatrixView::transposed(o, n), MatrixView::rows(n, i)],
    }
}

/// The name `ops::variants::choose` measures and caches `product` of a layer of `batch` x
/// `in_features` -> `out_features` under (backward_weight is [`backward_params`]).
pub fn variant_key(product: Product, batch: usize, in_features: usize, out_features: usize) -> String {
    format!("linear {} N{batch} {in_features}->{out_features}", product.name())
}

/// The variants of `product` that apply to a layer of `batch` x `in_features` ->
/// `out_features`: the direct kernels, then each GEMM loader whose packed operands fit.
pub fn applicable(gpu: &Gpu, product: Product, batch: usize, in_features: usize, out_features: usize) -> Vec<Variant> {
    let [a, b] = views(product, batch, in_features, out_features);
    Variant::applicable(gpu, |loader| matrices_fit(gpu, loader, a, b))
}

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

/// The direct kernel `entry` over `threads` invocations.
fn direct(
    gpu: &Gpu,
    entry: &'static str,
    dims: (usize, usize, usize),
    tensors: &[(&str, &Tensor)],
    threads: usize,
) -> Result<Dispatch> {
    let kernel = gpu.kernel("linear", entry, &[])?;
    let params = params(gpu, dims);
    let mut bindings: Vec<(&str, &dyn Bindable)> = vec![("params", &params)];
    bindings.extend(tensors.iter().map(|&(name, tensor)| (name, tensor as &dyn Bindable)));
    gpu.dispatch_1d(&kernel, &bindings, threads)
}

/// y[n, o] = b[o] + sum_i x[n, i] w[o, i]; y is [N, out].
pub fn forward(gpu: &Gpu, variant: Variant, x: &Tensor, w: &Tensor, b: &Tensor, y: &Tensor) -> Result<Vec<Dispatch>> {
    let op = "linear forward";
    let dims @ (batch, in_features, out_features) = dims(op, x, w)?;
    expect_shape(op, "b", b, &[out_features])?;
    expect_shape(op, "y", y, &[batch, out_features])?;
    let tensors = [("x", x), ("w", w), ("b", b), ("y", y)];
    match variant {
        Variant::Direct => Ok(vec![direct(gpu, "forward", dims, &tensors, batch * out_features)?]),
        Variant::Gemm(loader) => {
            let [a, bv] = views(Product::Forward, batch, in_features, out_features);
            let mut dispatches = matrix_product(gpu, loader, ["linear a", "linear b"], (x, a), (w, bv), y, false)?;
            dispatches.push(direct(gpu, "add_bias", dims, &tensors, batch * out_features)?);
            Ok(dispatches)
        }
    }
}

/// dx = dy W: the gradient passed to the layer below.
pub fn backward_input(gpu: &Gpu, variant: Variant, w: &Tensor, dy: &Tensor, dx: &Tensor) -> Result<Vec<Dispatch>> {
    let op = "linear backward_input";
    let dims @ (batch, in_features, out_features) = dims(op, dx, w)?;
    expect_shape(op, "dy", dy, &[batch, out_features])?;
    match variant {
        Variant::Direct => {
            let tensors = [("w", w), ("dy", dy), ("dx", dx)];
            Ok(vec![direct(gpu, "backward_input", dims, &tensors, batch * in_features)?])
        }
        Variant::Gemm(loader) => {
            let [a, b] = views(Product::BackwardInput, batch, in_features, out_features);
            matrix_product(gpu, loader, ["linear a", "linear b"], (dy, a), (w, b), dx, false)
        }
    }
}

/// dw = dy^T x and db = sum over the batch of dy, both written (not accumulated).
pub fn backward_params(
    gpu: &Gpu,
    variant: Variant,
    x: &Tensor,
    dy: &Tensor,
    dw: &Tensor,
    db: &Tensor,
) -> Result<Vec<Dispatch>> {
    let op = "linear backward_params";
    let dims @ (batch, in_features, out_features) = dims(op, x, dw)?;
    expect_shape(op, "dy", dy, &[batch, out_features])?;
    expect_shape(op, "db", db, &[out_features])?;
    let mut dispatches = match variant {
        Variant::Direct => {
            let tensors = [("x", x), ("dy", dy), ("dw", dw)];
            vec![direct(gpu, "backward_weight", dims, &tensors, out_features * in_features)?]
        }
        Variant::Gemm(loader) => {
            let [a, b] = views(Product::BackwardWeight, batch, in_features, out_features);
            matrix_product(gpu, loader, ["linear a", "linear b"], (dy, a), (x, b), dw, true)?
        }
    };
    dispatches.push(direct(gpu, "backward_bias", dims, &[("dy", dy), ("db", db)], out_features)?);
    Ok(dispatches)
}
