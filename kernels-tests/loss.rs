use rand::Rng;
use sturdy::ops::loss::{Stats, CORRECT, LOSS_SUM, SAMPLES, STATS_LEN};
use sturdy::{ops, reference};

use crate::harness::*;

const U: f64 = F32_UNIT_ROUNDOFF;
/// Smallest normal f32: exp of a very negative argument may underflow or flush to zero,
/// an absolute error no relative bound covers.
const MIN_NORMAL: f64 = 1.1754943508222875e-38;
/// The per-element bounds below are first-order: the factor 2 covers the products of
/// roundings they leave out and the underflowed exp terms of the sum s (each below
/// MIN_NORMAL against s >= 1).
const SAFETY: f64 = 2.0;

/// Rows that are probability vectors: random positive weights, normalised, as f32.
fn soft_targets(case: &mut Case, batch: usize, classes: usize) -> (Vec<f32>, Vec<f64>) {
    let mut values = Vec::with_capacity(batch * classes);
    for _ in 0..batch {
        let weights: Vec<f64> = (0..classes).map(|_| case.rng.random_range(0.01..1.0)).collect();
        let total: f64 = weights.iter().sum();
        values.extend(weights.iter().map(|w| (w / total) as f32));
    }
    let wide = values.iter().map(|&v| v as f64).collect();
    (values, wide)
}

fn random_labels(case: &mut Case, batch: usize, classes: usize) -> Vec<u32> {
    (0..batch).map(|_| case.rng.random_range(0..classes as u32)).collect()
}

fn targets(case: &mut Case, batch: usize, classes: usize, soft: bool) -> (sturdy::gpu::Tensor, Vec<f64>) {
    let (values, wide) = if soft {
        soft_targets(case, batch, classes)
    } else {
        let wide = reference::loss::one_hot(&random_labels(case, batch, classes), classes);
        (wide.iter().map(|&v| v as f32).collect(), wide)
    };
    (gpu().upload(&[batch, classes], &values).unwrap(), wide)
}

fn norm(v: &[f64]) -> f64 {
    dot(v, v).sqrt()
}

/// Worst-case error of the computed lse = m + log(s), s = sum_k exp(z_k - m) >= 1, with
/// WGSL's accuracy: exp(x) within (3 + 2|x|) ulp, log within 3 ulp (absolute 2^-21 = 8u
/// on [0.5, 2]). Each exp term, with the rounding of its argument x = z - m <= 0, is off
/// by at most e^x (3 + 3|x|) u <= 3u, so s is off by 3Ku + (K - 1)u s <= 4Ku s; log turns
/// that into 4Ku absolute, plus its own 8u + 6u log K (3 ulp <= 6u |log s|); the final
/// addition rounds once, u |lse|.
fn lse_error(row: &[f64]) -> (f64, f64) {
    let classes = row.len() as f64;
    let max = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let lse = max + row.iter().map(|z| (z - max).exp()).sum::<f64>().ln();
    (lse, (4.0 * classes + 8.0 + 6.0 * classes.ln() + lse.abs()) * U)
}

/// Per-sample bounds: loss_n = sum_k t_k (lse - z_k) has K nonnegative terms, each
/// rounded twice (subtraction, product) and summed with K - 1 roundings, so
/// (K + 1)u loss_n, plus lse's error times sum_k t_k.
fn loss_errors(logits: &[f64], targets: &[f64], classes: usize) -> Vec<f64> {
    let losses = reference::loss::per_sample(logits, targets, classes);
    logits
        .chunks(classes)
        .zip(targets.chunks(classes))
        .zip(&losses)
        .map(|((z, t), loss)| SAFETY * (t.iter().sum::<f64>() * lse_error(z).1 + (classes as f64 + 1.0) * U * loss))
        .collect()
}

/// Per-element bounds of dlogits = (p - t) / N with p = exp(z - m) / s: p is off by
/// (3 + 3|z - m|) u p from exp, 4Ku p from s and u p from the division; the subtraction
/// and the division by N round once each (2u |d|); MIN_NORMAL covers an underflowed p.
fn gradient_errors(logits: &[f64], targets: &[f64], classes: usize) -> Vec<f64> {
    let batch = (logits.len() / classes) as f64;
    let gradient = reference::loss::gradient(logits, targets, classes);
    logits
        .chunks(classes)
        .flat_map(|z| {
            let (lse, _) = lse_error(z);
            let max = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            z.iter()
                .map(move |&zk| (zk - lse).exp() * (4.0 + 3.0 * (zk - max).abs() + 4.0 * classes as f64) * U / batch)
        })
        .zip(&gradient)
        .map(|(p_error, d)| SAFETY * (p_error + 2.0 * U * d.abs() + MIN_NORMAL))
        .collect()
}

/// ||error|| <= ||per-element bounds||, as a bound on the relative error against `expected`.
fn relative(errors: &[f64], expected: &[f64]) -> f64 {
    norm(errors) / norm(expected)
}

#[test]
fn loss_gradient_and_stats_match_reference() {
    // (N, K, logit range, soft targets): batch 1 and 5, odd class counts, more rows than
    // the summary's workgroup, many classes, and logits of 80 and 1000, whose exp
    // overflows f32 (e^88.7 does) unless the max is subtracted.
    let cases = [
        (1, 3, 3.0, true),
        (5, 10, 3.0, false),
        (5, 7, 3.0, true),
        (7, 2, 3.0, true),
        (130, 7, 3.0, false),
        (3, 100, 3.0, true),
        (5, 10, 80.0, true),
        (5, 10, 80.0, false),
        (6, 5, 1000.0, true),
    ];
    for (batch, classes, range, soft) in cases {
        let mut case = Case::new(format!("loss N {batch} K {classes} logits ±{range} soft {soft}"));
        let (logits, z) = case.tensor(&[batch, classes], -range, range);
        let (targets, t) = targets(&mut case, batch, classes, soft);
        let (losses, dlogits, stats) = (poisoned(&[batch]), poisoned(&[batch, classes]), poisoned(&[STATS_LEN]));
        let loss_only = poisoned(&[batch]);
        let forward = ops::loss::forward(gpu(), &logits, &targets, &losses, Some(&dlogits)).unwrap();
        let forward_only = ops::loss::forward(gpu(), &logits, &targets, &loss_only, None).unwrap();
        let summarise = ops::loss::summarise(gpu(), &logits, &targets, &losses, &stats, Stats::Write).unwrap();
        gpu().run([&forward, &forward_only, &summarise]).unwrap();

        let expected = reference::loss::per_sample(&z, &t, classes);
        let errors = loss_errors(&z, &t, classes);
        assert_close(&case, "losses", &read(&losses), &expected, relative(&errors, &expected));
        assert_close(&case, "losses without gradient", &read(&loss_only), &expected, relative(&errors, &expected));

        let expected_gradient = reference::loss::gradient(&z, &t, classes);
        let bound = relative(&gradient_errors(&z, &t, classes), &expected_gradient);
        assert_close(&case, "dlogits", &read(&dlogits), &expected_gradient, bound);

        // The sum of N nonnegative losses: (N - 1)u of the sum from its additions, plus
        // the per-sample errors.
        let stats = read(&stats);
        let loss_sum: f64 = expected.iter().sum();
        let bound = (errors.iter().sum::<f64>() + SAFETY * batch as f64 * U * loss_sum) / loss_sum;
        assert_close(&case, "loss sum", &stats[LOSS_SUM..=LOSS_SUM], &[loss_sum], bound);
        // Argmax over the same f32 logits on both sides: the count is exact.
        let correct = reference::loss::correct(&z, &t, classes) as f64;
        assert_eq!(stats[CORRECT], correct, "{}: correct count", case.context());
        assert_eq!(stats[SAMPLES], batch as f64, "{}: sample count", case.context());
    }
}

/// L = mean loss: the GPU's dlogits must be its finite-difference gradient.
#[test]
fn gradient_matches_finite_differences() {
    for (batch, classes) in [(1, 3), (5, 4), (2, 7)] {
        let mut case = Case::new(format!("loss gradient N {batch} K {classes}"));
        let (logits, z) = case.tensor(&[batch, classes], -3.0, 3.0);
        let (targets, t) = targets(&mut case, batch, classes, true);
        let (losses, dlogits) = (poisoned(&[batch]), poisoned(&[batch, classes]));
        let forward = ops::loss::forward(gpu(), &logits, &targets, &losses, Some(&dlogits)).unwrap();
        gpu().run([&forward]).unwrap();

        // Step 1e-4: the truncation error step^2/6 |d3L/dz3| (<= 0.1/N for softmax) and
        // the f64 rounding 1e-16 |L| / step are both below 1e-10 per element.
        let numeric = numerical_gradient(|z| reference::loss::mean(z, &t, classes), &z, 1e-4);
        let difference_error = 1e-10 * (numeric.len() as f64).sqrt() / norm(&numeric);
        let bound = relative(&gradient_errors(&z, &t, classes), &numeric) + difference_error;
        assert_close(&case, "dlogits", &read(&dlogits), &numeric, bound);
    }
}

#[test]
fn stats_accumulate_until_written() {
    let (batch, classes) = (5, 7);
    let mut case = Case::new("loss stats accumulate");
    let (logits, z) = case.tensor(&[batch, classes], -3.0, 3.0);
    let (targets, t) = targets(&mut case, batch, classes, true);
    let losses = poisoned(&[batch]);
    let stats = gpu().zeros(&[STATS_LEN]).unwrap();
    let forward = ops::loss::forward(gpu(), &logits, &targets, &losses, None).unwrap();
    let accumulate = ops::loss::summarise(gpu(), &logits, &targets, &losses, &stats, Stats::Accumulate).unwrap();
    let write = ops::loss::summarise(gpu(), &logits, &targets, &losses, &stats, Stats::Write).unwrap();
    let loss_sum: f64 = reference::loss::per_sample(&z, &t, classes).iter().sum();
    let correct = reference::loss::correct(&z, &t, classes) as f64;
    let errors: f64 = loss_errors(&z, &t, classes).iter().sum();
    // Each pass adds a sum bounded as in the test above; three passes, and adding them up rounds twice more.
    let bound = 3.0 * (errors + SAFETY * (batch as f64 + 2.0) * U * loss_sum) / loss_sum;
    for steps in 1..=3 {
        gpu().run([&forward, &accumulate]).unwrap();
        let stats = read(&stats);
        let k = steps as f64;
        assert_close(&case, "accumulated loss sum", &stats[LOSS_SUM..=LOSS_SUM], &[k * loss_sum], bound);
        assert_eq!((stats[CORRECT], stats[SAMPLES]), (k * correct, k * batch as f64), "{}", case.context());
    }
    gpu().run([&write]).unwrap();
    let stats = read(&stats);
    assert_close(&case, "written loss sum", &stats[LOSS_SUM..=LOSS_SUM], &[loss_sum], bound);
    assert_eq!((stats[CORRECT], stats[SAMPLES]), (correct, batch as f64), "{}", case.context());
}

#[test]
fn one_hot_matches_reference_and_counts_correct_labels() {
    for (batch, classes) in [(1, 3), (5, 7), (130, 10)] {
        let mut case = Case::new(format!("one_hot N {batch} K {classes}"));
        let mut labels = random_labels(&mut case, batch, classes);
        // A label out of range must give a zero row, not a write into the next row.
        if batch > 1 {
            labels[0] = classes as u32;
        }
        let labels_gpu = gpu().upload(&[batch], &labels).unwrap();
        let targets = poisoned(&[batch, classes]);
        // Whole-number logits tie often, which tests the first-index rule of argmax.
        let values: Vec<f32> = case.uniform(batch * classes, -3.0, 3.0).0.iter().map(|v| v.round()).collect();
        let z: Vec<f64> = values.iter().map(|&v| v as f64).collect();
        let logits = gpu().upload(&[batch, classes], &values).unwrap();
        let (losses, stats) = (poisoned(&[batch]), poisoned(&[STATS_LEN]));
        let one_hot = ops::loss::one_hot(gpu(), &labels_gpu, &targets).unwrap();
        let forward = ops::loss::forward(gpu(), &logits, &targets, &losses, None).unwrap();
        let summarise = ops::loss::summarise(gpu(), &logits, &targets, &losses, &stats, Stats::Write).unwrap();
        gpu().run([&one_hot, &forward, &summarise]).unwrap();
        // Zeros and ones: exact.
        let expected = reference::loss::one_hot(&labels, classes);
        assert_close(&case, "targets", &read(&targets), &expected, 0.0);
        let correct = reference::loss::correct(&z, &expected, classes);
        assert_eq!(read(&stats)[CORRECT], correct as f64, "{}: correct count", case.context());
        // The out-of-range label's zero row is padding: it is not a sample.
        let samples = reference::loss::samples(&expected, classes);
        assert_eq!(samples, batch - (batch > 1) as usize);
        assert_eq!(read(&stats)[SAMPLES], samples as f64, "{}: sample count", case.context());
    }
}

#[test]
fn mismatched_shapes_are_rejected() {
    let zeros = |shape: &[usize]| gpu().zeros(shape).unwrap();
    let (logits, targets, losses) = (zeros(&[5, 7]), zeros(&[5, 7]), zeros(&[5]));
    let expect_error = |result: sturdy::gpu::Result<sturdy::gpu::Dispatch>, needles: &[&str]| {
        let error = result.err().expect("shape mismatch must fail").to_string();
        assert!(needles.iter().all(|n| error.contains(n)), "{error}");
    };
    let forward = |l: &_, t: &_, s: &_, d: Option<&_>| ops::loss::forward(gpu(), l, t, s, d);
    expect_error(
        forward(&zeros(&[35]), &targets, &losses, None),
        &["cross-entropy forward", "logits", "[35]", "[N, K]"],
    );
    expect_error(forward(&logits, &zeros(&[5, 6]), &losses, None), &["targets", "[5, 6]", "[5, 7]"]);
    expect_error(forward(&logits, &targets, &zeros(&[4]), None), &["losses", "[4]", "[5]"]);
    expect_error(forward(&logits, &targets, &losses, Some(&zeros(&[7, 5]))), &["dlogits", "[7, 5]", "[5, 7]"]);
    let summarise = ops::loss::summarise(gpu(), &logits, &targets, &losses, &zeros(&[2]), Stats::Write);
    expect_error(summarise, &["cross-entropy summarise", "stats", "[2]", "[3]"]);
    expect_error(ops::loss::one_hot(gpu(), &zeros(&[4]), &targets), &["one_hot", "labels", "[4]", "[5]"]);
    expect_error(ops::loss::one_hot(gpu(), &losses, &zeros(&[5, 7, 1])), &["one_hot", "targets", "[N, K]"]);
}
