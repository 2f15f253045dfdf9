//! One evaluation step and the one pass over a dataset built on it: batches in order,
//! the last partial one padded with rows that count for nothing, the loss and accuracy
//! summed on the GPU and each image's predicted class read back.

use std::sync::Arc;

use super::scoring::{Scoring, Totals};
use crate::data::{Batch, BatchPlan, Dataset, EpochBatches, Normalization};
use crate::gpu::{Dispatch, Gpu, Recorder, Result};
use crate::nn::{Mode, Network};

/// Index of the first largest element (the loss kernel's tie rule).
pub fn argmax(row: &[f32]) -> usize {
    (1..row.len()).fold(0, |best, k| if row[k] > row[best] { k } else { best })
}

/// A pass over a dataset: the summed loss and accuracy, and each image's predicted class.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    pub totals: Totals,
    pub predictions: Vec<u32>,
}

impl Evaluation {
    pub fn accuracy(&self) -> f64 {
        self.totals.accuracy()
    }

    /// Share of images on which two evaluations predict the same class.
    pub fn agreement(&self, other: &Evaluation) -> f64 {
        let same = self.predictions.iter().zip(&other.predictions).filter(|(a, b)| a == b).count();
        same as f64 / self.predictions.len() as f64
    }
}

/// A network (built for training or for inference) with what scoring its logits needs.
pub struct Evaluator<'a> {
    gpu: &'a Gpu,
    network: &'a Network,
    scoring: Scoring,
    score: [Dispatch; 2],
}

impl<'a> Evaluator<'a> {
    pub fn new(gpu: &'a Gpu, network: &'a Network) -> Result<Evaluator<'a>> {
        let logits = &network.logits().value;
        let [batch, classes] = *logits.shape() else { unreachable!("networks end in a linear layer") };
        let scoring = Scoring::new(gpu, batch, classes)?;
        let score = scoring.score(gpu, logits, &scoring.targets, None)?;
        Ok(Evaluator { gpu, network, scoring, score })
    }

    pub fn gpu(&self) -> &'a Gpu {
        self.gpu
    }

    pub fn network(&self) -> &'a Network {
        self.network
    }

    pub fn batch_size(&self) -> usize {
        self.scoring.labels.len()
    }

    /// Evaluates one full batch with running statistics in `mode` (Eval: exact sites;
    /// Calibrate: also measuring each site's max |x|; Pann: approximated sites). Labels of
    /// padding rows must be `u32::MAX`: they count for nothing. Returns without waiting.
    pub fn step(&self, images: &[f32], labels: &[u32], mode: Mode) -> Result<()> {
        self.gpu.write(&self.network.input.value, images)?;
        self.gpu.write(&self.scoring.labels, labels)?;
        let mut recorder = Recorder::new(self.gpu);
        recorder.record(self.scoring.one_hot());
        self.network.record_forward(&mut recorder, mode);
        recorder.record_all(&self.score);
        recorder.submit()
    }

    /// Reads the loss and accuracy accumulated since the last call (a synchronisation
    /// point) and resets them.
    pub fn take_totals(&self) -> Result<Totals> {
        self.scoring.take_totals(self.gpu)
    }

    /// Every image of `data` in `mode`.
    pub fn evaluate(&self, data: &Arc<Dataset>, normalization: &Normalization, mode: Mode) -> Result<Evaluation> {
        self.evaluate_inspecting(data, normalization, mode, |_| Ok(()))
    }

    /// [`Evaluator::evaluate`], calling `inspect` after each batch with the number of its
    /// real rows, while the network still holds that batch's values.
    pub fn evaluate_inspecting(
        &self,
        data: &Arc<Dataset>,
        normalization: &Normalization,
        mode: Mode,
        mut inspect: impl FnMut(usize) -> Result<()>,
    ) -> Result<Evaluation> {
        let logits = &self.network.logits().value;
        let classes = logits.shape()[1];
        let mut predictions = Vec::with_capacity(data.len());
        let batches = EpochBatches::new(data.clone(), normalization, BatchPlan::evaluation(self.batch_size()), 0);
        self.take_totals()?;
        self.run(batches.prefetch(), mode, |real| {
            let values = self.gpu.download::<f32>(logits)?;
            predictions.extend(values.chunks(classes).take(real).map(|row| argmax(row) as u32));
            inspect(real)
        })?;
        Ok(Evaluation { totals: self.take_totals()?, predictions })
    }

    /// Steps through `batches` in `mode`, padding a partial one; after each, `each` gets
    /// the number of its real rows.
    pub fn run(
        &self,
        batches: impl Iterator<Item = Batch>,
        mode: Mode,
        mut each: impl FnMut(usize) -> Result<()>,
    ) -> Result<()> {
        let (batch_size, image_len) = (self.batch_size(), self.network.input.value.len() / self.batch_size());
        for mut batch in batches {
            let real = batch.labels.len();
            batch.images.resize(batch_size * image_len, 0.0);
            batch.labels.resize(batch_size, u32::MAX);
            self.step(&batch.images, &batch.labels, mode)?;
            each(real)?;
        }
        Ok(())
    }
}
