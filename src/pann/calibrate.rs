use std::sync::Arc;

use crate::data::{BatchPlan, Dataset, EpochBatches, Normalization};
use crate::nn::{Mode, MAX_SITES};
use crate::train::Trainer;

/// Max |x| of every site's input (activation sites and max poolings) over (up to) `images`
/// training images, in evaluation mode (running batch-norm statistics, exact ReLU and max),
/// without augmentation.
pub fn max_abs_per_site(
    trainer: &Trainer,
    train: &Arc<Dataset>,
    normalization: &Normalization,
    images: usize,
) -> anyhow::Result<Vec<f32>> {
    let gpu = trainer.gpu();
    let sites = &trainer.network.sites;
    gpu.write(&sites.max_abs, &vec![0.0f32; MAX_SITES])?;
    let batches = images.div_ceil(trainer.batch_size()).max(1);
    for batch in
        EpochBatches::new(train.clone(), normalization, BatchPlan::evaluation(trainer.batch_size()), 0).take(batches)
    {
        let mut batch = batch;
        pad(trainer, &mut batch.images, &mut batch.labels);
        trainer.eval_step(&batch.images, &batch.labels, Mode::Calibrate)?;
    }
    trainer.take_totals()?;
    let mut max_abs = gpu.download::<f32>(&sites.max_abs)?;
    max_abs.truncate(sites.count());
    Ok(max_abs)
}

/// Pads a last partial batch to the network's batch size with rows that count for
/// nothing (zero images, label u32::MAX).
pub fn pad(trainer: &Trainer, images: &mut Vec<f32>, labels: &mut Vec<u32>) {
    let image_len = trainer.network.input.value.len() / trainer.batch_size();
    images.resize(trainer.batch_size() * image_len, 0.0);
    labels.resize(trainer.batch_size(), u32::MAX);
}

/// Bounds B per site: `margin` times the measured max |x|, each site its own
/// (`per_site`) or all at the largest. Zero maxima (dead sites) get the smallest
/// positive bound so the kernel never divides by zero.
pub fn bounds(max_abs: &[f32], margin: f64, per_site: bool) -> Vec<f32> {
    let global = max_abs.iter().fold(0.0f32, |a, &b| a.max(b));
    max_abs
        .iter()
        .map(|&m| ((if per_site { m } else { global }) as f64 * margin) as f32)
        .map(|b| b.max(f32::MIN_POSITIVE))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_bounds_take_the_largest_site_and_the_margin() {
        assert_eq!(bounds(&[1.0, 4.0, 2.0], 1.5, false), vec![6.0; 3]);
        assert_eq!(bounds(&[1.0, 4.0, 0.0], 2.0, true), vec![2.0, 8.0, f32::MIN_POSITIVE]);
    }
}
