use rand::Rng;
use sturdy::ops::mixup::{self, MixupSampler};
use sturdy::reference;

use crate::harness::*;
use crate::noisy_relu::assert_within;

const U: f64 = F32_UNIT_ROUNDOFF;

/// lambda a + (1 - lambda) b in f32 from an f32 lambda: 1 - lambda, both products and the
/// sum round once each, so |error| <= 4u (lambda |a| + (1 - lambda) |b|) to first order;
/// 5u covers the second-order terms.
fn mix_bound(lambda: f64, a: f64, b: f64) -> f64 {
    5.0 * U * (lambda * a.abs() + (1.0 - lambda) * b.abs())
}

/// Targets [n, k]: one-hot rows for even n, soft rows (positive, summing to 1) for odd n.
fn targets(case: &mut Case, batch: usize, classes: usize) -> Vec<f32> {
    let mut t = vec![0.0f32; batch * classes];
    for (n, row) in t.chunks_mut(classes).enumerate() {
        if n % 2 == 0 {
            row[case.rng.random_range(0..classes)] = 1.0;
        } else {
            let weights: Vec<f64> = (0..classes).map(|_| case.rng.random_range(0.1..1.0)).collect();
            let total: f64 = weights.iter().sum();
            for (value, w) in row.iter_mut().zip(&weights) {
                *value = (w / total) as f32;
            }
        }
    }
    t
}

fn check(shape: &[usize], classes: usize, alpha: f64) {
    let mut case = Case::new(format!("mixup {shape:?} classes {classes} alpha {alpha}"));
    let batch = shape[0];
    let (images, images_ref) = case.tensor(shape, -1.0, 1.0);
    let t = targets(&mut case, batch, classes);
    let t_ref: Vec<f64> = t.iter().map(|&v| v as f64).collect();
    let target_tensor = gpu().upload(&[batch, classes], &t).unwrap();
    let (lambda, perm) = (gpu().zeros(&[1]).unwrap(), gpu().zeros(&[batch]).unwrap());
    let (mixed_images, mixed_targets) = (poisoned(shape), poisoned(&[batch, classes]));
    let dispatch =
        mixup::forward(gpu(), &lambda, &perm, &images, &target_tensor, &mixed_images, &mixed_targets).unwrap();
    let sampler = MixupSampler::new(alpha, case.seed).unwrap();
    // Two steps through the same dispatch: the small buffers are rewritten in between.
    for step in 0..2 {
        let l = sampler.upload(gpu(), step, &lambda, &perm).unwrap() as f64;
        let order = gpu().download::<u32>(&perm).unwrap();
        gpu().run([&dispatch]).unwrap();
        let image_len = images_ref.len() / batch;
        let expected = reference::mixup::mix(&images_ref, image_len, &order, l);
        let partner = |i: usize, len: usize, x: &[f64]| x[order[i / len] as usize * len + i % len];
        assert_within(&case, "mixed images", &read(&mixed_images), &expected, |i| {
            mix_bound(l, images_ref[i], partner(i, image_len, &images_ref))
        });
        let expected = reference::mixup::mix(&t_ref, classes, &order, l);
        let mixed = read(&mixed_targets);
        assert_within(&case, "mixed targets", &mixed, &expected, |i| {
            mix_bound(l, t_ref[i], partner(i, classes, &t_ref))
        });
        // Rows still sum to 1: the inputs' rows do up to their rounding (k terms of
        // relative u each, so (k + 1) u), and mixing adds at most mix_bound summed over
        // the row, 5u (lambda + 1 - lambda) times the row sums.
        for (n, row) in mixed.chunks(classes).enumerate() {
            let sum: f64 = row.iter().sum();
            let bound = (classes as f64 + 1.0) * U + 5.0 * U * 1.01;
            assert!((sum - 1.0).abs() <= bound, "{}: row {n} sums to {sum}", case.context());
        }
    }
}

#[test]
fn mixup_matches_reference_and_keeps_target_rows_summing_to_one() {
    check(&[1, 3, 7, 5], 10, 0.4);
    check(&[5, 3, 7, 5], 7, 0.4);
    check(&[4, 1, 9, 9], 3, 1.0);
    check(&[67, 2], 5, 2.0);
}

#[test]
fn disabled_mixup_copies_inputs_exactly() {
    let mut case = Case::new("mixup disabled");
    let shape = [5, 3, 7, 5];
    let (images, images_ref) = case.tensor(&shape, -1.0, 1.0);
    let t = targets(&mut case, 5, 4);
    let target_tensor = gpu().upload(&[5, 4], &t).unwrap();
    let (lambda, perm) = (gpu().zeros(&[1]).unwrap(), gpu().zeros(&[5]).unwrap());
    let (mixed_images, mixed_targets) = (poisoned(&shape), poisoned(&[5, 4]));
    let dispatch =
        mixup::forward(gpu(), &lambda, &perm, &images, &target_tensor, &mixed_images, &mixed_targets).unwrap();
    let sampler = MixupSampler::new(0.0, case.seed).unwrap();
    assert!(!sampler.enabled());
    assert_eq!(sampler.upload(gpu(), 3, &lambda, &perm).unwrap(), 1.0);
    gpu().run([&dispatch]).unwrap();
    assert_eq!(read(&mixed_images), images_ref, "{}", case.context());
    assert_eq!(gpu().download::<f32>(&mixed_targets).unwrap(), t, "{}", case.context());
}

#[test]
fn sampler_draws_seeded_permutations_and_beta_lambdas() {
    let case = Case::new("mixup sampler");
    let batch = 37;
    let mut perm = vec![0u32; batch];
    let identity: Vec<u32> = (0..batch as u32).collect();
    let disabled = MixupSampler::new(0.0, case.seed).unwrap();
    for step in 0..5 {
        assert_eq!(disabled.draw(step, &mut perm), 1.0, "{}", case.context());
        assert_eq!(perm, identity, "{}", case.context());
    }
    for alpha in [0.2, 1.0, 4.0] {
        let sampler = MixupSampler::new(alpha, case.seed).unwrap();
        let steps = 4000;
        let mut lambdas = Vec::with_capacity(steps);
        for step in 0..steps as u64 {
            let lambda = sampler.draw(step, &mut perm);
            assert!((0.0..=1.0).contains(&lambda), "{}: alpha {alpha}: lambda {lambda}", case.context());
            let mut sorted = perm.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, identity, "{}: not a permutation", case.context());
            lambdas.push(lambda as f64);
        }
        // Beta(a, a): mean 1/2, variance 1 / (4 (2a + 1)); the sample mean within 5 SE.
        let mean = lambdas.iter().sum::<f64>() / steps as f64;
        let se = (1.0 / (4.0 * (2.0 * alpha + 1.0)) / steps as f64).sqrt();
        assert!((mean - 0.5).abs() <= 5.0 * se, "{}: alpha {alpha}: mean lambda {mean}", case.context());
        // Seeded: a step repeats exactly, also from a fresh sampler (a resumed run);
        // other steps and other seeds draw differently.
        let mut again = vec![0u32; batch];
        let first = sampler.draw(17, &mut perm);
        let resumed = MixupSampler::new(alpha, case.seed).unwrap();
        assert_eq!((resumed.draw(17, &mut again), &again), (first, &perm), "{}", case.context());
        assert_ne!((sampler.draw(18, &mut again), &again), (first, &perm), "{}", case.context());
        let other = MixupSampler::new(alpha, case.seed ^ 1).unwrap();
        assert_ne!((other.draw(17, &mut again), &again), (first, &perm), "{}", case.context());
    }
    for bad in [-1.0, f64::NAN, f64::INFINITY] {
        assert!(MixupSampler::new(bad, 0).is_err(), "alpha {bad} must be rejected");
    }
}

#[test]
fn mismatched_shapes_are_rejected() {
    let images = gpu().zeros(&[4, 3, 2, 2]).unwrap();
    let targets = gpu().zeros(&[5, 10]).unwrap();
    let (lambda, perm) = (gpu().zeros(&[1]).unwrap(), gpu().zeros(&[4]).unwrap());
    let out = gpu().zeros(&[4, 3, 2, 2]).unwrap();
    let error = mixup::forward(gpu(), &lambda, &perm, &images, &targets, &out, &targets).err().expect("must fail");
    assert!(error.to_string().contains("[5, 10]"), "{error}");
    let targets = gpu().zeros(&[4, 10]).unwrap();
    let short = gpu().zeros(&[3]).unwrap();
    let error = mixup::forward(gpu(), &lambda, &short, &images, &targets, &out, &targets).err().expect("must fail");
    assert!(error.to_string().contains("perm"), "{error}");
}
