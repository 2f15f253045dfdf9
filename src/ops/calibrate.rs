//! Calibration of the sites' bounds B (`shaders/calibrate.wgsl`): the running max |x| of
//! a site's input over the batches seen, one f32 per site in a tensor the caller owns
//! (zero it with `gpu.write` to start a new calibration). Noise scales and polynomial
//! ranges read the same tensor.

use crate::gpu::{Dispatch, Gpu, Result, Tensor};

use super::{dim, expect_site_table};

crate::uniform! {
    /// The shader's parameter block (`Params` in calibrate.wgsl).
    pub(crate) struct Params {
        len: u32,
        site: u32,
    }
}

/// A site's running max |x| that the kernel writing the site's input raises with the
/// values it writes (as [`running_max_abs`] of them would), so that they are not read
/// again to be measured: a training batch norm's statistics (for an activation that
/// normalises x itself), or its normalisation where it adds a residual block's sum
/// ([`batchnorm::Residual`](super::batchnorm::Residual)).
#[derive(Clone, Copy)]
pub struct Measure<'a> {
    pub site: u32,
    /// Running max |x| per site, f32 `[sites]`.
    pub max_abs: &'a Tensor,
}

/// Enough workgroups to fill a large GPU (64k invocations), few enough that their one
/// atomicMax each on a single word costs nothing; beyond that each invocation loops.
const MAX_ABS_GROUPS: usize = 1024;

/// max_abs[site] = max(max_abs[site], max |x|) over all of x (f32, shape [sites]).
/// The running max only grows: zero it to restart. A NaN in x makes the result NaN.
pub fn running_max_abs(gpu: &Gpu, site: u32, x: &Tensor, max_abs: &Tensor) -> Result<Dispatch> {
    expect_site_table("running max |x|", "max_abs", site, max_abs)?;
    let params = gpu.uniform(&Params { len: dim(x.len()), site });
    let kernel = gpu.kernel("calibrate", "max_abs", &[])?;
    let groups = x.len().div_ceil(kernel.workgroup_size()[0] as usize).min(MAX_ABS_GROUPS);
    gpu.dispatch(&kernel, &[("params", &params), ("x", x), ("max_abs_bits", max_abs)], [groups as u32, 1, 1])
}
