//! Shared test mechanics: one device per test process, seeded random inputs,
//! poisoned outputs, error norms and finite-difference gradients.

use std::sync::OnceLock;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sturdy::gpu::{Dispatch, Gpu, Tensor, TexelStorage};
use sturdy::ops::batchnorm::{ActivationInput, BatchNormShape, Normalization};
use sturdy::ops::variants::Variant;

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

/// Relative error bound, holding with probability at least 1 - 2 exp(-lambda^2 / 2) (below
/// 1e-31 for lambda = 12), for sums of `terms` f32 products whose rounding errors are
/// independent and of mean zero: lambda sqrt(terms) u to first order (Higham and Mary, "A
/// New Approach to Probabilistic Rounding Error Analysis", SIAM J. Sci. Comput. 2019, Thm
/// 2.4), plus one rounding for each product and for the store. For sums of thousands of
/// terms of both signs, where the worst case of [`sum_bound`] exceeds the result itself
/// and a misplaced term would pass.
pub fn probable_sum_bound(terms: usize) -> f64 {
    const LAMBDA: f64 = 12.0;
    (LAMBDA * (terms as f64).sqrt() + 2.0) * F32_UNIT_ROUNDOFF
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

/// A batch norm's input whose normalisation `batch_normalized` computes exactly in f32, so
/// an activation's `*_normalized` entry point sees exactly `normalized`, and must meet the
/// bounds its plain entry point meets on those values. Per channel (each different, so a
/// kernel reading another channel's statistics fails): mean a multiple of 1/8 in [-1, 1],
/// inv_std 1/2 or 1, gamma +-scale/2 or +-scale, beta a multiple of scale/16 in
/// [-scale/2, scale/2], and x a multiple of 1/64 in [-4, 4] (`scale` a power of two): every
/// difference, product and sum then needs under 16 significant bits, so none rounds, fused
/// or not. |normalized| <= 5.5 scale.
pub struct ExactNormalization {
    pub shape: BatchNormShape,
    pub x: Tensor,
    pub normalized: Vec<f32>,
    mean: Tensor,
    inv_std: Tensor,
    gamma: Tensor,
    beta: Tensor,
}

impl ExactNormalization {
    pub fn new(case: &mut Case, dims: &[usize], scale: f32) -> ExactNormalization {
        let shape = BatchNormShape { batch: dims[0], channels: dims[1], spatial: dims[2..].iter().product() };
        let mut per_channel = |f: &mut dyn FnMut(&mut StdRng) -> f32| -> Vec<f32> {
            (0..shape.channels).map(|_| f(&mut case.rng)).collect()
        };
        let mean = per_channel(&mut |rng| rng.random_range(-8..=8) as f32 / 8.0);
        let inv_std = per_channel(&mut |rng| if rng.random() { 0.5 } else { 1.0 });
        let gamma = per_channel(&mut |rng| {
            let magnitude = if rng.random() { scale / 2.0 } else { scale };
            if rng.random() {
                magnitude
            } else {
                -magnitude
            }
        });
        let beta = per_channel(&mut |rng| rng.random_range(-8..=8) as f32 * scale / 16.0);
        let x: Vec<f32> = (0..shape.len()).map(|_| case.rng.random_range(-256..=256) as f32 / 64.0).collect();
        let normalized = (0..x.len())
            .map(|i| {
                let c = (i / shape.spatial) % shape.channels;
                let exact = gamma[c] as f64 * ((x[i] as f64 - mean[c] as f64) * inv_std[c] as f64) + beta[c] as f64;
                assert_eq!(exact as f32 as f64, exact, "the fixture's values are exact in f32");
                exact as f32
            })
            .collect();
        let upload = |values: &[f32]| gpu().upload(&[shape.channels], values).unwrap();
        ExactNormalization {
            shape,
            x: gpu().upload(dims, &x).unwrap(),
            normalized,
            mean: upload(&mean),
            inv_std: upload(&inv_std),
            gamma: upload(&gamma),
            beta: upload(&beta),
        }
    }

    /// x, read through the normalisation.
    pub fn input(&self) -> ActivationInput<'_> {
        let normalization = Normalization {
            shape: self.shape,
            saved_mean: &self.mean,
            saved_inv_std: &self.inv_std,
            gamma: &self.gamma,
            beta: &self.beta,
        };
        ActivationInput { x: &self.x, normalization: Some(normalization) }
    }
}

/// Whether a variant's operands are textures (the texture and subgroup GEMM loaders).
pub fn reads_textures(variant: Variant) -> bool {
    matches!(variant, Variant::Gemm(loader) if loader.storage() == TexelStorage::Texture)
}
