//! Training recipes: presets for the paper's remedies, each default overridable by its flag.

use serde::{Deserialize, Serialize};

use crate::nn::TrainActivation;
use crate::ops::noisy_relu::NoiseConfig;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Recipe {
    /// Exact ReLU, weight decay 5e-4: the usual backbone, the paper's baseline.
    Vanilla,
    /// Mixup (a = 1) with minimal weight decay 1e-4: generalisation without the weight
    /// decay that hurts sturdiness.
    Mixup,
    /// Noise-perturbed ReLU (negative and large inputs) at the target precision, weight decay 5e-4.
    Noise,
    /// Both remedies: noise, Mixup (a = 1) and weight decay 1e-4.
    MixupNoise,
    /// Training through the polynomial at the target precision (the prior work's
    /// approximation-aware baseline), weight decay 5e-4.
    Poly,
}

/// The settings a recipe chooses.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RecipeSettings {
    pub weight_decay: f64,
    pub mixup_alpha: f64,
    pub activation: TrainActivation,
}

impl Recipe {
    /// The recipe's settings for a PANN of precision `alpha_target`, noise shaped by `noise`.
    pub fn settings(self, alpha_target: u32, noise: NoiseConfig) -> RecipeSettings {
        let noise = TrainActivation::Noise { config: NoiseConfig { alpha_target, ..noise }, bound: None };
        let (weight_decay, mixup_alpha, activation) = match self {
            Recipe::Vanilla => (5e-4, 0.0, TrainActivation::Exact),
            Recipe::Mixup => (1e-4, 1.0, TrainActivation::Exact),
            Recipe::Noise => (5e-4, 0.0, noise),
            Recipe::MixupNoise => (1e-4, 1.0, noise),
            Recipe::Poly => (5e-4, 0.0, TrainActivation::Poly { alpha: alpha_target }),
        };
        RecipeSettings { weight_decay, mixup_alpha, activation }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remedies_lower_weight_decay_and_add_their_parts() {
        let noise = NoiseConfig::new(1);
        let vanilla = Recipe::Vanilla.settings(8, noise);
        let both = Recipe::MixupNoise.settings(8, noise);
        assert!(both.weight_decay < vanilla.weight_decay);
        assert!(both.mixup_alpha > 0.0 && vanilla.mixup_alpha == 0.0);
        assert!(matches!(both.activation, TrainActivation::Noise { config, .. } if config.alpha_target == 8));
        assert_eq!(Recipe::Poly.settings(9, noise).activation, TrainActivation::Poly { alpha: 9 });
    }
}
