//! A cell of the grid (recipe, weight decay, noise variant, seed): its stable id and the
//! exact training settings it runs with.

use serde::{Deserialize, Serialize};

use crate::ops::noisy_relu::Distribution;
use crate::train::recipe::Recipe;
use crate::train::settings::TrainSettings;
use crate::train::RunConfig;

/// The noise settings a grid sets for a cell, each replacing the study's `train.noise_*`
/// value; all None (the default) for cells of grids without noise lists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NoiseVariant {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distribution: Option<Distribution>,
}

impl NoiseVariant {
    /// E.g. `k2_t0.25_gaussian`; empty for the default variant.
    pub fn label(&self) -> String {
        let mut parts = Vec::new();
        if let Some(k) = self.k {
            parts.push(format!("k{k}"));
        }
        if let Some(t) = self.threshold {
            parts.push(format!("t{t}"));
        }
        if let Some(d) = self.distribution {
            parts.push(format!("{d:?}").to_lowercase());
        }
        parts.join("_")
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cell {
    pub recipe: Recipe,
    pub weight_decay: f64,
    pub noise: NoiseVariant,
    pub seed: u64,
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
        let group = format!("{}_wd{}", self.recipe, weight_decay_label(self.weight_decay));
        match self.noise.label() {
            label if label.is_empty() => group,
            label => format!("{group}_{label}"),
        }
    }

    /// The run `sturdy train` would get from the same settings as flags: the study's,
    /// with the cell's recipe, weight decay, noise variant and seed.
    pub fn run_config(&self, t: &TrainSettings) -> RunConfig {
        let settings = TrainSettings {
            seed: self.seed,
            recipe: self.recipe,
            weight_decay: Some(self.weight_decay),
            noise_k: self.noise.k.unwrap_or(t.noise_k),
            noise_threshold: self.noise.threshold.unwrap_or(t.noise_threshold),
            noise_distribution: self.noise.distribution.unwrap_or(t.noise_distribution),
            ..t.clone()
        };
        settings.run_config()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::TrainActivation;
    use crate::ops::noisy_relu::Form;

    #[test]
    fn ids_are_readable_and_stable() {
        let cell = |recipe, weight_decay| Cell { recipe, weight_decay, noise: NoiseVariant::default(), seed: 3 }.id();
        assert_eq!(cell(Recipe::MixupNoise, 1e-4), "mixup-noise_wd1e-4_seed3");
        assert_eq!(cell(Recipe::Vanilla, 5e-3), "vanilla_wd5e-3_seed3");
        assert_eq!(cell(Recipe::Replay, 0.0), "replay_wd0_seed3");
        assert_eq!(cell(Recipe::Poly, 1.5e-4), "poly_wd1.5e-4_seed3");
    }

    #[test]
    fn the_cell_sets_weight_decay_and_replay_forces_its_form() {
        let settings = TrainSettings::default();
        let config = Cell { recipe: Recipe::MixupReplay, weight_decay: 0.0, noise: NoiseVariant::default(), seed: 1 }
            .run_config(&settings);
        assert_eq!(config.sgd.weight_decay, 0.0);
        assert_eq!(config.recipe, Recipe::MixupNoise);
        assert_eq!(config.mixup_alpha, 1.0);
        assert!(matches!(config.activation, TrainActivation::Noise { config: n, .. } if n.form == Form::Replay));
        let noise = Cell { recipe: Recipe::Noise, weight_decay: 5e-3, noise: NoiseVariant::default(), seed: 1 }
            .run_config(&settings);
        assert!(matches!(noise.activation, TrainActivation::Noise { config: n, .. } if n.form == Form::Additive));
        assert_eq!(noise.sgd.weight_decay, 5e-3);
    }
}
