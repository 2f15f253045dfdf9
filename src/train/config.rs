//! Everything that defines a training run, saved as `run.json` beside its checkpoint so
//! a run can be resumed, evaluated and exported without repeating its flags.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::recipe::Recipe;
use super::schedule::{Schedule, ScheduleKind};
use super::SgdConfig;
use crate::data::{Augment, DatasetKind, Normalization};
use crate::models::ModelKind;
use crate::nn::TrainActivation;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    pub dataset: DatasetKind,
    pub data_dir: Option<PathBuf>,
    /// Use only the first N training / test images (quick runs); None = all.
    pub train_limit: Option<usize>,
    pub test_limit: Option<usize>,
    pub model: ModelKind,
    pub width: f64,
    pub epochs: usize,
    pub batch_size: usize,
    pub seed: u64,
    pub lr: f64,
    pub schedule: ScheduleKind,
    pub warmup_epochs: f64,
    pub milestones: Vec<usize>,
    pub gamma: f64,
    pub sgd: SgdConfig,
    pub augment: Augment,
    /// The recipe the settings below came from (for the record: the settings rule).
    pub recipe: Recipe,
    /// Beta(a, a) parameter of Mixup; 0 disables it.
    pub mixup_alpha: f64,
    /// What the activation sites compute in training.
    pub activation: TrainActivation,
}

/// `run.json`: the configuration and the dataset's normalisation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunFile {
    pub sturdy_version: String,
    pub config: RunConfig,
    pub normalization: Normalization,
}

pub const RUN_FILE: &str = "run.json";
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";
pub const METRICS_FILE: &str = "metrics.jsonl";

impl RunConfig {
    pub fn schedule(&self, steps_per_epoch: usize) -> Schedule {
        Schedule {
            kind: self.schedule,
            base_lr: self.lr,
            warmup_epochs: self.warmup_epochs,
            milestones: self.milestones.clone(),
            gamma: self.gamma,
            epochs: self.epochs,
            steps_per_epoch,
        }
    }
}

impl RunFile {
    pub fn save(&self, dir: &Path) -> anyhow::Result<()> {
        let json = serde_json::to_vec_pretty(self)?;
        let path = dir.join(RUN_FILE);
        crate::atomic::write_file(&path, &json).with_context(|| format!("writing {}", path.display()))
    }

    pub fn load(dir: &Path) -> anyhow::Result<RunFile> {
        let path = dir.join(RUN_FILE);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!("cannot read {}: is {} a folder written by `sturdy train --out`?", path.display(), dir.display())
        })?;
        serde_json::from_str(&text).with_context(|| format!("{} is not a valid sturdy run file", path.display()))
    }
}
