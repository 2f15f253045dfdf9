//! What encryption computes. Under CKKS a site cannot clamp an input beyond its bound B:
//! the composite explodes there (alpha 9: p(1.01) = -1.0 but p(1.02) = 1.3e9) and takes the
//! image's ciphertext with it. So an image with an overflow anywhere (an input of a ReLU
//! beyond B, a max-pooling difference beyond its D) is a failure of the encrypted PANN.
//!
//! The GPU's PANN clamps and counts. Up to an image's first overflow the clamped PANN
//! computes exactly what an unclamped one does, and an image without overflow is the same
//! in both; so the no-clamp accuracy needs only which images overflow: the correct
//! predictions of the clamped PANN on images that have none. The per-site counters say
//! whether a batch holds one; only then are the sites' inputs read back and each image's
//! checked as the kernels check them.

use std::sync::Arc;

use super::Pann;
use crate::data::{Dataset, Normalization};
use crate::evaluation::{Evaluation, Evaluator};
use crate::nn::{Mode, SiteKind};
use crate::ops::poly_relu::max_pool_scales;
use crate::poly::ReluApprox;
use crate::reference::poly_relu::{max_pool_overflow_count, overflow_count};

/// A PANN pass over a dataset, clamped as the GPU computes it, with what an unclamped
/// (encrypted) evaluation would lose.
#[derive(Clone, Debug, PartialEq)]
pub struct PannEvaluation {
    pub clamped: Evaluation,
    /// Overflowing elements (inputs and max-pooling differences) over the whole pass,
    /// padding rows of a last partial batch included.
    pub overflows: u64,
    /// Per image: whether it overflows at any site.
    pub overflowing: Vec<bool>,
}

impl PannEvaluation {
    pub fn overflowing_images(&self) -> usize {
        self.overflowing.iter().filter(|&&o| o).count()
    }

    /// Share of images predicted correctly without any overflow.
    pub fn no_clamp_accuracy(&self, labels: &[u32]) -> f64 {
        let predictions = self.clamped.predictions.iter().zip(labels).zip(&self.overflowing);
        let correct = predictions.filter(|((p, l), overflowing)| p == l && !**overflowing).count();
        correct as f64 / self.overflowing.len() as f64
    }
}

/// The PANN at its current alphas and bounds over `data` (module doc).
pub fn evaluate(
    pann: &Pann,
    evaluator: &Evaluator,
    data: &Arc<Dataset>,
    normalization: &Normalization,
) -> anyhow::Result<PannEvaluation> {
    let (bounds, inputs) = (pann.bounds(), pann.site_inputs()?);
    let approxes =
        pann.alphas().iter().map(|&alpha| ReluApprox::get(alpha)).collect::<std::result::Result<Vec<_>, _>>()?;
    if bounds.len() != inputs.len() || approxes.len() != inputs.len() {
        anyhow::bail!("the PANN's bounds and alphas must be set before it is evaluated");
    }
    let kinds: Vec<SiteKind> = pann.sites().iter().map(|s| s.kind).collect();
    let gpu = evaluator.gpu();
    let batch = evaluator.batch_size();
    pann.reset_overflows()?;
    let (mut counted, mut overflowing) = (0u64, Vec::with_capacity(data.len()));
    let clamped = evaluator.evaluate_inspecting(data, normalization, Mode::Pann, |real| {
        let total = pann.total_overflows()?;
        let mut flags = vec![false; real];
        if total > counted {
            for (site, input) in inputs.iter().enumerate() {
                let values = gpu.download::<f32>(input)?;
                let per_image = values.len() / batch;
                for (image, flag) in flags.iter_mut().enumerate() {
                    let row: Vec<f64> = values[image * per_image..][..per_image].iter().map(|&v| v as f64).collect();
                    let bound = bounds[site] as f64;
                    *flag |= match kinds[site] {
                        SiteKind::Relu => overflow_count(bound, &row) > 0,
                        SiteKind::Max2x2 => {
                            let [_, c, h, w] = *input.shape() else { unreachable!("max pooling reads NCHW") };
                            max_pool_overflow_count(approxes[site], max_pool_scales(bound), [1, c, h, w], &row) > 0
                        }
                    };
                }
            }
        }
        counted = total;
        overflowing.extend(flags);
        Ok(())
    })?;
    Ok(PannEvaluation { clamped, overflows: counted, overflowing })
}
