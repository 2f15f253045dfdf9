//! Batch normalisation over `[batch, channels, spatial]` (NCHW with spatial = H*W), in f64.

use crate::ops::batchnorm::BatchNormShape;

/// Indices in x of channel c's batch * spatial values.
fn channel_indices(shape: BatchNormShape, c: usize) -> impl Iterator<Item = usize> {
    (0..shape.batch).flat_map(move |n| (0..shape.spatial).map(move |s| (n * shape.channels + c) * shape.spatial + s))
}

fn channel_of(shape: BatchNormShape, i: usize) -> usize {
    (i / shape.spatial) % shape.channels
}

/// Per-channel batch statistics.
pub struct BatchStats {
    pub mean: Vec<f64>,
    /// Biased: the mean of squared deviations (divides by M = batch * spatial).
    pub var: Vec<f64>,
}

pub fn batch_stats(shape: BatchNormShape, x: &[f64]) -> BatchStats {
    let m = shape.count() as f64;
    let mean: Vec<f64> =
        (0..shape.channels).map(|c| channel_indices(shape, c).map(|i| x[i]).sum::<f64>() / m).collect();
    let var = (0..shape.channels)
        .map(|c| channel_indices(shape, c).map(|i| (x[i] - mean[c]).powi(2)).sum::<f64>() / m)
        .collect();
    BatchStats { mean, var }
}

/// 1 / sqrt(var + eps) per channel.
pub fn inv_std(var: &[f64], eps: f64) -> Vec<f64> {
    var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect()
}

/// y = gamma * (x - mean) * inv_std + beta, per channel.
pub fn normalize(
    shape: BatchNormShape,
    x: &[f64],
    gamma: &[f64],
    beta: &[f64],
    mean: &[f64],
    inv_std: &[f64],
) -> Vec<f64> {
    x.iter()
        .enumerate()
        .map(|(i, &v)| {
            let c = channel_of(shape, i);
            gamma[c] * (v - mean[c]) * inv_std[c] + beta[c]
        })
        .collect()
}

/// Training forward output: y with batch statistics.
pub fn forward_train(shape: BatchNormShape, x: &[f64], gamma: &[f64], beta: &[f64], eps: f64) -> Vec<f64> {
    let stats = batch_stats(shape, x);
    normalize(shape, x, gamma, beta, &stats.mean, &inv_std(&stats.var, eps))
}

/// Inference forward: y with running statistics.
pub fn forward_inference(
    shape: BatchNormShape,
    x: &[f64],
    gamma: &[f64],
    beta: &[f64],
    running_mean: &[f64],
    running_var: &[f64],
    eps: f64,
) -> Vec<f64> {
    normalize(shape, x, gamma, beta, running_mean, &inv_std(running_var, eps))
}

/// One running-statistics update (PyTorch's): running = (1 - m) * running + m * batch,
/// with the unbiased variance var * M / (M - 1) for the running variance.
pub fn update_running(
    shape: BatchNormShape,
    stats: &BatchStats,
    momentum: f64,
    running_mean: &mut [f64],
    running_var: &mut [f64],
) {
    let m = shape.count() as f64;
    for c in 0..shape.channels {
        running_mean[c] = (1.0 - momentum) * running_mean[c] + momentum * stats.mean[c];
        running_var[c] = (1.0 - momentum) * running_var[c] + momentum * stats.var[c] * m / (m - 1.0);
    }
}

/// Gradients of training forward.
pub struct Gradients {
    pub dx: Vec<f64>,
    pub dgamma: Vec<f64>,
    pub dbeta: Vec<f64>,
}

/// Backward of training forward, with the batch mean and inv_std it used:
/// dbeta = sum(dy), dgamma = sum(dy * xhat), dx = gamma * inv_std / M * (M dy - dbeta - xhat dgamma).
pub fn backward(
    shape: BatchNormShape,
    x: &[f64],
    dy: &[f64],
    gamma: &[f64],
    mean: &[f64],
    inv_std: &[f64],
) -> Gradients {
    let m = shape.count() as f64;
    let xhat = |i: usize| (x[i] - mean[channel_of(shape, i)]) * inv_std[channel_of(shape, i)];
    let dbeta: Vec<f64> = (0..shape.channels).map(|c| channel_indices(shape, c).map(|i| dy[i]).sum()).collect();
    let dgamma: Vec<f64> =
        (0..shape.channels).map(|c| channel_indices(shape, c).map(|i| dy[i] * xhat(i)).sum()).collect();
    let dx = (0..x.len())
        .map(|i| {
            let c = channel_of(shape, i);
            gamma[c] * inv_std[c] / m * (m * dy[i] - dbeta[c] - xhat(i) * dgamma[c])
        })
        .collect();
    Gradients { dx, dgamma, dbeta }
}
