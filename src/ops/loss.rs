//! Softmax cross-entropy with soft targets: logits and targets [N, K], rows of targets
//! are probability vectors (one-hot for labels, mixtures for Mixup). The loss is the
//! mean over the batch of -sum_k t log softmax(z), computed with log-sum-exp.

use crate::gpu::{Bindable, Dispatch, Gpu, GpuError, Result, Tensor, UniformBuffer};

use super::{dim, expect_shape};

/// Where [`summarise`] puts each number in its `stats` tensor of shape [`STATS_LEN`].
pub const LOSS_SUM: usize = 0;
pub const CORRECT: usize = 1;
pub const SAMPLES: usize = 2;
pub const STATS_LEN: usize = 3;

/// Whether [`summarise`] overwrites `stats` with this batch's numbers or adds them to
/// running totals (an epoch's, reset with `ops::fill`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stats {
    Write,
    Accumulate,
}

crate::uniform! {
    pub(crate) struct Params {
        batch: u32,
        classes: u32,
        accumulate: u32,
    }
}

/// Batch size and classes, read from `logits` [N, K], which `targets` must match.
fn dims(op: &str, logits: &Tensor, targets: &Tensor) -> Result<(usize, usize)> {
    let [batch, classes] = *logits.shape() else {
        return Err(GpuError::shape(format!("{op}: logits has shape {:?}, expected [N, K]", logits.shape())));
    };
    expect_shape(op, "targets", targets, &[batch, classes])?;
    Ok((batch, classes))
}

fn params(gpu: &Gpu, batch: usize, classes: usize, stats: Stats) -> UniformBuffer {
    gpu.uniform(&Params { batch: dim(batch), classes: dim(classes), accumulate: (stats == Stats::Accumulate) as u32 })
}

/// losses[n] = -sum_k t[n, k] log softmax(z[n])_k, and with `dlogits` also the gradient
/// of the mean loss, dlogits = (softmax(z) - t) / N (written, not accumulated).
pub fn forward(
    gpu: &Gpu,
    logits: &Tensor,
    targets: &Tensor,
    losses: &Tensor,
    dlogits: Option<&Tensor>,
) -> Result<Dispatch> {
    let op = "cross-entropy forward";
    let (batch, classes) = dims(op, logits, targets)?;
    expect_shape(op, "losses", losses, &[batch])?;
    let entry = match dlogits {
        Some(dlogits) => {
            expect_shape(op, "dlogits", dlogits, &[batch, classes])?;
            "forward_backward"
        }
        None => "forward",
    };
    let kernel = gpu.kernel("loss", entry, &[])?;
    let params = params(gpu, batch, classes, Stats::Write);
    let mut bindings: Vec<(&str, &dyn Bindable)> =
        vec![("params", &params), ("logits", logits), ("targets", targets), ("losses", losses)];
    bindings.extend(dlogits.map(|d| ("dlogits", d as &dyn Bindable)));
    gpu.dispatch_1d(&kernel, &bindings, batch)
}

/// stats = [sum of losses, number of rows whose logits' argmax is the targets' argmax,
/// number of rows] (indices [`LOSS_SUM`], [`CORRECT`], [`SAMPLES`]), written or
/// accumulated. Rows whose targets are all zero (padding of a last partial batch, made
/// by [`one_hot`] from a label >= K) count nowhere. Ties go to the first index. One
/// workgroup; record it after [`forward`].
pub fn summarise(
    gpu: &Gpu,
    logits: &Tensor,
    targets: &Tensor,
    losses: &Tensor,
    stats: &Tensor,
    mode: Stats,
) -> Result<Dispatch> {
    let op = "cross-entropy summarise";
    let (batch, classes) = dims(op, logits, targets)?;
    expect_shape(op, "losses", losses, &[batch])?;
    expect_shape(op, "stats", stats, &[STATS_LEN])?;
    let kernel = gpu.kernel("loss", "summarise", &[])?;
    let params = params(gpu, batch, classes, mode);
    let bindings: &[(&str, &dyn Bindable)] =
        &[("params", &params), ("logits", logits), ("targets", targets), ("losses", losses), ("stats", stats)];
    gpu.dispatch(&kernel, bindings, [1, 1, 1])
}

/// targets[n, k] = 1 where labels[n] == k, else 0; `labels` is u32 [N], targets f32
/// [N, K]. A label >= K gives a row of zeros: loaders must check their labels.
pub fn one_hot(gpu: &Gpu, labels: &Tensor, targets: &Tensor) -> Result<Dispatch> {
    let op = "one_hot";
    let [batch, classes] = *targets.shape() else {
        return Err(GpuError::shape(format!("{op}: targets has shape {:?}, expected [N, K]", targets.shape())));
    };
    expect_shape(op, "labels", labels, &[batch])?;
    let kernel = gpu.kernel("loss", "one_hot", &[])?;
    let params = params(gpu, batch, classes, Stats::Write);
    gpu.dispatch_1d(&kernel, &[("params", &params), ("labels", labels), ("one_hot_targets", targets)], batch * classes)
}
