//! A training run's settings as the user gives them: `sturdy train`'s flags and a study's
//! `[train]` table are this one struct; [`TrainSettings::run_config`] resolves them, with
//! the recipe's choices, into the run's configuration.

use std::path::PathBuf;

use clap::builder::{BoolValueParser, TypedValueParser};
use clap::{ArgAction, Args, ValueEnum};
use serde::{Deserialize, Serialize};

use super::recipe::Recipe;
use super::schedule::ScheduleKind;
use super::{RunConfig, SgdConfig};
use crate::allowed::{non_negative, positive, unit_interval, whole, whole_at_least, width, Allowed};
use crate::data::{Augment, DatasetKind};
use crate::models::{ModelKind, MAX_WIDTH};
use crate::nn::{Shortcut, TrainActivation};
use crate::ops::noisy_relu::{Distribution, Form, NoiseConfig, Region};
use crate::poly::degrees::ALPHAS;
use crate::settings::{defaults, Problems};

/// The precision a backbone is trained for unless `--alpha-target` says otherwise.
pub const DEFAULT_ALPHA_TARGET: u32 = 8;

/// `sturdy train`'s flags and a study's `[train]` table. A study file leaves out
/// (`#[serde(skip)]`) what its grid and seeds give each cell (seed, recipe, weight decay)
/// and the noise bound, which only the command line sets.
#[derive(Args, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainSettings {
    /// Dataset to train on.
    #[arg(long, value_enum, default_value = "fashion-mnist")]
    pub dataset: DatasetKind,
    /// Folder of the dataset, or a root holding one folder per dataset
    /// (default: $STURDY_DATA_DIR, ./data/<name>, then /usr/share/datasets/<name>).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// Use only the first N training images (quick runs).
    #[arg(long, value_parser = whole_at_least::<1>, allow_negative_numbers = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub train_limit: Option<u64>,
    /// Use only the first N test images.
    #[arg(long, value_parser = whole_at_least::<1>, allow_negative_numbers = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_limit: Option<u64>,
    /// Architecture.
    #[arg(long, value_enum, default_value = "smallcnn")]
    pub model: ModelKind,
    /// How the residual blocks' shortcuts change shape: a (zero-padded subsampling, no
    /// parameters: the published CIFAR ResNets) or b (1x1 convolution and batch norm).
    #[arg(long, value_enum, default_value_t = Shortcut::default())]
    pub shortcut: Shortcut,
    /// Channel multiplier applied to every layer, in (0, 16].
    #[arg(long, default_value_t = 1.0, value_parser = width, allow_negative_numbers = true)]
    pub width: f64,
    #[arg(long, default_value_t = 10, value_parser = whole_at_least::<1>, allow_negative_numbers = true)]
    pub epochs: u64,
    /// Images per step (at least 2: batch norm needs two values per channel).
    #[arg(long, default_value_t = 128, value_parser = whole_at_least::<2>, allow_negative_numbers = true)]
    pub batch_size: u64,
    /// Seed of weight initialisation, shuffling and augmentation.
    #[arg(long, default_value_t = 0, value_parser = whole_at_least::<0>, allow_negative_numbers = true)]
    #[serde(skip)]
    pub seed: u64,
    /// Peak learning rate.
    #[arg(long, default_value_t = 0.1, value_parser = positive, allow_negative_numbers = true)]
    pub lr: f64,
    #[arg(long, value_enum, default_value = "cosine")]
    pub schedule: ScheduleKind,
    /// Linear warm-up length in epochs (may be fractional).
    #[arg(long, default_value_t = 0.0, value_parser = non_negative, allow_negative_numbers = true)]
    pub warmup_epochs: f64,
    /// Epochs at which the multistep schedule multiplies the rate by --gamma, e.g. 100,150.
    #[arg(long, value_delimiter = ',', default_value = "100,150", value_parser = whole, allow_negative_numbers = true)]
    pub milestones: Vec<usize>,
    #[arg(long, default_value_t = 0.1, value_parser = unit_interval, allow_negative_numbers = true)]
    pub gamma: f64,
    /// SGD momentum in [0, 1].
    #[arg(long, default_value_t = 0.9, value_parser = unit_interval, allow_negative_numbers = true)]
    pub momentum: f64,
    #[arg(long)]
    pub nesterov: bool,
    /// Preset of the sturdiness remedies (see README); the flags below override its choices.
    #[arg(long, value_enum, default_value = "vanilla")]
    #[serde(skip)]
    pub recipe: Recipe,
    /// Precision alpha of the PANN the backbone is trained for (noise scale, poly recipe).
    #[arg(long, default_value_t = DEFAULT_ALPHA_TARGET, value_parser = clap::value_parser!(u32).range(4..=20))]
    pub alpha_target: u32,
    /// L2 weight decay (0 allowed; default from --recipe: 5e-4, or 1e-4 with Mixup);
    /// batch-norm parameters are excluded unless --decay-norm.
    #[arg(long, value_parser = non_negative, allow_negative_numbers = true)]
    #[serde(skip)]
    pub weight_decay: Option<f64>,
    /// Mixup's Beta(a, a) parameter; 0 disables (default from --recipe: 1 or 0).
    #[arg(long, value_parser = non_negative, allow_negative_numbers = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mixup_alpha: Option<f64>,
    /// Where noise is injected: negative inputs, large ones (|x| > threshold * B), both, or all.
    #[arg(long, value_enum, default_value = "both")]
    pub noise_region: Region,
    #[arg(long, value_enum, default_value = "uniform")]
    pub noise_distribution: Distribution,
    /// additive (sigma = k B 2^-alpha), multiplicative (|x| k 2^-alpha) or replay (the
    /// polynomial's own error times a random gain).
    #[arg(long, value_enum, default_value = "additive")]
    pub noise_form: Form,
    /// Noise scale k in units of the polynomial's error bound.
    #[arg(long, default_value_t = 1.0, value_parser = non_negative, allow_negative_numbers = true)]
    pub noise_k: f64,
    /// A fixed bound B for the noise at every site (default: each site's running max |x|).
    #[arg(long, value_parser = positive, allow_negative_numbers = true)]
    #[serde(skip)]
    pub noise_bound: Option<f64>,
    /// "Large" inputs are those above this fraction of the site's bound B.
    #[arg(long, default_value_t = 0.5, value_parser = unit_interval, allow_negative_numbers = true)]
    pub noise_threshold: f64,
    /// Apply weight decay to batch-norm scales and shifts too.
    #[arg(long)]
    pub decay_norm: bool,
    /// Turn off random 4-pixel-padded crops.
    // A study file gives the padding in pixels (0: no crops).
    #[arg(long = "no-crop", action = ArgAction::SetTrue,
          value_parser = BoolValueParser::new().map(|off| if off { 0 } else { Augment::CIFAR.crop_padding }))]
    pub crop_padding: usize,
    /// Start from the weights and running statistics of this run folder (a trained or
    /// imported run of the same model, width and shortcut) with fresh optimiser state:
    /// fine-tuning with any recipe.
    #[arg(long, value_name = "RUN")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_from: Option<PathBuf>,
    /// Turn off random horizontal flips.
    #[arg(long = "no-flip", action = ArgAction::SetFalse)]
    pub flip: bool,
}

impl Default for TrainSettings {
    fn default() -> Self {
        defaults()
    }
}

impl TrainSettings {
    /// The run these settings ask for: the recipe's choices where no setting overrides them.
    pub fn run_config(&self) -> RunConfig {
        let noise = NoiseConfig {
            region: self.noise_region,
            distribution: self.noise_distribution,
            form: self.noise_form,
            k: self.noise_k as f32,
            alpha_target: self.alpha_target,
            threshold: self.noise_threshold as f32,
        };
        let recipe = self.recipe.settings(self.alpha_target, noise);
        let activation = match recipe.activation {
            TrainActivation::Noise { config, .. } => {
                TrainActivation::Noise { config, bound: self.noise_bound.map(|b| b as f32) }
            }
            other => other,
        };
        RunConfig {
            dataset: self.dataset,
            data_dir: self.data_dir.clone(),
            train_limit: self.train_limit.map(|n| n as usize),
            test_limit: self.test_limit.map(|n| n as usize),
            model: self.model,
            shortcut: self.shortcut,
            width: self.width,
            epochs: self.epochs as usize,
            batch_size: self.batch_size as usize,
            seed: self.seed,
            lr: self.lr,
            schedule: self.schedule,
            warmup_epochs: self.warmup_epochs,
            milestones: self.milestones.clone(),
            gamma: self.gamma,
            sgd: SgdConfig {
                momentum: self.momentum as f32,
                nesterov: self.nesterov,
                weight_decay: self.weight_decay.unwrap_or(recipe.weight_decay) as f32,
                decay_norm: self.decay_norm,
            },
            augment: Augment { crop_padding: self.crop_padding, flip: self.flip },
            recipe: self.recipe.recorded(),
            mixup_alpha: self.mixup_alpha.unwrap_or(recipe.mixup_alpha),
            activation,
            init_from: self.init_from.clone(),
        }
    }

    /// Every value out of its range and every rule between settings broken (the flags'
    /// parsers refuse the values out of range on the command line already).
    pub fn problems(&self, spell: &dyn Fn(&str) -> String) -> Vec<String> {
        let mut p = Problems::new(spell);
        let in_width = self.width > 0.0 && self.width <= MAX_WIDTH;
        p.check(in_width, "width", &self.width, &format!("must be in (0, {MAX_WIDTH}]"));
        p.check(self.epochs >= 1, "epochs", &self.epochs, "must be >= 1");
        p.check(self.batch_size >= 2, "batch_size", &self.batch_size, "must be >= 2 (batch norm needs two values)");
        p.range("lr", self.lr, Allowed::Positive);
        p.range("warmup_epochs", self.warmup_epochs, Allowed::NonNegative);
        p.range("gamma", self.gamma, Allowed::UnitInterval);
        p.range("momentum", self.momentum, Allowed::UnitInterval);
        p.check(ALPHAS.contains(&self.alpha_target), "alpha_target", &self.alpha_target, "must be in 4..=20");
        p.range("noise_k", self.noise_k, Allowed::NonNegative);
        p.range("noise_threshold", self.noise_threshold, Allowed::UnitInterval);
        let optional = [
            ("weight_decay", self.weight_decay, Allowed::NonNegative),
            ("mixup_alpha", self.mixup_alpha, Allowed::NonNegative),
            ("noise_bound", self.noise_bound, Allowed::Positive),
        ];
        for (key, value, allowed) in optional {
            if let Some(value) = value {
                p.range(key, value, allowed);
            }
        }
        for (key, limit) in [("train_limit", self.train_limit), ("test_limit", self.test_limit)] {
            if let Some(n) = limit {
                p.check(n >= 1, key, &n, "must be >= 1");
            }
        }
        p.rule(!self.nesterov || self.momentum > 0.0, format!("{} needs {} > 0", p.key("nesterov"), p.key("momentum")));
        let noise_recipes: Vec<String> =
            Recipe::value_variants().iter().filter(|r| r.perturbs()).map(Recipe::to_string).collect();
        let bound_applies = self.noise_bound.is_none() || self.recipe.perturbs();
        let message = format!("{} applies to the noise recipes ({})", p.key("noise_bound"), noise_recipes.join(", "));
        p.rule(bound_applies, message);
        p.found
    }
}
