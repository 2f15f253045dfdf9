//! Polynomial ReLU of a PANN (`shaders/poly_relu.wgsl`): y = x (1 + p(x / B)) / 2 with p
//! the composite sign approximation of a [`ReluApprox`], and its exact derivative.
//!
//! - The coefficients live in a [`PolyCoefficients`] buffer with one block per site, each
//!   sized for the largest composite of every supported alpha, so a sweep rewrites it in
//!   place (every site at one alpha with [`PolyCoefficients::write`], an alpha per site with
//!   [`PolyCoefficients::write_each`]) and keeps its dispatches.
//! - The bound B is a `[1]` f32 tensor the caller owns (a sweep calibrates it per site and
//!   rewrites it with `gpu.write`); it must be positive.
//! - Overflow: inputs with |x| > B (or NaN) are counted into a `[1]` u32 tensor, which
//!   accumulates across dispatches until reset with [`super::fill::fill_u32`]. Their output
//!   is ReLU_alpha(clamp(x, -B, B)): finite, but clipped at about B, so a bound that is too
//!   small shows in the accuracy as well as in the count (exact ReLU would hide it, the raw
//!   polynomial would explode). Backward is the derivative of that function: 0 there.
//!
//! [`max_pool_forward`] is the PANN's 2x2 max pooling from the same polynomial and the same
//! per-site bound tensor: max(max(a, b), max(c, d)) with each max replaced by
//! ((a + b) + (a - b) p((a - b) / D)) / 2 ([`crate::poly::max`]); D per level is
//! [`max_pool_scales`], the error [`max_pool_error_bound`].

use crate::gpu::{Bindable, Dispatch, Gpu, GpuError, Result, Tensor};
use crate::poly::degrees::ALPHAS;
use crate::poly::max::max_error_bound;
use crate::poly::ReluApprox;

use super::batchnorm::ActivationInput;
use super::pool::max_pool_output_shape;
use super::{dim, expect_shape, row_runs, same_shape};

/// Words of the header: the component count, then (1 / r_i, n_i, offset_i) per component.
fn header_words(components: usize) -> usize {
    1 + 3 * components
}

/// The coefficient buffer layout of one approximation (documented in poly_relu.wgsl):
/// `[k, (1/r_i as f32 bits, n_i, offset_i) for each i, c_{i,j} as f32 bits ...]`, where
/// c_{i,j} multiplies T_{2j+1}(y / r_i) and n_i = (degree_i + 1) / 2.
pub fn layout(approx: &ReluApprox) -> Vec<u32> {
    let components = approx.sign().components();
    let mut words = vec![dim(components.len())];
    let mut coefficients = Vec::new();
    let mut offset = header_words(components.len());
    for component in components {
        let odd = component.odd_coeffs();
        words.extend([((1.0 / component.radius()) as f32).to_bits(), dim(odd.len()), dim(offset)]);
        offset += odd.len();
        coefficients.extend(odd.iter().map(|&c| (c as f32).to_bits()));
    }
    words.extend(coefficients);
    words
}

/// The GPU copy of the approximation each site evaluates: one block of
/// [`PolyCoefficients::block_words`] words per site, each holding a [`layout`], so every
/// site can have its own alpha. A site's dispatches read its block (`Params::poly_base`).
pub struct PolyCoefficients {
    tensor: Tensor,
    sites: usize,
}

impl PolyCoefficients {
    /// Words of one site's block: the layout of the largest composite over every supported
    /// alpha.
    pub fn block_words() -> usize {
        ALPHAS.map(|alpha| ReluApprox::get(alpha).map_or(0, |approx| layout(approx).len())).max().unwrap_or(1)
    }

    /// A zeroed buffer for `sites` sites, each of which fits any alpha. Zero components
    /// compose to p(u) = u: write an approximation before use.
    pub fn new(gpu: &Gpu, sites: usize) -> Result<PolyCoefficients> {
        Ok(PolyCoefficients { tensor: gpu.zeros(&[sites.max(1) * Self::block_words()])?, sites: sites.max(1) })
    }

    /// A buffer for `sites` sites, every one holding `approx`.
    pub fn with(gpu: &Gpu, sites: usize, approx: &ReluApprox) -> Result<PolyCoefficients> {
        let coefficients = Self::new(gpu, sites)?;
        coefficients.write(gpu, approx)?;
        Ok(coefficients)
    }

    /// Every site evaluates `approx` (what a uniform sweep and training through the
    /// polynomial use); in place, ordered before the next submission, so dispatches built on
    /// this buffer evaluate the new one.
    pub fn write(&self, gpu: &Gpu, approx: &ReluApprox) -> Result<()> {
        self.write_each(gpu, &vec![approx; self.sites])
    }

    /// Site i evaluates `approxes[i]`; sites beyond the list get zero components.
    pub fn write_each(&self, gpu: &Gpu, approxes: &[&ReluApprox]) -> Result<()> {
        if approxes.len() > self.sites {
            return Err(GpuError::shape(format!(
                "poly relu: {} approximations for a buffer of {} sites",
                approxes.len(),
                self.sites
            )));
        }
        let block = Self::block_words();
        let mut words = vec![0u32; self.tensor.len()];
        for (site, approx) in approxes.iter().enumerate() {
            let layout = layout(approx);
            words[site * block..site * block + layout.len()].copy_from_slice(&layout);
        }
        gpu.write(&self.tensor, &words)
    }

    /// The word where `site`'s block starts, checked against the buffer's site count.
    fn base(&self, op: &str, site: u32) -> Result<u32> {
        match (site as usize) < self.sites {
            true => Ok(dim(site as usize * Self::block_words())),
            false => Err(GpuError::shape(format!("{op}: site {site} has no coefficients ({} sites)", self.sites))),
        }
    }

    pub fn tensor(&self) -> &Tensor {
        &self.tensor
    }
}

crate::uniform! {
    /// The shader's parameter block (`Params` in poly_relu.wgsl); the plane sizes and
    /// `second_scale` are read by the max pooling entry point only.
    #[derive(Default)]
    pub(crate) struct Params {
        len: u32,
        site: u32,
        poly_base: u32,
        height: u32,
        width: u32,
        out_height: u32,
        out_width: u32,
        second_scale: f32,
        channels: u32,
        spatial: u32,
    }
}

/// Dispatches `entry` over `threads`, bound to what every entry point reads (the
/// parameters, with the base of `params.site`'s coefficient block and the input's planes,
/// the coefficients, the bounds, the input) and its own `outputs`.
fn dispatch(
    gpu: &Gpu,
    (op, entry, threads): (&str, &'static str, usize),
    params: Params,
    (coefficients, bound, input): (&PolyCoefficients, &Tensor, ActivationInput),
    outputs: &[(&str, &Tensor)],
) -> Result<Dispatch> {
    check_bound(op, bound, params.site)?;
    let (channels, spatial) = input.planes();
    let params = Params { poly_base: coefficients.base(op, params.site)?, channels, spatial, ..params };
    let kernel = gpu.kernel("poly_relu", entry, &[])?;
    let uniform = gpu.uniform(&params);
    let mut bindings: Vec<(&str, &dyn Bindable)> =
        vec![("params", &uniform), ("poly", &coefficients.tensor), ("bound", bound)];
    bindings.extend(input.bindings(op)?);
    bindings.extend(outputs.iter().map(|&(name, tensor)| (name, tensor as &dyn Bindable)));
    gpu.dispatch_1d(&kernel, &bindings, threads)
}

/// `bound` holds one B per activation site; `site` picks this dispatch's.
fn check_bound(op: &str, bound: &Tensor, site: u32) -> Result<()> {
    match bound.shape() {
        [sites] if (site as usize) < *sites => Ok(()),
        shape => {
            Err(GpuError::shape(format!("{op}: site {site} is outside bound of shape {shape:?} (one B per site)")))
        }
    }
}

/// y = ReLU_alpha(clamp(x, -B, B)) with B = `bound[site]`; counts |x| > B into
/// `overflow[0]`. `x` is a tensor or (an [`ActivationInput`]) a batch norm's input
/// through its normalisation.
pub fn forward<'a>(
    gpu: &Gpu,
    coefficients: &PolyCoefficients,
    bound: &Tensor,
    site: u32,
    x: impl Into<ActivationInput<'a>>,
    y: &Tensor,
    overflow: &Tensor,
) -> Result<Dispatch> {
    const OP: &str = "poly relu forward";
    let input = x.into();
    same_shape(OP, &[("x", input.x), ("y", y)])?;
    expect_shape(OP, "overflow", overflow, &[1])?;
    let params = Params { len: dim(y.len()), site, ..Params::default() };
    let (entry, threads) =
        input.per_element(["forward", "forward_vec4", "forward_normalized", "forward_normalized_vec4"]);
    let outputs = [("y", y), ("y4", y), ("overflow", overflow)];
    dispatch(gpu, (OP, entry, threads), params, (coefficients, bound, input), &outputs)
}

/// dx = dy * d/dx ReLU_alpha(x) = dy ((1 + p(u)) / 2 + u p'(u) / 2), u = x / B, where
/// |x| <= B; dx = 0 where |x| > B (the forward clamps there). Counts nothing. `x` as
/// [`forward`]'s.
pub fn backward<'a>(
    gpu: &Gpu,
    coefficients: &PolyCoefficients,
    bound: &Tensor,
    site: u32,
    x: impl Into<ActivationInput<'a>>,
    dy: &Tensor,
    dx: &Tensor,
) -> Result<Dispatch> {
    const OP: &str = "poly relu backward";
    let input = x.into();
    same_shape(OP, &[("x", input.x), ("dy", dy), ("dx", dx)])?;
    let params = Params { len: dim(dx.len()), site, ..Params::default() };
    let (entry, threads) =
        input.per_element(["backward", "backward_vec4", "backward_normalized", "backward_normalized_vec4"]);
    let outputs = [("dy", dy), ("dx", dx), ("dy4", dy), ("dx4", dx)];
    dispatch(gpu, (OP, entry, threads), params, (coefficients, bound, input), &outputs)
}

/// D2 / D1 of the max pooling: a level-1 max of inputs in [-B, B] is off by at most
/// D1 e_alpha (e_alpha = [`ReluApprox::measured_error`]), so the level-2 difference is at most
/// D1 (1 + 2 e_alpha); 9/8 covers that at every alpha (e_4 = 2^-4.1, so 1 + 2 e_4 = 1.116;
/// kernels-tests check it) with room for f32 rounding, at a cost of 1/8 of the level-2 error.
pub const MAX_POOL_SECOND_SCALE: f64 = 1.125;

/// (D1, D2) of [`max_pool_forward`] for inputs bounded by B: D1 = 2B bounds the level-1
/// differences |a - b| and |c - d|, D2 = 9/8 D1 the level-2 one.
pub fn max_pool_scales(bound: f64) -> [f64; 2] {
    [2.0 * bound, 2.0 * bound * MAX_POOL_SECOND_SCALE]
}

/// Bound on |max_pool_forward - exact 2x2 max| (in exact arithmetic) for inputs in
/// [-B, B]: (D1 + D2) e_alpha. Level 2 adds at most D2 e_alpha to the max of its inputs, and
/// max is 1-Lipschitz in each argument, so the level-1 errors (at most D1 e_alpha each)
/// pass through unamplified.
pub fn max_pool_error_bound(approx: &ReluApprox, bound: f64) -> f64 {
    max_pool_scales(bound).into_iter().map(|scale| max_error_bound(approx, scale)).sum()
}

/// The PANN's 2x2 stride-2 max pooling of x (`[N, C, H, W]`) into y
/// ([`max_pool_output_shape`]: floor on odd sizes), from the polynomial in `coefficients`
/// and B = `bound[site]`, which must bound |x| (see [`max_pool_scales`]). Window differences
/// beyond their D (or NaN), up to three per window, are counted into `overflow[0]` (u32,
/// accumulating until reset) and clamped to [-D, D] before the polynomial. Forward only.
pub fn max_pool_forward(
    gpu: &Gpu,
    coefficients: &PolyCoefficients,
    bound: &Tensor,
    site: u32,
    x: &Tensor,
    y: &Tensor,
    overflow: &Tensor,
) -> Result<Dispatch> {
    const OP: &str = "poly max pool forward";
    let out = max_pool_output_shape(x.shape())?;
    expect_shape(OP, "y", y, &out)?;
    expect_shape(OP, "overflow", overflow, &[1])?;
    let params = Params {
        len: dim(y.len()),
        site,
        poly_base: 0,
        height: dim(x.shape()[2]),
        width: dim(x.shape()[3]),
        out_height: dim(out[2]),
        out_width: dim(out[3]),
        second_scale: MAX_POOL_SECOND_SCALE as f32,
        ..Params::default()
    };
    // A run of up to four outputs of a row a thread.
    let threads = row_runs(y.len(), out[3]);
    let outputs = [("y", y), ("overflow", overflow)];
    dispatch(gpu, (OP, "max_pool_forward", threads), params, (coefficients, bound, x.into()), &outputs)
}
