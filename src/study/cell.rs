//! A cell of the grid (recipe, weight decay, seed): its stable id and the exact training
//! and sweep settings it runs with.

use crate::data::Augment;
use crate::ops::noisy_relu::NoiseConfig;
use crate::pann::sweep::SweepOptions;
use crate::train::{RunConfig, SgdConfig};

use super::spec::{StudyRecipe, StudySpec, SweepSettings, TrainSettings};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cell {
    pub recipe: StudyRecipe,
    pub weight_decay: f64,
    pub seed: u64,
}

/// The study's cells: each [[grid]] in file order, recipes outermost, seeds innermost.
pub fn cells(spec: &StudySpec) -> Vec<Cell> {
    let mut cells = Vec::new();
    for grid in &spec.grid {
        for &recipe in &grid.recipes {
            for &weight_decay in &grid.weight_decays {
                for &seed in &spec.seeds {
                    cells.push(Cell { recipe, weight_decay, seed });
                }
            }
        }
    }
    cells
}

/// A weight decay as it reads in ids: `5e-3`, `1.5e-4`, `0`.
pub fn weight_decay_label(weight_decay: f64) -> String {
    if weight_decay == 0.0 {
        "0".into()
    } else {
        format!("{weight_decay:e}")
    }
}

impl Cell {
    /// E.g. `mixup-noise_wd1e-4_seed0`: the folder name under `cells/`.
    pub fn id(&self) -> String {
        format!("{}_seed{}", self.group(), self.seed)
    }

    /// The id without the seed: cells that differ only in seed are aggregated under it.
    pub fn group(&self) -> String {
        format!("{}_wd{}", self.recipe.name(), weight_decay_label(self.weight_decay))
    }

    /// The run `sturdy train` would get from the same settings as flags.
    pub fn run_config(&self, t: &TrainSettings) -> RunConfig {
        let (recipe, forced_form) = self.recipe.preset();
        let noise = NoiseConfig {
            region: t.noise_region,
            distribution: t.noise_distribution,
            form: forced_form.unwrap_or(t.noise_form),
            k: t.noise_k as f32,
            alpha_target: t.alpha_target,
            threshold: t.noise_threshold as f32,
        };
        let settings = recipe.settings(t.alpha_target, noise);
        RunConfig {
            dataset: t.dataset,
            data_dir: t.data_dir.clone(),
            train_limit: t.train_limit,
            test_limit: t.test_limit,
            model: t.model,
            width: t.width,
            epochs: t.epochs,
            batch_size: t.batch_size,
            seed: self.seed,
            lr: t.lr,
            schedule: t.schedule,
            warmup_epochs: t.warmup_epochs,
            milestones: t.milestones.clone(),
            gamma: t.gamma,
            sgd: SgdConfig {
                momentum: t.momentum as f32,
                nesterov: t.nesterov,
                weight_decay: self.weight_decay as f32,
                decay_norm: t.decay_norm,
            },
            augment: Augment { crop_padding: t.crop_padding, flip: t.flip },
            recipe,
            mixup_alpha: t.mixup_alpha.unwrap_or(settings.mixup_alpha),
            activation: settings.activation,
        }
    }
}

pub fn sweep_options(s: &SweepSettings) -> SweepOptions {
    SweepOptions {
        alphas: s.alphas.clone(),
        margin: s.margin,
        per_site: s.per_site,
        fixed_bound: s.bound,
        calibration_images: s.calibration_images,
        tolerance: s.tolerance,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::TrainActivation;
    use crate::ops::noisy_relu::Form;
    use crate::train::recipe::Recipe;

    #[test]
    fn ids_are_readable_and_stable() {
        let cell = |recipe, weight_decay| Cell { recipe, weight_decay, seed: 3 }.id();
        assert_eq!(cell(StudyRecipe::MixupNoise, 1e-4), "mixup-noise_wd1e-4_seed3");
        assert_eq!(cell(StudyRecipe::Vanilla, 5e-3), "vanilla_wd5e-3_seed3");
        assert_eq!(cell(StudyRecipe::Replay, 0.0), "replay_wd0_seed3");
        assert_eq!(cell(StudyRecipe::Poly, 1.5e-4), "poly_wd1.5e-4_seed3");
    }

    #[test]
    fn the_cell_sets_weight_decay_and_replay_forces_its_form() {
        let settings = TrainSettings::default();
        let config = Cell { recipe: StudyRecipe::MixupReplay, weight_decay: 0.0, seed: 1 }.run_config(&settings);
        assert_eq!(config.sgd.weight_decay, 0.0);
        assert_eq!(config.recipe, Recipe::MixupNoise);
        assert_eq!(config.mixup_alpha, 1.0);
        assert!(matches!(config.activation, TrainActivation::Noise { config: n, .. } if n.form == Form::Replay));
        let noise = Cell { recipe: StudyRecipe::Noise, weight_decay: 5e-3, seed: 1 }.run_config(&settings);
        assert!(matches!(noise.activation, TrainActivation::Noise { config: n, .. } if n.form == Form::Additive));
        assert_eq!(noise.sgd.weight_decay, 5e-3);
    }
}
