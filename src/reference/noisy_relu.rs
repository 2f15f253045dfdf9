//! The noisy ReLU of `ops::noisy_relu` on the CPU: the same integer random stream, bit for
//! bit, and the arithmetic in f64 from the same f32 uniforms. Inputs are f32 values held
//! in f64 (the values the kernel sees).

use crate::ops::noisy_relu::{counter_words, Distribution, Form, NoiseConfig, Region};

/// The PCG hash, as in shaders/common/random.wgsl.
pub fn pcg_hash(v: u32) -> u32 {
    let state = v.wrapping_mul(747_796_405).wrapping_add(2_891_336_453);
    let word = ((state >> ((state >> 28) + 4)) ^ state).wrapping_mul(277_803_737);
    (word >> 22) ^ word
}

/// The key of one (seed, step, site).
pub fn stream_key(seed: u64, step: u32, site: u32) -> u32 {
    let [seed_lo, seed_hi, step] = counter_words(seed, step);
    let h = pcg_hash(seed_hi.wrapping_add(pcg_hash(seed_lo)));
    pcg_hash(site.wrapping_add(pcg_hash(step.wrapping_add(h))))
}

/// Random word number `c` (= 2 element + lane) of the stream `key`.
pub fn draw(key: u32, c: u32) -> u32 {
    pcg_hash(pcg_hash(c).wrapping_add(key))
}

/// (top 23 bits + 1/2) 2^-23: exact in f32, in (0, 1).
pub fn unit(bits: u32) -> f32 {
    ((bits >> 9) as f32 + 0.5) * (1.0 / (1u32 << 23) as f32)
}

/// The standard noise z of element `i` (mean 0, variance 1), in f64 from the f32 uniforms.
pub fn standard_noise(distribution: Distribution, key: u32, i: usize) -> f64 {
    let c = 2 * i as u32;
    let u1 = unit(draw(key, c)) as f64;
    match distribution {
        Distribution::Uniform => 3f64.sqrt() * (2.0 * u1 - 1.0),
        Distribution::Gaussian => {
            let u2 = unit(draw(key, c + 1)) as f64;
            (-2.0 * u1.ln()).sqrt() * (std::f64::consts::PI * (2.0 * u2 - 1.0)).cos()
        }
    }
}

/// Whether `v` receives noise. The threshold product is rounded to f32 as in the kernel,
/// so the two agree on inputs next to it.
pub fn in_region(config: &NoiseConfig, v: f64, bound: f64) -> bool {
    let negative = v < 0.0;
    let large = v.abs() > (config.threshold * bound as f32) as f64;
    match config.region {
        Region::Negative => negative,
        Region::Large => large,
        Region::Both => negative || large,
        Region::All => true,
    }
}

/// Where the noise goes, for one step of one site.
pub struct Stream {
    pub key: u32,
    pub bound: f64,
}

impl Stream {
    pub fn new(seed: u64, step: u32, site: u32, bound: f64) -> Self {
        Stream { key: stream_key(seed, step, site), bound }
    }
}

/// y = relu(x) + noise (see `ops::noisy_relu`); `poly_value` only for the replay form.
pub fn forward(config: &NoiseConfig, stream: &Stream, x: &[f64], poly_value: Option<&[f64]>) -> Vec<f64> {
    let relative_sigma = config.relative_sigma() as f64;
    x.iter()
        .enumerate()
        .map(|(i, &v)| {
            let relu = v.max(0.0);
            if !in_region(config, v, stream.bound) {
                return relu;
            }
            let z = standard_noise(config.distribution, stream.key, i);
            relu + match config.form {
                Form::Additive => relative_sigma * stream.bound * z,
                Form::Multiplicative => v.abs() * relative_sigma * z,
                Form::Replay => {
                    let error = poly_value.expect("the replay form needs poly_value")[i] - relu;
                    config.k as f64 * (1.0 + z / 3f64.sqrt()) * error
                }
            }
        })
        .collect()
}

/// dx = dy 1[x > 0], plus dy sign(x) sigma' z where multiplicative noise was applied.
pub fn backward(config: &NoiseConfig, stream: &Stream, x: &[f64], dy: &[f64]) -> Vec<f64> {
    let relative_sigma = config.relative_sigma() as f64;
    x.iter()
        .zip(dy)
        .enumerate()
        .map(|(i, (&v, &g))| {
            let relu_grad = if v > 0.0 { g } else { 0.0 };
            if config.form == Form::Multiplicative && in_region(config, v, stream.bound) {
                let z = standard_noise(config.distribution, stream.key, i);
                let sign = if v == 0.0 { 0.0 } else { v.signum() };
                relu_grad + g * sign * relative_sigma * z
            } else {
                relu_grad
            }
        })
        .collect()
}
