//! Shared test mechanics: one device per test process, seeded random inputs,
//! poisoned outputs, error norms and finite-difference gradients.

use std::sync::OnceLock;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sturdy::gpu::{Dispatch, Gpu, Tensor};

/// Unit roundoff of f32 (2^-24): one rounding moves a value by at most this, relatively.
pub const F32_UNIT_ROUNDOFF: f64 = 5.960_464_477_539_063e-8;

/// The device shared by all tests of this process (opening one per test is slow on lavapipe).
pub fn gpu() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| Gpu::from_env().unwrap_or_else(|e| panic!("{e}")))
}

/// A seeded random source for one test case; the seed is fresh unless
/// `STURDY_TEST_SEED` fixes it, and goes into every failure message.
pub struct Case {
    pub name: String,
    pub seed: u64,
    pub rng: StdRng,
}

impl Case {
    pub fn new(name: impl Into<String>) -> Case {
        let seed = match std::env::var("STURDY_TEST_SEED") {
            Ok(s) => s.parse().expect("STURDY_TEST_SEED must be an integer"),
            Err(_) => rand::rng().random(),
        };
        Case { name: name.into(), seed, rng: StdRng::seed_from_u64(seed) }
    }

    /// Uniform values in [lo, hi), as f32 for the GPU and the same values as f64.
    pub fn uniform(&mut self, len: usize, lo: f32, hi: f32) -> (Vec<f32>, Vec<f64>) {
        let values: Vec<f32> = (0..len).map(|_| self.rng.random_range(lo..hi)).collect();
        let wide = values.iter().map(|&v| v as f64).collect();
        (values, wide)
    }

    /// A GPU tensor of uniform values in [lo, hi) and its f64 copy.
    pub fn tensor(&mut self, shape: &[usize], lo: f32, hi: f32) -> (Tensor, Vec<f64>) {
        let (values, wide) = self.uniform(shape.iter().product(), lo, hi);
        (gpu().upload(shape, &values).unwrap(), wide)
    }

    pub fn context(&self) -> String {
        format!("case {} (STURDY_TEST_SEED={})", self.name, self.seed)
    }
}

/// An output tensor filled with NaN, so any element a kernel fails to write fails the check.
pub fn poisoned(shape: &[usize]) -> Tensor {
    let len = shape.iter().product();
    gpu().upload(shape, &vec![f32::NAN; len]).unwrap()
}

/// Runs dispatches in one submission and reads `output` back as f64.
pub fn run_and_read(dispatches: &[&Dispatch], output: &Tensor) -> Vec<f64> {
    gpu().run(dispatches.iter().copied()).unwrap();
    read(output)
}

pub fn read(tensor: &Tensor) -> Vec<f64> {
    gpu().download::<f32>(tensor).unwrap().into_iter().map(f64::from).collect()
}

/// ||actual - expected|| / ||expected|| (plain difference norm when expected is zero).
pub fn relative_error(actual: &[f64], expected: &[f64]) -> f64 {
    let diff: f64 = actual.iter().zip(expected).map(|(a, e)| (a - e).powi(2)).sum::<f64>().sqrt();
    let norm: f64 = expected.iter().map(|e| e * e).sum::<f64>().sqrt();
    if norm == 0.0 {
        diff
    } else {
        diff / norm
    }
}

/// Asserts every element is finite (so unwritten, poisoned elements fail) and the
/// relative error is within `bound`.
#[track_caller]
pub fn assert_close(case: &Case, what: &str, actual: &[f64], expected: &[f64], bound: f64) {
    assert_eq!(actual.len(), expected.len(), "{}: {what}: length", case.context());
    if let Some(i) = actual.iter().position(|v| !v.is_finite()) {
        panic!("{}: {what}: element {i} is {} (unwritten or overflowed)", case.context(), actual[i]);
    }
    let error = relative_error(actual, expected);
    assert!(error <= bound, "{}: {what}: relative error {error:e} above bound {bound:e}", case.context());
}

/// Relative error bound for values that are sums of `terms` f32 products: the
/// classic worst case for recursive summation is terms * u (Higham, Thm 3.1), plus
/// one rounding for each product and for the store.
pub fn sum_bound(terms: usize) -> f64 {
    (terms as f64 + 2.0) * F32_UNIT_ROUNDOFF
}

/// Central-difference gradient of a scalar function of f64 inputs.
pub fn numerical_gradient(f: impl Fn(&[f64]) -> f64, x: &[f64], step: f64) -> Vec<f64> {
    let mut probe = x.to_vec();
    (0..x.len())
        .map(|i| {
            probe[i] = x[i] + step;
            let up = f(&probe);
            probe[i] = x[i] - step;
            let down = f(&probe);
            probe[i] = x[i];
            (up - down) / (2.0 * step)
        })
        .collect()
}

/// <a, b> in f64: the scalar loss L = <y, r> whose gradient dL/dy = r drives gradient checks.
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
