//! The study file: a TOML description of the experiment grid, with shared training and
//! sweep settings; parsed strictly (unknown keys are errors) and checked key by key.
//!
//! ```toml
//! name = "wd-grid"                 # default: the file's stem
//! out = "studies/wd-grid"          # default: studies/<name>
//! seeds = [0, 1, 2]                # default: [0]
//!
//! [[grid]]                         # each [[grid]] is a product; the study is their union
//! recipes = ["vanilla", "mixup", "noise", "mixup-noise", "poly", "replay"]
//! weight_decays = [5e-3, 5e-4, 1e-4, 0.0]
//! noise_ks = [0.5, 1, 2]           # optional, noise recipes only: each value a cell,
//! noise_thresholds = [0.25, 0.5]   # replacing train.noise_k / noise_threshold /
//! noise_distributions = ["gaussian"] # noise_distribution
//!
//! [train]                          # every key optional: `sturdy train`'s flags and defaults,
//!                                  # less seed, recipe and weight_decay (the grid's) and
//!                                  # noise_bound; --no-crop is crop_padding = 0, --no-flip flip = false
//! dataset = "fashion-mnist"
//! model = "smallcnn"
//! width = 0.5
//! epochs = 10
//! batch_size = 128
//! lr = 0.1
//! train_limit = 10000
//! alpha_target = 8
//!
//! [sweep]                          # every key optional; defaults are `sturdy sweep`'s
//! alphas = [4, 5, 6, 7, 8, 9, 10]
//! per_site = true
//! margin = 1.1
//! tolerance = 0.01
//! ```

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::cell::{Cell, NoiseVariant};
use super::quick;
use crate::allowed::Allowed;
use crate::ops::noisy_relu::Distribution;
use crate::pann::sweep::SweepSettings;
use crate::settings::Problems;
use crate::train::recipe::Recipe;
use crate::train::settings::TrainSettings;

/// One product of the grid: every recipe with every weight decay, for each of the study's
/// seeds; noise recipes also with every value of each noise list that is not empty.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grid {
    pub recipes: Vec<Recipe>,
    /// These replace the recipes' own weight decays (0 allowed).
    pub weight_decays: Vec<f64>,
    /// Each replaces `train.noise_k` in the noise recipes' cells; empty: `train.noise_k` alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub noise_ks: Vec<f64>,
    /// Likewise for `train.noise_threshold`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub noise_thresholds: Vec<f64>,
    /// Likewise for `train.noise_distribution`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub noise_distributions: Vec<Distribution>,
}

impl Grid {
    /// The product of its noise lists (an empty list: that setting left to `train`).
    fn noise_variants(&self) -> Vec<NoiseVariant> {
        fn options<T: Copy>(values: &[T]) -> Vec<Option<T>> {
            if values.is_empty() {
                vec![None]
            } else {
                values.iter().copied().map(Some).collect()
            }
        }
        let mut variants = Vec::new();
        for k in options(&self.noise_ks) {
            for threshold in options(&self.noise_thresholds) {
                for distribution in options(&self.noise_distributions) {
                    variants.push(NoiseVariant { k, threshold, distribution });
                }
            }
        }
        variants
    }
}

/// The study's cells: each [[grid]] in file order, recipes outermost, then weight decays,
/// noise variants (noise recipes only), seeds innermost.
pub fn cells(spec: &StudySpec) -> Vec<Cell> {
    let mut cells = Vec::new();
    for grid in &spec.grid {
        let variants = grid.noise_variants();
        for &recipe in &grid.recipes {
            let noises = if recipe.perturbs() { variants.as_slice() } else { &[NoiseVariant::default()] };
            for &weight_decay in &grid.weight_decays {
                for &noise in noises {
                    for &seed in &spec.seeds {
                        cells.push(Cell { recipe, weight_decay, noise, seed });
                    }
                }
            }
        }
    }
    cells
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudySpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out: Option<PathBuf>,
    #[serde(default = "default_seeds")]
    pub seeds: Vec<u64>,
    pub grid: Vec<Grid>,
    #[serde(default)]
    pub train: TrainSettings,
    #[serde(default)]
    pub sweep: SweepSettings,
}

fn default_seeds() -> Vec<u64> {
    vec![0]
}

/// A loaded study: its settings with the name and folder resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Study {
    pub name: String,
    /// Where the study was read from (a path, or `quick`), as the user named it.
    pub origin: String,
    pub dir: PathBuf,
    pub spec: StudySpec,
}

impl Study {
    /// `quick` is the built-in study; anything else is a TOML file. `out` overrides the
    /// file's folder.
    pub fn load(origin: &str, out: Option<&Path>) -> anyhow::Result<Study> {
        let (text, stem) = if origin == quick::NAME {
            (quick::TOML.to_string(), quick::NAME.to_string())
        } else {
            let path = Path::new(origin);
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read the study file {origin}"))?;
            let stem = path.file_stem().map_or_else(|| "study".into(), |s| s.to_string_lossy().into_owned());
            (text, stem)
        };
        let spec = StudySpec::parse(&text, origin)?;
        let name = spec.name.clone().unwrap_or(stem);
        let dir =
            out.map(Path::to_path_buf).or_else(|| spec.out.clone()).unwrap_or_else(|| Path::new("studies").join(&name));
        Ok(Study { name, origin: origin.to_string(), dir, spec })
    }

    /// The settings as TOML with every default filled in (parses back to the same study).
    pub fn resolved_toml(&self) -> anyhow::Result<String> {
        let spec = StudySpec { name: Some(self.name.clone()), out: Some(self.dir.clone()), ..self.spec.clone() };
        let body = toml::to_string(&spec).context("writing the study as TOML")?;
        Ok(format!("# sturdy study {}: every setting, defaults filled in\n{body}", self.name))
    }
}

impl StudySpec {
    /// Parses and checks a study; errors name `origin` and the offending key.
    pub fn parse(text: &str, origin: &str) -> anyhow::Result<StudySpec> {
        let spec: StudySpec = toml::from_str(text).map_err(|e| anyhow::anyhow!("{origin}: {e}"))?;
        let problems = spec.problems();
        if !problems.is_empty() {
            anyhow::bail!("{origin}: invalid study settings:\n  {}", problems.join("\n  "));
        }
        Ok(spec)
    }

    /// Every value out of its range, as "`key` = value: what is allowed".
    fn problems(&self) -> Vec<String> {
        let spell = |key: &str| key.to_string();
        let mut p = Problems::new(&spell);
        p.check(!self.grid.is_empty(), "grid", &self.grid, "needs at least one [[grid]] table");
        for (g, grid) in self.grid.iter().enumerate() {
            p.check(!grid.recipes.is_empty(), &format!("grid[{g}].recipes"), &grid.recipes, "must name a recipe");
            let (key, decays) = (format!("grid[{g}].weight_decays"), &grid.weight_decays);
            p.check(!decays.is_empty(), &key, decays, "must hold a weight decay (0 allowed)");
            p.each(&key, decays, Allowed::NonNegative);
            p.each(&format!("grid[{g}].noise_ks"), &grid.noise_ks, Allowed::NonNegative);
            p.each(&format!("grid[{g}].noise_thresholds"), &grid.noise_thresholds, Allowed::UnitInterval);
        }
        p.check(!self.seeds.is_empty(), "seeds", &self.seeds, "must hold a seed");
        if let Some(name) = &self.name {
            let ok = !name.is_empty() && !name.contains(['/', '\\']);
            p.check(ok, "name", name, "must be a non-empty name without slashes");
        }
        p.found.extend(self.train.problems(&|key| format!("train.{key}")));
        p.found.extend(self.sweep.problems(&|key| format!("sweep.{key}")));
        let mut ids = HashSet::new();
        for cell in cells(self) {
            let id = cell.id();
            p.check(ids.insert(id.clone()), "grid", &id, "this cell appears twice");
        }
        let mut seeds = HashSet::new();
        for &seed in &self.seeds {
            p.check(seeds.insert(seed), "seeds", &seed, "appears twice");
        }
        p.found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::TrainActivation;

    const MINIMAL: &str = "[[grid]]\nrecipes = [\"vanilla\", \"replay\"]\nweight_decays = [5e-3, 0.0]\n";

    #[test]
    fn minimal_study_takes_the_commands_defaults() {
        let spec = StudySpec::parse(MINIMAL, "min.toml").unwrap();
        assert_eq!(spec.seeds, vec![0]);
        assert_eq!(spec.train, TrainSettings::default());
        assert_eq!(spec.sweep, SweepSettings::default());
        assert_eq!(spec.grid[0].recipes, vec![Recipe::Vanilla, Recipe::Replay]);
    }

    #[test]
    fn unknown_recipe_names_the_file_the_key_and_the_choices() {
        let text = MINIMAL.replace("\"replay\"", "\"vanila-noise\"");
        let message = format!("{:#}", StudySpec::parse(&text, "grid.toml").unwrap_err());
        for needle in ["grid.toml", "recipes", "vanila-noise", "mixup-noise"] {
            assert!(message.contains(needle), "{needle:?} missing from: {message}");
        }
    }

    #[test]
    fn unknown_key_is_an_error_not_ignored() {
        let text = format!("{MINIMAL}[train]\nepoch = 3\n");
        let message = format!("{:#}", StudySpec::parse(&text, "typo.toml").unwrap_err());
        assert!(message.contains("typo.toml") && message.contains("epoch"), "{message}");
    }

    #[test]
    fn values_out_of_range_name_their_keys() {
        let text = format!("{MINIMAL}[train]\nwidth = -1.0\n[sweep]\nalphas = [3, 8]\n");
        let message = format!("{:#}", StudySpec::parse(&text, "bad.toml").unwrap_err());
        for needle in ["bad.toml", "`train.width` = -1.0", "`sweep.alphas[0]` = 3"] {
            assert!(message.contains(needle), "{needle:?} missing from: {message}");
        }
        let negative = MINIMAL.replace("0.0]", "-1e-4]");
        let message = format!("{:#}", StudySpec::parse(&negative, "neg.toml").unwrap_err());
        assert!(message.contains("`grid[0].weight_decays[1]` = -0.0001"), "{message}");
        let noise = MINIMAL.replace("0.0]\n", "0.0]\nnoise_ks = [-1.0]\nnoise_thresholds = [0.5, 1.5]\n");
        let message = format!("{:#}", StudySpec::parse(&noise, "noise.toml").unwrap_err());
        for needle in ["`grid[0].noise_ks[0]` = -1.0", "`grid[0].noise_thresholds[1]` = 1.5"] {
            assert!(message.contains(needle), "{needle:?} missing from: {message}");
        }
        let wrong_type = format!("{MINIMAL}[train]\nepochs = \"three\"\n");
        let message = format!("{:#}", StudySpec::parse(&wrong_type, "type.toml").unwrap_err());
        assert!(message.contains("type.toml") && message.contains("epochs"), "{message}");
    }

    #[test]
    fn duplicate_cells_are_refused() {
        let text = format!("{MINIMAL}[[grid]]\nrecipes = [\"vanilla\"]\nweight_decays = [0.005]\n");
        let message = format!("{:#}", StudySpec::parse(&text, "dup.toml").unwrap_err());
        assert!(message.contains("vanilla_wd5e-3_seed0") && message.contains("twice"), "{message}");
    }

    #[test]
    fn resolved_toml_parses_back_to_the_same_study() {
        let study = Study::load(quick::NAME, None).unwrap();
        let text = study.resolved_toml().unwrap();
        let again = StudySpec::parse(&text, "printed").unwrap();
        assert_eq!(again.train, study.spec.train);
        assert_eq!(again.sweep, study.spec.sweep);
        assert_eq!(again.grid, study.spec.grid);
        assert_eq!(again.out.as_deref(), Some(study.dir.as_path()));
    }

    #[test]
    fn noise_lists_multiply_noise_recipes_only_and_set_the_noise() {
        let text = "seeds = [0, 1]\n[[grid]]\nrecipes = [\"mixup\", \"mixup-noise\"]\nweight_decays = [1e-4]\n\
                    noise_ks = [0.5, 2]\nnoise_distributions = [\"gaussian\"]\n";
        let spec = StudySpec::parse(text, "noise.toml").unwrap();
        let ids: Vec<String> = cells(&spec).iter().map(Cell::id).collect();
        assert_eq!(
            ids,
            [
                "mixup_wd1e-4_seed0",
                "mixup_wd1e-4_seed1",
                "mixup-noise_wd1e-4_k0.5_gaussian_seed0",
                "mixup-noise_wd1e-4_k0.5_gaussian_seed1",
                "mixup-noise_wd1e-4_k2_gaussian_seed0",
                "mixup-noise_wd1e-4_k2_gaussian_seed1",
            ]
        );
        let config = cells(&spec)[4].run_config(&spec.train);
        let TrainActivation::Noise { config: noise, .. } = config.activation else {
            panic!("a mixup-noise cell trains with noise, got {:?}", config.activation)
        };
        assert_eq!((noise.k, noise.distribution), (2.0, Distribution::Gaussian));
        assert_eq!(noise.threshold as f64, spec.train.noise_threshold);
    }
}
