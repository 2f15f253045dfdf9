//! Everything that defines a training run, saved as `run.json` beside its checkpoint so
//! a run can be resumed, evaluated and exported without repeating its flags.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::recipe::Recipe;
use super::schedule::{Schedule, ScheduleKind};
use super::SgdConfig;
use crate::allowed::Allowed;
use crate::data::{Augment, DatasetKind, Normalization};
use crate::models::{Model, ModelKind};
use crate::nn::{Shortcut, TrainActivation};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    pub dataset: DatasetKind,
    pub data_dir: Option<PathBuf>,
    /// Use only the first N training / test images (quick runs); None = all.
    pub train_limit: Option<usize>,
    pub test_limit: Option<usize>,
    pub model: ModelKind,
    /// A run.json written before the setting existed reads as the option B it trained with.
    #[serde(default = "Shortcut::before_the_setting")]
    pub shortcut: Shortcut,
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
    /// The run whose weights and running statistics training started from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_from: Option<PathBuf>,
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
    /// The architecture the run trains.
    pub fn architecture(&self) -> Model {
        Model { kind: self.model, shortcut: self.shortcut }
    }

    /// The ranges `sturdy train` enforces on its flags, applied to a configuration read
    /// back from `run.json` (hand-edited or damaged): the error says which field and what
    /// is allowed.
    pub fn validate(&self) -> Result<(), String> {
        let positive = |name: &str, v: f64| Allowed::Positive.check(name, v);
        let in_unit = |name: &str, v: f64| Allowed::UnitInterval.check(name, v);
        let non_negative = |name: &str, v: f64| Allowed::NonNegative.check(name, v);
        positive("width", self.width)?;
        if self.width > crate::models::MAX_WIDTH {
            return Err(format!("width is {}, must be at most {}", self.width, crate::models::MAX_WIDTH));
        }
        positive("lr", self.lr)?;
        non_negative("warmup_epochs", self.warmup_epochs)?;
        in_unit("gamma", self.gamma)?;
        in_unit("sgd.momentum", f64::from(self.sgd.momentum))?;
        non_negative("sgd.weight_decay", f64::from(self.sgd.weight_decay))?;
        non_negative("mixup_alpha", self.mixup_alpha)?;
        if let TrainActivation::Noise { bound: Some(bound), .. } = self.activation {
            positive("activation.noise.bound", f64::from(bound))?;
        }
        if self.sgd.nesterov && self.sgd.momentum == 0.0 {
            return Err("sgd.nesterov needs sgd.momentum > 0".into());
        }
        if self.epochs == 0 {
            return Err("epochs is 0, must be >= 1".into());
        }
        // Batch norm needs two values per channel.
        if self.batch_size < 2 {
            return Err(format!("batch_size is {}, must be >= 2", self.batch_size));
        }
        for (name, limit) in [("train_limit", self.train_limit), ("test_limit", self.test_limit)] {
            if limit == Some(0) {
                return Err(format!("{name} is 0, must be >= 1 (or null for all images)"));
            }
        }
        let [_, height, width] = self.dataset.shape().0;
        if self.augment.crop_padding > height.min(width) {
            return Err(format!(
                "augment.crop_padding is {}, must be at most the image side {} (the CLI uses 0 or 4)",
                self.augment.crop_padding,
                height.min(width)
            ));
        }
        Ok(())
    }

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
        let run: RunFile = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid sturdy run file", path.display()))?;
        run.validate()
            .map_err(|problem| anyhow::anyhow!("{} is not a valid sturdy run file: {problem}", path.display()))?;
        Ok(run)
    }

    /// The configuration's ranges, and a normalisation with one finite mean and one
    /// positive, finite standard deviation per channel of the dataset.
    pub fn validate(&self) -> Result<(), String> {
        self.config.validate().map_err(|problem| format!("config: {problem}"))?;
        let n = &self.normalization;
        let channels = self.config.dataset.shape().0[0];
        if n.mean.len() != channels || n.std.len() != channels {
            return Err(format!(
                "normalization has {} means and {} standard deviations, {} has {channels} channels",
                n.mean.len(),
                n.std.len(),
                self.config.dataset.name()
            ));
        }
        if let Some(m) = n.mean.iter().find(|m| !m.is_finite()) {
            return Err(format!("normalization mean {m} is not finite"));
        }
        if let Some(s) = n.std.iter().find(|&&s| !Allowed::Positive.admits(f64::from(s))) {
            return Err(format!("normalization std {s} must be finite and > 0"));
        }
        Ok(())
    }
}
