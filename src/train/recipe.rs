//! Training recipes: presets for the paper's remedies, each default overridable by its flag.

use std::fmt;

use clap::ValueEnum;
use serde::{Deserialize, Serialize};

use crate::nn::TrainActivation;
use crate::ops::noisy_relu::{Form, NoiseConfig};

/// One name per recipe, the same in `sturdy train --recipe`, study files and cell ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ValueEnum)]
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
    /// Noise in the replay form (the polynomial's own error times a random gain), weight decay 5e-4.
    Replay,
    /// Replay noise, Mixup (a = 1) and weight decay 1e-4.
    MixupReplay,
}

/// The settings a recipe chooses.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RecipeSettings {
    pub weight_decay: f64,
    pub mixup_alpha: f64,
    pub activation: TrainActivation,
}

impl Recipe {
    /// The recipe's settings for a PANN of precision `alpha_target`, noise shaped by `noise`
    /// (the replay recipes replace its form).
    pub fn settings(self, alpha_target: u32, noise: NoiseConfig) -> RecipeSettings {
        let perturbed =
            |form| TrainActivation::Noise { config: NoiseConfig { alpha_target, form, ..noise }, bound: None };
        let (weight_decay, mixup_alpha, activation) = match self {
            Recipe::Vanilla => (5e-4, 0.0, TrainActivation::Exact),
            Recipe::Mixup => (1e-4, 1.0, TrainActivation::Exact),
            Recipe::Noise => (5e-4, 0.0, perturbed(noise.form)),
            Recipe::MixupNoise => (1e-4, 1.0, perturbed(noise.form)),
            Recipe::Poly => (5e-4, 0.0, TrainActivation::Poly { alpha: alpha_target }),
            Recipe::Replay => (5e-4, 0.0, perturbed(Form::Replay)),
            Recipe::MixupReplay => (1e-4, 1.0, perturbed(Form::Replay)),
        };
        RecipeSettings { weight_decay, mixup_alpha, activation }
    }

    /// The recipe run.json records: a replay recipe as its noise recipe (its activation
    /// says the form), as earlier versions wrote it, so that their runs resume.
    pub fn recorded(self) -> Recipe {
        match self {
            Recipe::Replay => Recipe::Noise,
            Recipe::MixupReplay => Recipe::MixupNoise,
            other => other,
        }
    }

    /// Whether its training perturbs the activations (so noise settings apply).
    pub fn perturbs(self) -> bool {
        matches!(self.recorded(), Recipe::Noise | Recipe::MixupNoise)
    }
}

impl fmt::Display for Recipe {
    /// The name as the user types it, e.g. `mixup-noise`.
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.to_possible_value().expect("no recipe is hidden").get_name())
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

    #[test]
    fn names_are_the_same_on_the_command_line_and_in_files() {
        for recipe in Recipe::value_variants() {
            let json = serde_json::to_string(recipe).unwrap();
            assert_eq!(json, format!("\"{recipe}\""));
        }
        assert_eq!(Recipe::MixupReplay.to_string(), "mixup-replay");
    }
}
