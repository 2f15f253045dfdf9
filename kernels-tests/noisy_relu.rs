use rand::Rng;
use sturdy::gpu::Tensor;
use sturdy::ops::batchnorm::ActivationInput;
use sturdy::ops::noisy_relu::{self as op, Distribution, Form, NoiseConfig, Region, Site};
use sturdy::poly::ReluApprox;
use sturdy::reference::noisy_relu as reference;

use crate::harness::*;

const U: f64 = F32_UNIT_ROUNDOFF;

const FORMS: [Form; 3] = [Form::Additive, Form::Multiplicative, Form::Replay];
const DISTRIBUTIONS: [Distribution; 2] = [Distribution::Uniform, Distribution::Gaussian];
const REGIONS: [Region; 4] = [Region::Negative, Region::Large, Region::Both, Region::All];

/// Asserts |actual - expected| <= bound elementwise (and every element finite).
#[track_caller]
pub fn assert_within(case: &Case, what: &str, actual: &[f64], expected: &[f64], bound: impl Fn(usize) -> f64) {
    assert_eq!(actual.len(), expected.len(), "{}: {what}: length", case.context());
    for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        assert!(a.is_finite(), "{}: {what}: element {i} is {a} (unwritten or overflowed)", case.context());
        let b = bound(i);
        assert!((a - e).abs() <= b, "{}: {what}[{i}] = {a:e}, reference {e:e}, bound {b:e}", case.context());
    }
}

/// Absolute error bound of the kernel's z against the f64 reference's z, from the same
/// uniforms. Uniform: sqrt(3) (2u - 1) has an exact 2u - 1, then the f32 constant and the
/// product round once each: 2u |z|. Gaussian, from Vulkan's precision requirements (the
/// loosest of the three backends): cos has absolute error 2^-11 on [-pi, pi] (why the angle
/// lies there), so r cos(t) errs by r 2^-11; log has absolute error 2^-21 near 1 and 3 ulp
/// elsewhere, so r^2 = -2 log(u1) errs by at most 2^-20 + 6u r^2, and r = sqrt(r^2) by at
/// most sqrt(2^-20) = 2^-10 (the worst case, r near 0) plus 4u r for sqrt (2 ulp
/// inversesqrt and a reciprocal); plus a few u r for the products, covered by 8u r.
fn z_error(distribution: Distribution, z: f64, r: f64) -> f64 {
    match distribution {
        Distribution::Uniform => 2.0 * U * z.abs(),
        Distribution::Gaussian => r * 2f64.powi(-11) + 2f64.powi(-10) + 8.0 * U * r,
    }
}

/// sqrt(-2 ln u1) of element i, for z_error.
fn gaussian_radius(key: u32, i: usize) -> f64 {
    let u1 = reference::unit(reference::draw(key, 2 * i as u32)) as f64;
    (-2.0 * u1.ln()).sqrt()
}

/// Site 1 of 3, so a kernel reading the wrong site's bound fails.
const SITE: u32 = 1;

struct Fixture {
    counter: Tensor,
    bound: Tensor,
    b: f64,
}

impl Fixture {
    /// Seeded by the case's seed (so a failure replays), at `step`.
    fn new(case: &mut Case, b: f32, step: u32) -> Self {
        let counter = op::counter(gpu()).unwrap();
        op::set_counter(gpu(), &counter, case.seed, step).unwrap();
        let others: f32 = case.rng.random_range(10.0..20.0);
        let bound = gpu().upload(&[3], &[others, b, others]).unwrap();
        Fixture { counter, bound, b: b as f64 }
    }

    fn site(&self) -> Site<'_> {
        Site { index: SITE, counter: &self.counter, bound: &self.bound }
    }
}

/// B ReLU_alpha(x / B) with the polynomial library in f64: the replay form's input,
/// which in training the polynomial kernel computes.
fn poly_value(alpha: u32, b: f64, x: &[f64]) -> Vec<f64> {
    let relu = ReluApprox::generate(alpha).unwrap();
    x.iter().map(|&v| b * relu.relu_approx(v / b)).collect()
}

#[test]
fn random_stream_matches_reference_bit_for_bit() {
    let mut case = Case::new("noisy relu stream");
    let len = 1001;
    let counter = op::counter(gpu()).unwrap();
    let (bits, units) = (gpu().zeros(&[len]).unwrap(), poisoned(&[len]));
    for site in [0, 1, 7] {
        let dispatch = op::stream(gpu(), site, &counter, &bits, &units).unwrap();
        for _ in 0..3 {
            let (seed, step): (u64, u32) = (case.rng.random(), case.rng.random());
            op::set_counter(gpu(), &counter, seed, step).unwrap();
            gpu().run([&dispatch]).unwrap();
            let key = reference::stream_key(seed, step, site);
            let gpu_bits = gpu().download::<u32>(&bits).unwrap();
            let gpu_units = gpu().download::<f32>(&units).unwrap();
            for c in 0..len {
                let expected = reference::draw(key, c as u32);
                let context = || format!("{}: site {site} seed {seed} step {step} counter {c}", case.context());
                assert_eq!(gpu_bits[c], expected, "{}", context());
                let unit = reference::unit(expected);
                assert_eq!(gpu_units[c].to_bits(), unit.to_bits(), "{}", context());
                assert!(unit > 0.0 && unit < 1.0, "{}", context());
            }
        }
    }
}

/// The noise alone: x < 0 with the negative region, so y = relu(x) + noise = noise.
fn sample_noise(case: &mut Case, config: &NoiseConfig, len: usize) -> (Vec<f64>, f64) {
    let fixture = Fixture::new(case, 2.5, 3);
    let x = gpu().upload(&[len], &vec![-1.0f32; len]).unwrap();
    let y = poisoned(&[len]);
    let forward = op::forward(gpu(), config, &fixture.site(), &x, None, &y).unwrap();
    let sigma = config.relative_sigma() as f64 * fixture.b;
    (run_and_read(&[&forward], &y), sigma)
}

/// Sample mean and variance against mean 0 and variance sigma^2, each within 5 standard
/// errors: SE(mean) = sigma / sqrt(n), SE(variance) = sigma^2 sqrt((kurtosis - 1) / n)
/// (kurtosis 9/5 uniform, 3 Gaussian). A correct kernel fails one check with probability
/// below 1e-6 (normal approximation, n = 50001); a sigma off by 2 % already fails.
#[test]
fn noise_has_mean_zero_and_std_sigma() {
    let n = 50_001;
    for (distribution, kurtosis) in [(Distribution::Uniform, 1.8), (Distribution::Gaussian, 3.0)] {
        let mut case = Case::new(format!("noisy relu statistics {distribution:?}"));
        let config = NoiseConfig { region: Region::Negative, distribution, ..NoiseConfig::new(6) };
        let (noise, sigma) = sample_noise(&mut case, &config, n);
        let mean = noise.iter().sum::<f64>() / n as f64;
        let variance = noise.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let se_mean = sigma / (n as f64).sqrt();
        let se_variance = sigma * sigma * ((kurtosis - 1.0) / n as f64).sqrt();
        let context = case.context();
        assert!(mean.abs() <= 5.0 * se_mean, "{context}: mean {mean:e}, 5 SE = {:e}", 5.0 * se_mean);
        assert!(
            (variance - sigma * sigma).abs() <= 5.0 * se_variance,
            "{context}: variance {variance:e}, sigma^2 {:e}, 5 SE = {:e}",
            sigma * sigma,
            5.0 * se_variance
        );
        let beyond_one_sigma = noise.iter().filter(|v| v.abs() > sigma).count() as f64 / n as f64;
        let max = noise.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        match distribution {
            // Bounded by sqrt(3) sigma (one rounding over); P(|z| > 1) = 1 - 1/sqrt(3).
            Distribution::Uniform => {
                assert!(max <= 3f64.sqrt() * sigma * (1.0 + 4.0 * U), "{context}: max |noise| {max:e}");
                let p = 1.0 - 1.0 / 3f64.sqrt();
                let se = (p * (1.0 - p) / n as f64).sqrt();
                assert!((beyond_one_sigma - p).abs() <= 5.0 * se, "{context}: P(|z| > 1) = {beyond_one_sigma}");
            }
            // P(|z| > 1) = 0.3173 for a normal; tails reach beyond sqrt(3).
            Distribution::Gaussian => {
                let p = 0.317_310_507_862_914_1;
                let se = (p * (1.0 - p) / n as f64).sqrt();
                assert!((beyond_one_sigma - p).abs() <= 5.0 * se, "{context}: P(|z| > 1) = {beyond_one_sigma}");
                assert!(max > 3.0 * sigma, "{context}: no Gaussian tail, max |noise| {max:e}");
            }
        }
    }
}

/// Every form, distribution and region against the reference: y exactly relu(x) outside
/// the region, noisy inside; y and dx within the rounding of the noise term.
#[test]
fn forward_and_backward_match_reference_for_every_option() {
    let alpha = 5;
    // 144 values take the kernels' vec4 forms, the others the scalar ones.
    for shape in [vec![1], vec![5, 3, 7, 5], vec![65], vec![2, 3, 4, 6]] {
        for form in FORMS {
            for distribution in DISTRIBUTIONS {
                for region in REGIONS {
                    let config =
                        NoiseConfig { region, distribution, form, k: 2.0, alpha_target: alpha, threshold: 0.6 };
                    check_against_reference(&config, &shape, Input::Plain);
                }
            }
        }
    }
}

/// The entry points reading a batch norm's input through its normalisation: on inputs it
/// normalises exactly, the same checks as the plain entry points on the normalised values.
#[test]
fn normalized_entry_points_match_reference_for_every_form() {
    // Planes of 12 values take the vec4 forms, of 35 and 1 the scalar ones.
    for shape in [vec![5, 3, 7, 5], vec![2, 4, 1, 1], vec![3, 2, 2, 6]] {
        for form in FORMS {
            for region in [Region::Both, Region::All] {
                let config = NoiseConfig { region, form, k: 2.0, alpha_target: 5, ..NoiseConfig::new(5) };
                check_against_reference(&config, &shape, Input::Normalized);
            }
        }
    }
}

/// What the kernels under test read: a tensor, or a batch norm's input through its
/// normalisation ([`ExactNormalization`]).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Input {
    Plain,
    Normalized,
}

fn check_against_reference(config: &NoiseConfig, shape: &[usize], input: Input) {
    let mut case = Case::new(format!("noisy relu {config:?} {shape:?} {input:?}"));
    let b: f32 = case.rng.random_range(1.0..4.0);
    let step = case.rng.random();
    let fixture = Fixture::new(&mut case, b, step);
    let (x, mut x_ref) = case.tensor(shape, -1.2 * b, 1.2 * b);
    let normalization = (input == Input::Normalized).then(|| ExactNormalization::new(&mut case, shape, 1.0));
    let x = match &normalization {
        Some(normalization) => {
            x_ref = normalization.normalized.iter().map(|&v| v as f64).collect();
            normalization.input()
        }
        None => (&x).into(),
    };
    let (dy, dy_ref) = case.tensor(shape, -1.0, 1.0);
    let value_ref: Vec<f64> =
        poly_value(config.alpha_target, fixture.b, &x_ref).iter().map(|&e| e as f32 as f64).collect();
    let replay = gpu().upload(shape, &value_ref.iter().map(|&e| e as f32).collect::<Vec<_>>()).unwrap();
    let (y, dx) = (poisoned(shape), poisoned(shape));
    let replay = (config.form == Form::Replay).then_some(&replay);
    let forward = op::forward(gpu(), config, &fixture.site(), x, replay, &y).unwrap();
    let backward = op::backward(gpu(), config, &fixture.site(), x, &dy, &dx).unwrap();
    gpu().run([&forward, &backward]).unwrap();
    let (y, dx) = (read(&y), read(&dx));

    let stream = reference::Stream::new(case.seed, step, SITE, fixture.b);
    let y_ref = reference::forward(config, &stream, &x_ref, Some(&value_ref));
    let dx_ref = reference::backward(config, &stream, &x_ref, &dy_ref);
    let relative_sigma = config.relative_sigma() as f64;
    let inside = |i: usize| reference::in_region(config, x_ref[i], fixture.b);
    let z = |i: usize| reference::standard_noise(config.distribution, stream.key, i);
    let z_bound = |i: usize| z_error(config.distribution, z(i), gaussian_radius(stream.key, i));
    // The coefficient of z in y (and |dy| times it in dx).
    let z_scale = |i: usize| match config.form {
        Form::Additive => relative_sigma * fixture.b,
        Form::Multiplicative => x_ref[i].abs() * relative_sigma,
        Form::Replay => config.k as f64 * (value_ref[i] - x_ref[i].max(0.0)).abs() / 3f64.sqrt(),
    };
    // Outside the region: exact. Inside: the z error times its coefficient, plus at most
    // five roundings (products, the replay's 1 + z / sqrt(3) and its subtraction of relu(x),
    // the sum) of the terms.
    let y_bound = |i: usize| {
        if !inside(i) {
            return 0.0;
        }
        let noise = (y_ref[i] - x_ref[i].max(0.0)).abs();
        z_scale(i) * z_bound(i) + 5.0 * U * (x_ref[i].max(0.0) + 2.0 * noise)
    };
    assert_within(&case, "y", &y, &y_ref, y_bound);
    // Multiplicative dx = dy (1[x > 0] + sign(x) sigma' z): the same reasoning; other
    // forms pass dy or 0 through, exactly.
    let dx_bound = |i: usize| {
        if config.form != Form::Multiplicative || !inside(i) {
            return 0.0;
        }
        dy_ref[i].abs() * (relative_sigma * z_bound(i) + 4.0 * U * (1.0 + relative_sigma * z(i).abs()))
    };
    assert_within(&case, "dx", &dx, &dx_ref, dx_bound);

    // The noise reaches every element of the region whose noise has a nonzero coefficient
    // (z is never 0 except by a measure-zero accident: allow 1 %). The coefficient is 0
    // where x = 0 in the multiplicative and replay forms, which the exactly normalised
    // inputs (on a grid) do hit.
    let noisy_region = |i: usize| inside(i) && z_scale(i) != 0.0;
    let inside_count = (0..y.len()).filter(|&i| noisy_region(i)).count();
    let noisy = (0..y.len()).filter(|&i| noisy_region(i) && y[i] != x_ref[i].max(0.0)).count();
    assert!(100 * noisy >= 99 * inside_count, "{}: noise on {noisy} of {inside_count}", case.context());
}

#[test]
fn region_masks_select_the_documented_inputs() {
    // Inputs chosen on both sides of 0 and of the threshold; B = 2, threshold 0.5 -> 1.
    let xs: [f32; 8] = [-1.5, -0.9, -0.1, 0.0, 0.1, 0.9, 1.1, 3.0];
    let expected = |region: Region, v: f32| match region {
        Region::Negative => v < 0.0,
        Region::Large => v.abs() > 1.0,
        Region::Both => v < 0.0 || v.abs() > 1.0,
        Region::All => true,
    };
    for region in REGIONS {
        let mut case = Case::new(format!("noisy relu region {region:?}"));
        let fixture = Fixture::new(&mut case, 2.0, 1);
        let config = NoiseConfig { region, ..NoiseConfig::new(4) };
        let x = gpu().upload(&[xs.len()], &xs).unwrap();
        let y = poisoned(&[xs.len()]);
        let forward = op::forward(gpu(), &config, &fixture.site(), &x, None, &y).unwrap();
        let y = run_and_read(&[&forward], &y);
        for (i, &v) in xs.iter().enumerate() {
            let relu = v.max(0.0) as f64;
            let noisy = y[i] != relu;
            assert_eq!(noisy, expected(region, v), "{}: x = {v}, y = {}", case.context(), y[i]);
        }
    }
}

#[test]
fn same_seed_and_step_repeat_and_other_steps_or_sites_differ() {
    let mut case = Case::new("noisy relu determinism");
    let shape = [3, 5, 7];
    let len = 105;
    let config = NoiseConfig { region: Region::All, distribution: Distribution::Gaussian, ..NoiseConfig::new(7) };
    let fixture = Fixture::new(&mut case, 3.0, 10);
    let (x, _) = case.tensor(&shape, -3.0, 3.0);
    let y = poisoned(&shape);
    let forward = op::forward(gpu(), &config, &fixture.site(), &x, None, &y).unwrap();
    let run = |seed: u64, step: u32| {
        op::set_counter(gpu(), &fixture.counter, seed, step).unwrap();
        run_and_read(&[&forward], &y)
    };
    let first = run(case.seed, 10);
    let other_step = run(case.seed, 11);
    let again = run(case.seed, 10);
    let other_seed = run(case.seed ^ (1 << 40), 10);
    assert_eq!(first, again, "{}: same seed and step must repeat", case.context());
    let differ = |a: &[f64], b: &[f64]| (0..len).filter(|&i| a[i] != b[i]).count();
    assert!(differ(&first, &other_step) >= len - 1, "{}: a new step must redraw the noise", case.context());
    assert!(differ(&first, &other_seed) >= len - 1, "{}: the seed's high word must count", case.context());

    // Another site (bound 3 too) with the same counter draws other noise.
    let bound = gpu().upload(&[3], &[3.0f32; 3]).unwrap();
    let y_other = poisoned(&shape);
    let other_site = Site { index: 2, counter: &fixture.counter, bound: &bound };
    let forward_other = op::forward(gpu(), &config, &other_site, &x, None, &y_other).unwrap();
    op::set_counter(gpu(), &fixture.counter, case.seed, 10).unwrap();
    gpu().run([&forward, &forward_other]).unwrap();
    assert!(differ(&read(&y), &read(&y_other)) >= len - 1, "{}: sites must not share noise", case.context());
}

/// Multiplicative form: with the noise fixed by (seed, step), y is piecewise linear in x,
/// with kinks at 0 and jumps at |x| = threshold B. Inputs stay 1e-2 B away from both, the
/// step is 1e-4 B, so central differences are exact up to f64 rounding (~1e-12 relative).
/// The GPU's dx errs by its z error times sigma' (z_error: under 4e-3 absolute, times
/// sigma' = 2^-3 here) plus a few roundings: relative 1e-3 bounds it, while a backward
/// missing the noise term errs by sigma' |z| ~ 0.1 and fails.
#[test]
fn multiplicative_backward_matches_finite_differences() {
    for distribution in DISTRIBUTIONS {
        for shape in [vec![1, 3, 5, 7], vec![2, 9]] {
            let mut case = Case::new(format!("noisy relu multiplicative gradient {distribution:?} {shape:?}"));
            let config = NoiseConfig {
                region: Region::Both,
                distribution,
                form: Form::Multiplicative,
                k: 1.0,
                alpha_target: 3,
                threshold: 0.5,
            };
            let b = 2.0f32;
            let fixture = Fixture::new(&mut case, b, 5);
            let len: usize = shape.iter().product();
            let x_values: Vec<f32> = (0..len)
                .map(|_| {
                    let magnitude = if case.rng.random() {
                        case.rng.random_range(0.01 * b..0.49 * b)
                    } else {
                        case.rng.random_range(0.51 * b..1.5 * b)
                    };
                    if case.rng.random() {
                        magnitude
                    } else {
                        -magnitude
                    }
                })
                .collect();
            let x_ref: Vec<f64> = x_values.iter().map(|&v| v as f64).collect();
            let x = gpu().upload(&shape, &x_values).unwrap();
            let (r, r_ref) = case.tensor(&shape, -1.0, 1.0);
            let dx = poisoned(&shape);
            let backward = op::backward(gpu(), &config, &fixture.site(), &x, &r, &dx).unwrap();
            let stream = reference::Stream::new(case.seed, 5, SITE, fixture.b);
            let loss = |x: &[f64]| dot(&reference::forward(&config, &stream, x, None), &r_ref);
            let numerical = numerical_gradient(loss, &x_ref, 1e-4 * b as f64);
            assert_close(&case, "dx", &run_and_read(&[&backward], &dx), &numerical, 1e-3);
        }
    }
}

#[test]
fn mismatched_shapes_and_settings_are_rejected() {
    let counter = op::counter(gpu()).unwrap();
    let bound = gpu().zeros(&[2]).unwrap();
    let site = Site { index: 0, counter: &counter, bound: &bound };
    let x = gpu().zeros(&[4, 5]).unwrap();
    let y = gpu().zeros(&[5, 4]).unwrap();
    let config = NoiseConfig::new(9);
    let message = |r: sturdy::gpu::Result<sturdy::gpu::Dispatch>| r.err().expect("must fail").to_string();
    assert!(message(op::forward(gpu(), &config, &site, &x, None, &y)).contains("[5, 4]"));
    let far = Site { index: 2, ..site };
    assert!(message(op::forward(gpu(), &config, &far, &x, None, &x)).contains("bound"));
    let replay = NoiseConfig { form: Form::Replay, ..config };
    assert!(message(op::forward(gpu(), &replay, &site, &x, None, &x)).contains("poly_value"));
    assert!(message(op::forward(gpu(), &config, &site, &x, Some(&x), &x)).contains("poly_value"));
    let negative = NoiseConfig { k: -1.0, ..config };
    assert!(message(op::backward(gpu(), &negative, &site, &x, &x, &x)).contains("k and threshold"));
    // A normalisation of another channel count than x's.
    let mut case = Case::new("noisy relu normalisation of other channels");
    let normalization = ExactNormalization::new(&mut case, &[5, 4], 1.0);
    let other = ActivationInput { x: &x, ..normalization.input() };
    assert!(message(op::forward(gpu(), &config, &site, other, None, &x)).contains("[5, 4, ...]"));
}
