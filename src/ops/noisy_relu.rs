//! Noise-perturbed ReLU for sturdiness training (training only): y = ReLU(x) + noise, the
//! noise imitating the error that the polynomial ReLU_alpha of precision `alpha_target`
//! will make at this site.
//!
//! **Where** ([`Region`]): by default on negative inputs (exact ReLU gives 0, the
//! polynomial leaks a small value of either sign) and on large ones (|x| > threshold B,
//! where the polynomial's absolute error |x| |p(x/B) - sign(x)| / 2 is largest); nowhere else.
//!
//! **How much** ([`Form`], z of mean 0 and variance 1 from [`Distribution`]):
//! - additive: y = relu(x) + sigma z, sigma = k B 2^-alpha_target (the absolute error bound
//!   B 2^-alpha of the polynomial, times k);
//! - multiplicative: y = relu(x) + |x| sigma' z, sigma' = k 2^-alpha_target (a leak
//!   proportional to |x|, like the polynomial's error);
//! - replay: y = relu(x) + k s (poly_value - relu(x)), s = 1 + z / sqrt(3) (mean 1, std
//!   1/sqrt(3); with the uniform distribution s is uniform on [0, 2]). **Contract**:
//!   `poly_value` has x's shape and holds B ReLU_alpha(x / B) for this step's x, computed by
//!   the caller with the polynomial kernel (`ops::poly_relu::forward`) before this dispatch;
//!   this op never evaluates the polynomial. k = 1 replays the actual error with a random gain.
//!
//! **Backward**: straight-through for additive and replay (dx = dy 1[x > 0]: the noise is
//! treated as a constant); the exact derivative for multiplicative,
//! dx = dy (1[x > 0] + sign(x) sigma' z) where the noise is applied.
//!
//! **Random numbers**: counter-based, no state. The bits of element i, lane l (0, or 1 for
//! Box-Muller's second uniform) are
//!   key  = h(site + h(step + h(seed_hi + h(seed_lo))))
//!   bits = h(h(2 i + l) + key)
//! with h the PCG hash of Jarzynski and Olano ("Hash Functions for GPU Rendering", JCGT
//! 2020), which they recommend as the best quality for its cost among 32-bit GPU hashes; it
//! needs only 32-bit wrapping multiply, add, shift and xor, which WGSL has on every backend
//! and Rust reproduces exactly (Philox needs a 32x32->64 multiply that WGSL lacks). Nesting
//! one word at a time is their construction for several inputs. h is a bijection, so within
//! one (seed, step, site) no two counters share bits; the counter is hashed before the key
//! is added so that different keys give unrelated streams rather than shifted copies.
//! Forward and backward recompute the same z, so nothing is stored between them. Uniforms
//! are (top 23 bits + 1/2) 2^-23, exact in f32, symmetric in (0, 1).
//!
//! Per step the caller writes (seed, step) with [`set_counter`] before submitting; the
//! dispatches stay bound. The caller owns the bound tensor: [`super::calibrate`] feeds it,
//! or it holds fixed B.

use std::sync::Arc;

use crate::gpu::{Bindable, Dispatch, Gpu, GpuError, Kernel, Result, Tensor};

use super::batchnorm::ActivationInput;
use super::{dim, expect_shape, expect_site_table, same_shape};

/// Which inputs receive noise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Region {
    /// x < 0.
    Negative = 1,
    /// |x| > threshold * B.
    Large = 2,
    /// Negative or large (the default): the bit set of both.
    Both = 3,
    /// Every input.
    All = 4,
}

/// The distribution of z; both have mean 0 and variance 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Distribution {
    /// Uniform on [-sqrt(3), sqrt(3)]: bounded, like the polynomial's error.
    Uniform = 0,
    /// Standard normal, by Box-Muller (the cosine branch).
    Gaussian = 1,
}

/// How the noise enters (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Form {
    Additive = 0,
    Multiplicative = 1,
    Replay = 2,
}

/// The enums' codes as the shader's override constants, which it compares the site's
/// (the constants REGION, DISTRIBUTION and FORM) with.
const CODES: [(&str, f64); 6] = [
    ("REGION_NEGATIVE", Region::Negative as u32 as f64),
    ("REGION_LARGE", Region::Large as u32 as f64),
    ("REGION_ALL", Region::All as u32 as f64),
    ("GAUSSIAN", Distribution::Gaussian as u32 as f64),
    ("MULTIPLICATIVE", Form::Multiplicative as u32 as f64),
    ("REPLAY", Form::Replay as u32 as f64),
];

/// The kernel of `entry` for `config`'s region, distribution and form: constants of the
/// pipeline, so that the shader compiles only their code.
fn kernel(gpu: &Gpu, entry: &'static str, config: &NoiseConfig) -> Result<Arc<Kernel>> {
    let site = [
        ("REGION", config.region as u32 as f64),
        ("DISTRIBUTION", config.distribution as u32 as f64),
        ("FORM", config.form as u32 as f64),
    ];
    gpu.kernel("noisy_relu", entry, &[&CODES[..], &site].concat())
}

/// The per-site noise settings.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NoiseConfig {
    pub region: Region,
    pub distribution: Distribution,
    pub form: Form,
    /// Noise scale in units of the polynomial's error bound (replay: the error's gain).
    pub k: f32,
    /// The precision alpha of the polynomial the site will run with.
    pub alpha_target: u32,
    /// "Large" means |x| > threshold * B.
    pub threshold: f32,
}

impl NoiseConfig {
    /// Additive uniform noise of the polynomial's error bound (k = 1) on negative inputs
    /// and on inputs above half the bound.
    pub fn new(alpha_target: u32) -> Self {
        NoiseConfig {
            region: Region::Both,
            distribution: Distribution::Uniform,
            form: Form::Additive,
            k: 1.0,
            alpha_target,
            threshold: 0.5,
        }
    }

    /// sigma' = k 2^-alpha_target (exact in f32: a power-of-two scaling); sigma = sigma' B.
    pub fn relative_sigma(&self) -> f32 {
        self.k * 2f32.powi(-(self.alpha_target as i32))
    }

    fn validate(&self, op: &str) -> Result<()> {
        let ok = self.k.is_finite()
            && self.k >= 0.0
            && self.threshold.is_finite()
            && self.threshold >= 0.0
            && (1..=126).contains(&self.alpha_target);
        if ok {
            Ok(())
        } else {
            Err(GpuError::shape(format!(
                "{op}: k and threshold must be finite and >= 0, alpha_target in 1..=126 (got {self:?})"
            )))
        }
    }
}

/// One ReLU site: its index into the bound tensor, the per-step (seed, step) counter and
/// the bounds B of all sites.
#[derive(Clone, Copy)]
pub struct Site<'a> {
    pub index: u32,
    /// [seed low, seed high, step] as u32, shape [3]: see [`counter`] and [`set_counter`].
    pub counter: &'a Tensor,
    /// B per site, f32, shape [sites].
    pub bound: &'a Tensor,
}

crate::uniform! {
    pub(crate) struct Params {
        len: u32,
        site: u32,
        k: f32,
        relative_sigma: f32,
        threshold: f32,
        channels: u32,
        spatial: u32,
    }
}

impl Params {
    /// The parameters of `len` elements of a plain input.
    fn new(len: usize, site: u32, config: &NoiseConfig) -> Self {
        Params {
            channels: 1,
            spatial: 1,
            len: dim(len),
            site,
            k: config.k,
            relative_sigma: config.relative_sigma(),
            threshold: config.threshold,
        }
    }
}

/// Number of u32 words of the counter tensor.
pub const COUNTER_LEN: usize = 3;

/// A zeroed counter tensor, made once; [`set_counter`] rewrites it every step.
pub fn counter(gpu: &Gpu) -> Result<Tensor> {
    gpu.zeros(&[COUNTER_LEN])
}

/// Writes (seed, step) for the next submission: same values, same noise.
pub fn set_counter(gpu: &Gpu, counter: &Tensor, seed: u64, step: u32) -> Result<()> {
    gpu.write(counter, &counter_words(seed, step))
}

/// The counter tensor's contents for (seed, step).
pub fn counter_words(seed: u64, step: u32) -> [u32; COUNTER_LEN] {
    [seed as u32, (seed >> 32) as u32, step]
}

fn check_site_tensors(op: &str, site: &Site) -> Result<()> {
    expect_shape(op, "counter", site.counter, &[COUNTER_LEN])?;
    expect_site_table(op, "bound", site.index, site.bound)
}

/// y = relu(x) + noise. `poly_value` (x's shape) is required by [`Form::Replay`] and
/// rejected otherwise. `x` is a tensor or (an [`ActivationInput`]) a batch norm's input
/// through its normalisation.
pub fn forward<'a>(
    gpu: &Gpu,
    config: &NoiseConfig,
    site: &Site,
    x: impl Into<ActivationInput<'a>>,
    poly_value: Option<&Tensor>,
    y: &Tensor,
) -> Result<Dispatch> {
    let op = "noisy relu forward";
    let input = x.into();
    config.validate(op)?;
    check_site_tensors(op, site)?;
    same_shape(op, &[("x", input.x), ("y", y)])?;
    let poly_value = match (config.form, poly_value) {
        (Form::Replay, Some(error)) => {
            same_shape(op, &[("x", input.x), ("poly_value", error)])?;
            error
        }
        (Form::Replay, None) => return Err(GpuError::shape(format!("{op}: the replay form needs poly_value"))),
        (_, Some(_)) => return Err(GpuError::shape(format!("{op}: poly_value is only read by the replay form"))),
        // The entry point declares the binding whatever the form; x stands in, unread.
        (_, None) => input.x,
    };
    let outputs: [(&str, &dyn Bindable); 3] = [("poly_value", poly_value), ("y", y), ("y4", y)];
    let entries = ["forward", "forward_vec4", "forward_normalized", "forward_normalized_vec4"];
    dispatch(gpu, (op, entries), config, site, input, &outputs)
}

/// dx = dy 1[x > 0] (+ dy sign(x) sigma' z where the multiplicative noise was applied).
/// Reads the same counter as the forward: keep (seed, step) unchanged between the two.
/// `x` as [`forward`]'s.
pub fn backward<'a>(
    gpu: &Gpu,
    config: &NoiseConfig,
    site: &Site,
    x: impl Into<ActivationInput<'a>>,
    dy: &Tensor,
    dx: &Tensor,
) -> Result<Dispatch> {
    let op = "noisy relu backward";
    let input = x.into();
    config.validate(op)?;
    check_site_tensors(op, site)?;
    same_shape(op, &[("x", input.x), ("dy", dy), ("dx", dx)])?;
    let outputs: [(&str, &dyn Bindable); 4] = [("dy", dy), ("dx", dx), ("dy4", dy), ("dx4", dx)];
    let entries = ["backward", "backward_vec4", "backward_normalized", "backward_normalized_vec4"];
    dispatch(gpu, (op, entries), config, site, input, &outputs)
}

/// Dispatches the one of `entries` (plain, vec4, normalized, normalized vec4) that reads
/// `input` over its elements, bound to the site's tensors, the input and `outputs`.
fn dispatch(
    gpu: &Gpu,
    (op, entries): (&str, [&'static str; 4]),
    config: &NoiseConfig,
    site: &Site,
    input: ActivationInput,
    outputs: &[(&str, &dyn Bindable)],
) -> Result<Dispatch> {
    let (channels, spatial) = input.planes();
    let params = gpu.uniform(&Params { channels, spatial, ..Params::new(input.x.len(), site.index, config) });
    let (entry, threads) = input.per_element(entries);
    let kernel = kernel(gpu, entry, config)?;
    let mut bindings: Vec<(&str, &dyn Bindable)> =
        vec![("params", &params), ("counter", site.counter), ("bound", site.bound)];
    bindings.extend(input.bindings(op)?);
    bindings.extend_from_slice(outputs);
    gpu.dispatch_1d(&kernel, &bindings, threads)
}

/// Diagnostics: the first `bits.len()` random words of a site's stream for the counter's
/// (seed, step) (u32, counter c = 2 element + lane) and the uniforms in (0, 1) made of them.
pub fn stream(gpu: &Gpu, site: u32, counter: &Tensor, bits: &Tensor, units: &Tensor) -> Result<Dispatch> {
    let op = "noisy relu stream";
    expect_shape(op, "counter", counter, &[COUNTER_LEN])?;
    same_shape(op, &[("bits", bits), ("units", units)])?;
    let config = NoiseConfig::new(1);
    let params = gpu.uniform(&Params::new(bits.len(), site, &config));
    let kernel = kernel(gpu, "stream", &config)?;
    let bindings: &[(&str, &dyn Bindable)] =
        &[("params", &params), ("counter", counter), ("stream_bits", bits), ("stream_units", units)];
    gpu.dispatch_1d(&kernel, bindings, bits.len())
}
