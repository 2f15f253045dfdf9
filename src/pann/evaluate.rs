use std::sync::Arc;

use super::calibrate::pad;
use crate::data::{BatchPlan, Dataset, EpochBatches, Normalization};
use crate::nn::Mode;
use crate::reference::loss::argmax;
use crate::train::Trainer;

/// A test-set pass: accuracy, each image's predicted class, and (PANN mode) how many
/// activations fell outside their site's bound (and max-pooling differences outside theirs).
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    pub accuracy: f64,
    pub predictions: Vec<u32>,
    pub overflows: u64,
}

impl Evaluation {
    /// Share of images on which two evaluations predict the same class.
    pub fn agreement(&self, other: &Evaluation) -> f64 {
        let same = self.predictions.iter().zip(&other.predictions).filter(|(a, b)| a == b).count();
        same as f64 / self.predictions.len() as f64
    }
}

/// Runs the test set in `mode`, reading the logits back batch by batch.
pub fn evaluate(
    trainer: &Trainer,
    test: &Arc<Dataset>,
    normalization: &Normalization,
    mode: Mode,
) -> anyhow::Result<Evaluation> {
    let gpu = trainer.gpu();
    let counters = trainer.network.overflow_counters();
    for counter in &counters {
        gpu.write(counter, &[0u32])?;
    }
    let logits = &trainer.network.logits().value;
    let classes = logits.shape()[1];
    let mut predictions = Vec::with_capacity(test.len());
    for mut batch in EpochBatches::new(test.clone(), normalization, BatchPlan::evaluation(trainer.batch_size()), 0) {
        let real = batch.labels.len();
        pad(trainer, &mut batch.images, &mut batch.labels);
        trainer.eval_step(&batch.images, &batch.labels, mode)?;
        let values = gpu.download::<f32>(logits)?;
        let rows = values.chunks(classes).take(real);
        predictions.extend(rows.map(|row| argmax(&row.iter().map(|&v| v as f64).collect::<Vec<_>>()) as u32));
    }
    trainer.take_totals()?;
    let correct = predictions.iter().zip(&test.labels).filter(|(p, l)| p == l).count();
    let mut overflows = 0;
    for counter in &counters {
        overflows += gpu.download::<u32>(counter)?[0] as u64;
    }
    Ok(Evaluation { accuracy: correct as f64 / test.len() as f64, predictions, overflows })
}
