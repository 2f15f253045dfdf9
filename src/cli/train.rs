use std::path::PathBuf;

use clap::Args;

use crate::allowed::{non_negative, positive, unit_interval, whole, whole_at_least, width};
use crate::data::{Augment, DatasetKind};
use crate::gpu::{Gpu, GpuOptions};
use crate::models::ModelKind;
use crate::nn::TrainActivation;
use crate::ops::noisy_relu::{Distribution, Form, NoiseConfig, Region};
use crate::train::recipe::Recipe;
use crate::train::schedule::ScheduleKind;
use crate::train::{run, RunConfig, SgdConfig};

/// Train a backbone; writes run.json, metrics.jsonl and checkpoint.safetensors into --out.
///
/// Example: `sturdy train --dataset fashion-mnist --model smallcnn --epochs 5 --out runs/fm`
/// (continue a killed run with `sturdy train --out runs/fm --resume`).
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Dataset to train on.
    #[arg(long, value_enum, default_value = "fashion-mnist")]
    pub dataset: DatasetKind,
    /// Folder of the dataset, or a root holding one folder per dataset
    /// (default: $STURDY_DATA_DIR, ./data/<name>, then /usr/share/datasets/<name>).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Use only the first N training images (quick runs).
    #[arg(long, value_parser = whole_at_least::<1>, allow_negative_numbers = true)]
    pub train_limit: Option<u64>,
    /// Use only the first N test images.
    #[arg(long, value_parser = whole_at_least::<1>, allow_negative_numbers = true)]
    pub test_limit: Option<u64>,
    /// Architecture.
    #[arg(long, value_enum, default_value = "smallcnn")]
    pub model: ModelKind,
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
    pub recipe: Recipe,
    /// Precision alpha of the PANN the backbone is trained for (noise scale, poly recipe).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(4..=20))]
    pub alpha_target: u32,
    /// L2 weight decay (0 allowed; default from --recipe: 5e-4, or 1e-4 with Mixup);
    /// batch-norm parameters are excluded unless --decay-norm.
    #[arg(long, value_parser = non_negative, allow_negative_numbers = true)]
    pub weight_decay: Option<f64>,
    /// Mixup's Beta(a, a) parameter; 0 disables (default from --recipe: 1 or 0).
    #[arg(long, value_parser = non_negative, allow_negative_numbers = true)]
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
    pub noise_bound: Option<f64>,
    /// "Large" inputs are those above this fraction of the site's bound B.
    #[arg(long, default_value_t = 0.5, value_parser = unit_interval, allow_negative_numbers = true)]
    pub noise_threshold: f64,
    /// Apply weight decay to batch-norm scales and shifts too.
    #[arg(long)]
    pub decay_norm: bool,
    /// Turn off random 4-pixel-padded crops.
    #[arg(long)]
    pub no_crop: bool,
    /// Turn off random horizontal flips.
    #[arg(long)]
    pub no_flip: bool,
    /// Folder for the run's files (default: runs/<model>-<dataset>-seed<seed>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue the run in --out from its last checkpoint, with its saved settings.
    #[arg(long)]
    pub resume: bool,
}

impl TrainArgs {
    fn config(&self) -> anyhow::Result<RunConfig> {
        if self.nesterov && self.momentum == 0.0 {
            anyhow::bail!("--nesterov needs --momentum > 0");
        }
        let noise = NoiseConfig {
            region: self.noise_region,
            distribution: self.noise_distribution,
            form: self.noise_form,
            k: self.noise_k as f32,
            alpha_target: self.alpha_target,
            threshold: self.noise_threshold as f32,
        };
        let recipe = self.recipe.settings(self.alpha_target, noise);
        let weight_decay = self.weight_decay.unwrap_or(recipe.weight_decay);
        Ok(RunConfig {
            dataset: self.dataset,
            data_dir: self.data_dir.clone(),
            train_limit: self.train_limit.map(|n| n as usize),
            test_limit: self.test_limit.map(|n| n as usize),
            model: self.model,
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
                weight_decay: weight_decay as f32,
                decay_norm: self.decay_norm,
            },
            augment: Augment { crop_padding: if self.no_crop { 0 } else { 4 }, flip: !self.no_flip },
            recipe: self.recipe,
            mixup_alpha: self.mixup_alpha.unwrap_or(recipe.mixup_alpha),
            activation: self.with_noise_bound(recipe.activation)?,
        })
    }

    fn with_noise_bound(&self, activation: TrainActivation) -> anyhow::Result<TrainActivation> {
        match (activation, self.noise_bound) {
            (TrainActivation::Noise { config, .. }, bound) => {
                Ok(TrainActivation::Noise { config, bound: bound.map(|b| b as f32) })
            }
            (other, None) => Ok(other),
            (_, Some(_)) => anyhow::bail!("--noise-bound applies to the noise recipes (noise, mixup-noise)"),
        }
    }

    pub fn out_dir(&self) -> PathBuf {
        self.out
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("runs/{}-{}-seed{}", self.model, self.dataset.name(), self.seed)))
    }
}

pub fn run(args: &TrainArgs, gpu_options: &GpuOptions) -> anyhow::Result<()> {
    let config = args.config()?;
    let gpu = Gpu::new(gpu_options)?;
    let out = args.out_dir();
    let records = run::train(&gpu, config, &out, args.resume)?;
    if let Some(last) = records.last() {
        println!(
            "test accuracy {:.2}% after {} epochs; run in {}",
            100.0 * last.test_accuracy,
            last.epoch,
            out.display()
        );
    }
    Ok(())
}
