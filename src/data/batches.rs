//! Batches for one epoch: a seeded order, augmentation, normalisation to f32, and a
//! background thread that keeps up to [`PREFETCH_DEPTH`] batches ready while the GPU works.
//!
//! Everything random is derived from `(seed, epoch)` and, for augmentation, the batch index,
//! so batch `b` of epoch `e` is the same whichever thread builds it and whenever: a run
//! resumed at epoch `e` sees exactly the batches the original run saw.

use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::rng::{derive_seed, SplitMix64};
use super::{Augment, Dataset, Normalization};

/// Batches queued ahead of the consumer: one being uploaded while the next is ready is
/// enough to hide assembly behind a training step; more only holds memory.
pub const PREFETCH_DEPTH: usize = 2;

/// Sub-stream tags for [`derive_seed`], so shuffling and augmentation never share draws.
const SHUFFLE_STREAM: u64 = 1;
const AUGMENT_STREAM: u64 = 2;

/// How an epoch is cut into batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchPlan {
    pub batch_size: usize,
    /// Drop the final partial batch (training) or keep it (evaluation).
    pub drop_last: bool,
    /// Visit items in a per-epoch seeded order, or in dataset order.
    pub shuffle: bool,
    pub seed: u64,
    pub augment: Augment,
}

impl BatchPlan {
    /// Shuffled, full batches only, with the given augmentation.
    pub fn training(batch_size: usize, seed: u64, augment: Augment) -> Self {
        BatchPlan { batch_size, drop_last: true, shuffle: true, seed, augment }
    }

    /// Dataset order, every item once (last batch may be short), no augmentation.
    pub fn evaluation(batch_size: usize) -> Self {
        BatchPlan { batch_size, drop_last: false, shuffle: false, seed: 0, augment: Augment::NONE }
    }

    pub fn batches_per_epoch(&self, len: usize) -> usize {
        if self.drop_last {
            len / self.batch_size
        } else {
            len.div_ceil(self.batch_size)
        }
    }
}

/// A batch ready for upload: `images` is N x C x H x W normalised f32, `labels` has N entries.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Position of the batch in its epoch.
    pub index: usize,
    pub images: Vec<f32>,
    pub labels: Vec<u32>,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// The order in which epoch `epoch` visits `len` items: a permutation of `0..len` that
/// depends only on `(seed, epoch)`.
pub fn epoch_order(len: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    SplitMix64::new(derive_seed(seed, &[SHUFFLE_STREAM, epoch])).shuffle(&mut order);
    order
}

/// The batches of one epoch, built synchronously (iterate it) or on a background thread
/// ([`EpochBatches::prefetch`]); both give identical batches.
#[derive(Debug, Clone)]
pub struct EpochBatches {
    dataset: Arc<Dataset>,
    tables: Vec<[f32; 256]>,
    plan: BatchPlan,
    epoch: u64,
    order: Vec<usize>,
    next: usize,
    count: usize,
}

impl EpochBatches {
    /// Panics if `batch_size` is 0 or `norm` has a different channel count than `dataset`:
    /// both are programming errors, not bad data.
    pub fn new(dataset: Arc<Dataset>, norm: &Normalization, plan: BatchPlan, epoch: u64) -> Self {
        assert!(plan.batch_size > 0, "batch size must be positive");
        assert_eq!(norm.channels(), dataset.channels, "normalisation statistics are for another channel count");
        let order =
            if plan.shuffle { epoch_order(dataset.len(), plan.seed, epoch) } else { (0..dataset.len()).collect() };
        let count = plan.batches_per_epoch(dataset.len());
        EpochBatches { tables: norm.lookup_tables(), plan, epoch, order, next: 0, count, dataset }
    }

    /// Batch `b` of the epoch (`b < count`), independent of which batches were built before.
    pub fn batch(&self, b: usize) -> Batch {
        let d = &*self.dataset;
        let shape = d.shape();
        let (image_len, plane) = (d.image_len(), d.height * d.width);
        let items = &self.order[b * self.plan.batch_size..((b + 1) * self.plan.batch_size).min(self.order.len())];
        let mut rng = SplitMix64::new(derive_seed(self.plan.seed, &[AUGMENT_STREAM, self.epoch, b as u64]));
        let mut scratch = vec![0u8; image_len];
        let mut images = Vec::with_capacity(items.len() * image_len);
        for &i in items {
            let pixels = if self.plan.augment.is_none() {
                d.image(i)
            } else {
                self.plan.augment.apply(d.image(i), shape, &mut rng, &mut scratch);
                &scratch
            };
            for (c, values) in pixels.chunks_exact(plane).enumerate() {
                let table = &self.tables[c];
                images.extend(values.iter().map(|&v| table[v as usize]));
            }
        }
        Batch { index: b, images, labels: items.iter().map(|&i| d.labels[i]).collect() }
    }

    /// Builds the remaining batches on a background thread, at most [`PREFETCH_DEPTH`] ahead.
    pub fn prefetch(self) -> Prefetch {
        let remaining = self.len();
        let (tx, rx) = sync_channel(PREFETCH_DEPTH);
        let handle = std::thread::Builder::new()
            .name("sturdy-batches".to_string())
            .spawn(move || {
                for batch in self {
                    // The consumer hung up (epoch abandoned): stop building.
                    if tx.send(batch).is_err() {
                        break;
                    }
                }
            })
            .expect("cannot spawn the batch thread");
        Prefetch { rx: Some(rx), handle: Some(handle), remaining }
    }
}

impl Iterator for EpochBatches {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        if self.next >= self.count {
            return None;
        }
        self.next += 1;
        Some(self.batch(self.next - 1))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.count - self.next;
        (left, Some(left))
    }
}

impl ExactSizeIterator for EpochBatches {}

/// Batches arriving from the background thread, in order.
#[derive(Debug)]
pub struct Prefetch {
    rx: Option<Receiver<Batch>>,
    handle: Option<JoinHandle<()>>,
    remaining: usize,
}

impl Iterator for Prefetch {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        if self.remaining == 0 {
            return None;
        }
        match self.rx.as_ref()?.recv() {
            Ok(batch) => {
                self.remaining -= 1;
                Some(batch)
            }
            // The thread ended early: only a panic does that; pass it on.
            Err(_) => {
                self.rx = None;
                if let Some(Err(panic)) = self.handle.take().map(JoinHandle::join) {
                    std::panic::resume_unwind(panic);
                }
                None
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        // Hanging up first unblocks a thread waiting to send; then it exits.
        self.rx = None;
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{synthetic, Split};
    use super::*;

    fn dataset(n: usize) -> Arc<Dataset> {
        Arc::new(synthetic::generate("t", Split::Train, [3, 8, 8], 10, n, 4))
    }

    #[test]
    fn each_epoch_is_a_seeded_permutation() {
        let a = epoch_order(1000, 42, 3);
        assert_eq!(a, epoch_order(1000, 42, 3));
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..1000).collect::<Vec<_>>());
        assert_ne!(a, epoch_order(1000, 42, 4));
        assert_ne!(a, epoch_order(1000, 43, 3));
    }

    #[test]
    fn resumed_epoch_reproduces_batches() {
        let set = dataset(37);
        let norm = Normalization::from_dataset(&set);
        let plan = BatchPlan::training(8, 9, Augment::CIFAR);
        // Run epochs 0..3 in sequence, then start afresh at epoch 2 as a resumed run would.
        let sequential: Vec<Vec<Batch>> =
            (0..3).map(|e| EpochBatches::new(set.clone(), &norm, plan, e).collect()).collect();
        let resumed: Vec<Batch> = EpochBatches::new(set.clone(), &norm, plan, 2).collect();
        assert_eq!(resumed, sequential[2]);
        assert_ne!(sequential[1], sequential[2]);
    }

    #[test]
    fn drop_last_in_training_keep_last_in_evaluation() {
        let set = dataset(10);
        let norm = Normalization::identity(3);
        let train: Vec<Batch> =
            EpochBatches::new(set.clone(), &norm, BatchPlan::training(4, 1, Augment::NONE), 0).collect();
        assert_eq!(train.iter().map(Batch::len).collect::<Vec<_>>(), vec![4, 4]);
        let eval: Vec<Batch> = EpochBatches::new(set.clone(), &norm, BatchPlan::evaluation(4), 0).collect();
        assert_eq!(eval.iter().map(Batch::len).collect::<Vec<_>>(), vec![4, 4, 2]);
        let labels: Vec<u32> = eval.iter().flat_map(|b| b.labels.clone()).collect();
        assert_eq!(labels, set.labels);
        assert_eq!(eval[2].images.len(), 2 * 3 * 8 * 8);
        // Identity normalisation is pixel / 255, in dataset order.
        assert_eq!(eval[0].images[5], set.images[5] as f32 / 255.0);
    }

    #[test]
    fn normalised_batches_have_zero_mean_unit_std_per_channel() {
        let set = dataset(300);
        let norm = Normalization::from_dataset(&set);
        let (mut sum, mut sq, mut n) = ([0f64; 3], [0f64; 3], 0f64);
        for batch in EpochBatches::new(set.clone(), &norm, BatchPlan::evaluation(64), 0) {
            for image in batch.images.chunks_exact(3 * 64) {
                for (c, plane) in image.chunks_exact(64).enumerate() {
                    sum[c] += plane.iter().map(|&v| v as f64).sum::<f64>();
                    sq[c] += plane.iter().map(|&v| (v as f64).powi(2)).sum::<f64>();
                }
                n += 64.0;
            }
        }
        for c in 0..3 {
            let mean = sum[c] / n;
            let std = (sq[c] / n - mean * mean).sqrt();
            // f32 lookup values summed in f64: agreement to ~1e-6, checked loosely at 1e-4.
            assert!(mean.abs() < 1e-4, "channel {c} mean {mean}");
            assert!((std - 1.0).abs() < 1e-4, "channel {c} std {std}");
        }
    }

    #[test]
    fn prefetch_matches_synchronous_batches() {
        let set = dataset(103);
        let norm = Normalization::from_dataset(&set);
        let plan = BatchPlan::training(10, 77, Augment::CIFAR);
        let sync: Vec<Batch> = EpochBatches::new(set.clone(), &norm, plan, 5).collect();
        assert_eq!(sync.len(), 10);
        // A consumer slower than the producer on some batches and faster on others.
        let mut prefetched = Vec::new();
        for (i, batch) in EpochBatches::new(set.clone(), &norm, plan, 5).prefetch().enumerate() {
            if i % 3 == 0 {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            prefetched.push(batch);
        }
        assert_eq!(prefetched, sync);
        // Abandoning an epoch part-way stops the thread cleanly.
        let mut partial = EpochBatches::new(set, &norm, plan, 5).prefetch();
        assert_eq!(partial.next().as_ref(), sync.first());
        drop(partial);
    }
}
