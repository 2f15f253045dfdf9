//! Mixup (Zhang et al., "mixup: Beyond Empirical Risk Minimization", ICLR 2018): each step
//! trains on lambda x + (1 - lambda) x[perm] with targets mixed alike, lambda ~ Beta(a, a)
//! and perm a random permutation of the batch, both drawn on the host by [`MixupSampler`]
//! and written into two small tensors the dispatch stays bound to.
//!
//! Per step: `sampler.upload(gpu, step, &lambda, &perm)?` (or a given draw with
//! [`write_draw`]) before submitting the step that records the dispatch from [`forward`];
//! the loss then reads the mixed targets.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_distr::{Beta, BetaError, Distribution};

use crate::data::rng::derive_seed;
use crate::gpu::{Bindable, Dispatch, Gpu, GpuError, Result, Tensor};

use super::{dim, expect_shape};

crate::uniform! {
    pub(crate) struct Params {
        batch: u32,
        image_len: u32,
        classes: u32,
    }
}

/// mixed_images = lambda images + (1 - lambda) images[perm] (images [N, ...], e.g. NCHW),
/// mixed_targets likewise (targets [N, K], one-hot or soft). `lambda` is f32 [1], `perm`
/// u32 [N] and must be a permutation of 0..N (an index >= N reads an unspecified element).
pub fn forward(
    gpu: &Gpu,
    lambda: &Tensor,
    perm: &Tensor,
    images: &Tensor,
    targets: &Tensor,
    mixed_images: &Tensor,
    mixed_targets: &Tensor,
) -> Result<Dispatch> {
    let op = "mixup";
    let batch = *images.shape().first().unwrap_or(&0);
    let classes = match targets.shape() {
        [n, k] if *n == batch => *k,
        shape => {
            return Err(GpuError::shape(format!(
                "{op}: targets has shape {shape:?}, expected [{batch}, classes] (the batch of images {:?})",
                images.shape()
            )))
        }
    };
    expect_shape(op, "lambda", lambda, &[1])?;
    expect_shape(op, "perm", perm, &[batch])?;
    expect_shape(op, "mixed_images", mixed_images, images.shape())?;
    expect_shape(op, "mixed_targets", mixed_targets, targets.shape())?;
    let image_len = images.len() / batch;
    let params = gpu.uniform(&Params { batch: dim(batch), image_len: dim(image_len), classes: dim(classes) });
    let kernel = gpu.kernel("mixup", "mix", &[])?;
    let bindings: &[(&str, &dyn Bindable)] = &[
        ("params", &params),
        ("lambda", lambda),
        ("perm", perm),
        ("images", images),
        ("targets", targets),
        ("mixed_images", mixed_images),
        ("mixed_targets", mixed_targets),
    ];
    gpu.dispatch_1d(&kernel, bindings, images.len() + targets.len())
}

/// Draws (lambda, perm) for each step. The draw of a step depends only on (seed, step),
/// so a run resumed at step s draws what the original run drew.
#[derive(Clone, Debug)]
pub struct MixupSampler {
    seed: u64,
    /// None when mixup is disabled (a = 0).
    beta: Option<Beta<f64>>,
}

impl MixupSampler {
    /// lambda ~ Beta(alpha, alpha); alpha = 0 disables mixup (lambda = 1, identity
    /// permutation). Fails for a negative or non-finite alpha.
    pub fn new(alpha: f64, seed: u64) -> std::result::Result<Self, BetaError> {
        if !alpha.is_finite() {
            return Err(BetaError::AlphaTooSmall);
        }
        let beta = if alpha == 0.0 { None } else { Some(Beta::new(alpha, alpha)?) };
        Ok(MixupSampler { seed, beta })
    }

    pub fn enabled(&self) -> bool {
        self.beta.is_some()
    }

    /// Fills `perm` with a random permutation of 0..perm.len() and returns lambda in [0, 1].
    pub fn draw(&self, step: u64, perm: &mut [u32]) -> f32 {
        for (i, p) in perm.iter_mut().enumerate() {
            *p = dim(i);
        }
        let Some(beta) = &self.beta else { return 1.0 };
        let mut rng = StdRng::seed_from_u64(derive_seed(self.seed, &[step]));
        let lambda = beta.sample(&mut rng) as f32;
        perm.shuffle(&mut rng);
        lambda
    }

    /// Draws for `step` and writes lambda ([1]) and perm ([N]) for the next submission.
    pub fn upload(&self, gpu: &Gpu, step: u64, lambda: &Tensor, perm: &Tensor) -> Result<f32> {
        let mut order = vec![0u32; perm.len()];
        let value = self.draw(step, &mut order);
        write_draw(gpu, value, &order, lambda, perm)?;
        Ok(value)
    }
}

/// Writes a draw, `value` into `lambda` ([1]) and `order` into `perm` ([N]), for the next
/// submission; fails unless `value` lies in [0, 1] and `order` is a permutation of 0..N.
pub fn write_draw(gpu: &Gpu, value: f32, order: &[u32], lambda: &Tensor, perm: &Tensor) -> Result<()> {
    if !(0.0..=1.0).contains(&value) {
        return Err(GpuError::shape(format!("mixup: lambda {value} is not in [0, 1]")));
    }
    let mut seen = vec![false; perm.len()];
    let is_permutation = order.len() == perm.len()
        && order.iter().all(|&i| seen.get_mut(i as usize).is_some_and(|s| !std::mem::replace(s, true)));
    if !is_permutation {
        return Err(GpuError::shape(format!("mixup: {order:?} is not a permutation of 0..{}", perm.len())));
    }
    gpu.write(lambda, &[value])?;
    gpu.write(perm, order)
}
