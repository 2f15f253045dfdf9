use sturdy::ops::dropout as op;
use sturdy::ops::noisy_relu::{counter, set_counter};
use sturdy::reference::dropout as reference;

use crate::harness::*;

// The kept elements are multiplied by the f32 scale the reference also uses: one rounding
// of the product (exact for the scale 2 of rate 1/2).
const PRODUCT: f64 = F32_UNIT_ROUNDOFF;
// Finite differences of a loss linear in x (the mask fixed by the counter) have no
// truncation error, only rounding: about 1e-16 * |L| / h, below 1e-10 for |L| < 1e2 and
// the h = 1e-4 used here; allow 1e-9.
const STEP: f64 = 1e-4;
const FINITE_DIFFERENCE: f64 = 1e-9;
/// Stream 3, so a kernel ignoring the stream fails against the reference.
const STREAM: u32 = 3;

#[test]
fn dropout_matches_reference() {
    // Odd lengths, one below a workgroup; rate 0 is the identity evaluation runs.
    for (len, rate) in [(1000, 0.5), (77, 0.1), (4099, 0.5), (33, 0.0)] {
        let mut case = Case::new(format!("dropout len {len} rate {rate}"));
        let step = 17;
        let counter = counter(gpu()).unwrap();
        set_counter(gpu(), &counter, case.seed, step).unwrap();
        let (x, x_ref) = case.tensor(&[len], -1.0, 1.0);
        let (dy, dy_ref) = case.tensor(&[len], -1.0, 1.0);
        let (y, dx) = (poisoned(&[len]), poisoned(&[len]));
        let forward = op::forward(gpu(), &counter, STREAM, rate, &x, &y).unwrap();
        let backward = op::backward(gpu(), &counter, STREAM, rate, &dy, &dx).unwrap();
        gpu().run([&forward, &backward]).unwrap();
        let mask = reference::mask(case.seed, step, STREAM, rate, len);
        assert_close(&case, "y", &read(&y), &reference::apply(&mask, rate, &x_ref), PRODUCT);
        assert_close(&case, "dx", &read(&dx), &reference::apply(&mask, rate, &dy_ref), PRODUCT);
        if rate == 0.0 {
            assert_eq!(read(&y), x_ref, "{}: rate 0 is the identity", case.context());
        }
    }
}

#[test]
fn dropout_drops_the_rate_and_a_new_mask_each_step() {
    let mut case = Case::new("dropout statistics");
    let (len, rate) = (1 << 16, 0.5);
    let masks: Vec<Vec<bool>> = (0..2).map(|step| reference::mask(case.seed, step, STREAM, rate, len)).collect();
    // The dropped fraction is a mean of 2^16 Bernoulli(1/2) draws: standard deviation
    // 1 / (2 sqrt(2^16)) = 2^-9; six of them fail once in 5e8 seeds.
    let sigma = (rate * (1.0 - rate) / len as f64).sqrt();
    for mask in &masks {
        let dropped = mask.iter().filter(|&&kept| !kept).count() as f64 / len as f64;
        assert!((dropped - rate).abs() <= 6.0 * sigma, "{}: dropped {dropped}", case.context());
    }
    // Two steps' masks agree on about half the elements (independent), not all.
    let agree = masks[0].iter().zip(&masks[1]).filter(|(a, b)| a == b).count() as f64 / len as f64;
    assert!((agree - 0.5).abs() <= 6.0 * sigma, "{}: masks agree on {agree}", case.context());
    // And the GPU draws the reference's mask at another step too.
    let counter = counter(gpu()).unwrap();
    set_counter(gpu(), &counter, case.seed, 1).unwrap();
    let (x, _) = case.tensor(&[len], 1.0, 2.0);
    let y = poisoned(&[len]);
    let forward = op::forward(gpu(), &counter, STREAM, rate, &x, &y).unwrap();
    let kept: Vec<bool> = run_and_read(&[&forward], &y).iter().map(|&v| v != 0.0).collect();
    assert_eq!(kept, masks[1], "{}", case.context());
}

#[test]
fn dropout_backward_matches_finite_differences() {
    let mut case = Case::new("dropout gradient check");
    let (len, rate, step) = (301, 0.5, 4);
    let counter = counter(gpu()).unwrap();
    set_counter(gpu(), &counter, case.seed, step).unwrap();
    let (_, x_ref) = case.uniform(len, -1.0, 1.0);
    let (r, r_ref) = case.tensor(&[len], -1.0, 1.0);
    let dx = poisoned(&[len]);
    let backward = op::backward(gpu(), &counter, STREAM, rate, &r, &dx).unwrap();
    let mask = reference::mask(case.seed, step, STREAM, rate, len);
    let numeric = numerical_gradient(|x| dot(&reference::apply(&mask, rate, x), &r_ref), &x_ref, STEP);
    assert_close(&case, "dx", &run_and_read(&[&backward], &dx), &numeric, PRODUCT + FINITE_DIFFERENCE);
}

#[test]
fn bad_rates_and_shapes_are_rejected() {
    let counter = counter(gpu()).unwrap();
    let (x, y) = (gpu().zeros(&[8]).unwrap(), gpu().zeros(&[9]).unwrap());
    let message = |r: sturdy::gpu::Result<sturdy::gpu::Dispatch>| r.err().expect("must fail").to_string();
    let error = message(op::forward(gpu(), &counter, 0, 1.0, &x, &x));
    assert!(error.contains("rate 1 must be in [0, 1)"), "{error}");
    let error = message(op::forward(gpu(), &counter, 0, 0.5, &x, &y));
    assert!(error.contains("dropout forward: y has shape [9], x has [8]"), "{error}");
}
