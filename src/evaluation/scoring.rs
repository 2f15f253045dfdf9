//! Labels in, loss and accuracy out: the buffers both a training step and an evaluation
//! step score a network's logits with. Totals accumulate on the GPU and are read back
//! only when asked for.

use crate::gpu::{Dispatch, Gpu, Result, Tensor};
use crate::ops::loss;

/// Sums over the batches since the last [`Scoring::take_totals`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Totals {
    pub loss_sum: f64,
    pub correct: f64,
    pub samples: f64,
}

impl Totals {
    pub fn mean_loss(&self) -> f64 {
        self.loss_sum / self.samples
    }

    pub fn accuracy(&self) -> f64 {
        self.correct / self.samples
    }
}

/// A batch's labels, their one-hot targets, the per-sample losses and the running totals.
pub struct Scoring {
    pub labels: Tensor,
    /// One-hot rows of `labels` (zero rows for the padding label `u32::MAX`).
    pub targets: Tensor,
    losses: Tensor,
    totals: Tensor,
    one_hot: Dispatch,
}

impl Scoring {
    pub fn new(gpu: &Gpu, batch: usize, classes: usize) -> Result<Scoring> {
        let labels = gpu.zeros(&[batch])?;
        let targets = gpu.zeros(&[batch, classes])?;
        let one_hot = loss::one_hot(gpu, &labels, &targets)?;
        Ok(Scoring { labels, targets, losses: gpu.zeros(&[batch])?, totals: gpu.zeros(&[loss::STATS_LEN])?, one_hot })
    }

    /// The dispatches scoring `logits` against `targets` (the one-hot ones or a blend of
    /// them) into the totals: the loss (and, given `dlogits`, its gradient), then the sums.
    pub fn score(
        &self,
        gpu: &Gpu,
        logits: &Tensor,
        targets: &Tensor,
        dlogits: Option<&Tensor>,
    ) -> Result<[Dispatch; 2]> {
        Ok([
            loss::forward(gpu, logits, targets, &self.losses, dlogits)?,
            loss::summarise(gpu, logits, targets, &self.losses, &self.totals, loss::Stats::Accumulate)?,
        ])
    }

    /// Makes the one-hot targets of the labels last written: record before scoring.
    pub fn one_hot(&self) -> &Dispatch {
        &self.one_hot
    }

    /// Reads the accumulated loss and accuracy (a synchronisation point) and resets them.
    pub fn take_totals(&self, gpu: &Gpu) -> Result<Totals> {
        let sums = gpu.download::<f32>(&self.totals)?;
        gpu.write(&self.totals, &[0.0f32; loss::STATS_LEN])?;
        Ok(Totals {
            loss_sum: sums[loss::LOSS_SUM] as f64,
            correct: sums[loss::CORRECT] as f64,
            samples: sums[loss::SAMPLES] as f64,
        })
    }
}
