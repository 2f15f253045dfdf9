//! The dataset layer: standard on-disk formats read into memory, normalisation statistics,
//! augmentation and seeded, prefetched batches.
//!
//! One concern per file:
//! - `dataset.rs`: the in-memory [`Dataset`] (u8 pixels, NCHW) and its [`Split`];
//! - `kind.rs`: [`DatasetKind`], where its files are looked for, and [`load`];
//! - `idx.rs`, `cifar.rs`, `tiny_imagenet.rs`: one reader per file format;
//! - `normalize.rs`: per-channel mean/std from the training set;
//! - `augment.rs`: random crop with zero padding and horizontal flip;
//! - `batches.rs`: per-epoch shuffling, batch assembly and the background prefetcher;
//! - `rng.rs`: the small seeded generator behind shuffling, augmentation and test data;
//! - `synthetic.rs`: writers of small files in every format, for tests;
//! - `error.rs`: [`DataError`], which names the file, the expectation and the fix.

pub mod augment;
pub mod batches;
pub mod cifar;
pub mod dataset;
pub mod error;
pub mod idx;
pub mod kind;
pub mod normalize;
pub mod rng;
pub mod synthetic;
pub mod tiny_imagenet;

pub use augment::Augment;
pub use batches::{epoch_order, Batch, BatchPlan, EpochBatches, Prefetch};
pub use cifar::Cifar100Labels;
pub use dataset::{Dataset, Split};
pub use error::DataError;
pub use kind::{load, load_splits, resolve_data_dir, DatasetKind, DATA_DIR_ENV};
pub use normalize::Normalization;
