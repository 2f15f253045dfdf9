//! Softmax cross-entropy with soft targets; logits and targets [N, K], row-major.

/// log sum_k exp(z_k), shifted by the max so it cannot overflow.
fn log_sum_exp(row: &[f64]) -> f64 {
    let max = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    max + row.iter().map(|z| (z - max).exp()).sum::<f64>().ln()
}

/// losses[n] = -sum_k t[n, k] log softmax(z[n])_k.
pub fn per_sample(logits: &[f64], targets: &[f64], classes: usize) -> Vec<f64> {
    logits
        .chunks(classes)
        .zip(targets.chunks(classes))
        .map(|(z, t)| {
            let lse = log_sum_exp(z);
            z.iter().zip(t).map(|(z, t)| t * (lse - z)).sum()
        })
        .collect()
}

/// The mean of `per_sample`: the loss that training minimises.
pub fn mean(logits: &[f64], targets: &[f64], classes: usize) -> f64 {
    let losses = per_sample(logits, targets, classes);
    losses.iter().sum::<f64>() / losses.len() as f64
}

/// d mean / d logits = (softmax(z) - t) / N.
pub fn gradient(logits: &[f64], targets: &[f64], classes: usize) -> Vec<f64> {
    let batch = (logits.len() / classes) as f64;
    logits
        .chunks(classes)
        .zip(targets.chunks(classes))
        .flat_map(|(z, t)| {
            let lse = log_sum_exp(z);
            z.iter().zip(t).map(move |(z, t)| ((z - lse).exp() - t) / batch)
        })
        .collect()
}

/// Index of the first largest element.
pub fn argmax(row: &[f64]) -> usize {
    (1..row.len()).fold(0, |best, k| if row[k] > row[best] { k } else { best })
}

/// Whether a target row counts: all-zero rows pad a last partial batch.
fn counts(targets: &[f64]) -> bool {
    targets.iter().sum::<f64>() > 0.0
}

/// How many counted rows have argmax z == argmax t.
pub fn correct(logits: &[f64], targets: &[f64], classes: usize) -> usize {
    logits.chunks(classes).zip(targets.chunks(classes)).filter(|(z, t)| counts(t) && argmax(z) == argmax(t)).count()
}

/// How many rows count (have non-zero targets).
pub fn samples(targets: &[f64], classes: usize) -> usize {
    targets.chunks(classes).filter(|t| counts(t)).count()
}

/// One-hot rows [N, K] from labels; a label >= K gives a zero row.
pub fn one_hot(labels: &[u32], classes: usize) -> Vec<f64> {
    labels.iter().flat_map(|&label| (0..classes).map(move |k| if k == label as usize { 1.0 } else { 0.0 })).collect()
}
