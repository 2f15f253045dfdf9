//! `sturdy sweep`: a trained backbone as a PANN at each precision alpha.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::bail;

use clap::builder::RangedU64ValueParser;
use serde::{Deserialize, Serialize};

use super::per_site::{search, Search, SearchOptions};
use super::pricing::SiteCost;
use super::{calibrate, Pann};
use crate::allowed::{positive, unit_interval, Allowed};
use crate::evaluation::{Evaluation, Evaluator, TrainedRun};
use crate::gpu::{Gpu, MIB};
use crate::nn::Mode;
use crate::poly::cost::ReluCost;
use crate::poly::degrees::ALPHAS;
use crate::poly::ReluApprox;
use crate::settings::{defaults, Problems};

/// The precision whose cost the relative-cost column divides by (Lee et al.'s choice
/// for encrypted ResNet-20).
pub const REFERENCE_ALPHA: u32 = 13;

/// How backbones are swept: `sturdy sweep`'s flags, and a study's `[sweep]` table.
#[derive(Clone, Debug, PartialEq, clap::Args, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SweepSettings {
    /// Precisions to evaluate: a range like 4-14 or a list like 6,8,10 (each in 4..=20).
    // `std::vec::Vec` tells clap that one value of the flag is the whole list.
    #[arg(long, default_value = "4-14", value_parser = parse_alphas)]
    pub alphas: std::vec::Vec<u32>,
    /// Bounds are this times the largest |x| seen on training data (>= 1 keeps
    /// training-like inputs in range; test inputs beyond it are counted as overflows).
    #[arg(long, default_value_t = 1.0, value_parser = positive)]
    pub margin: f64,
    /// One bound per activation site (HE folds it into the preceding weights) instead
    /// of one for the network.
    #[arg(long)]
    pub per_site: bool,
    /// Use this bound B for every site instead of calibrating.
    #[arg(long, value_parser = positive)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bound: Option<f64>,
    /// Training images run through the backbone to calibrate the bounds.
    #[arg(long, default_value_t = 5000, value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub calibration_images: usize,
    /// Accuracy drop (a fraction, e.g. 0.01 = 1 point) that still counts as holding.
    #[arg(long, default_value_t = 0.01, value_parser = unit_interval)]
    pub tolerance: f64,
    /// After the uniform sweep, search one alpha per site: from the cheapest uniform alpha
    /// within --tolerance, the cheapest assignment that stays within it, selected on the
    /// last --validation-images training images (the test set gives the final figures).
    #[arg(long)]
    pub per_site_alpha: bool,
    /// How the per-site search prices a site: non-scalar multiplications times its
    /// evaluations per image, or its multiplicative depth.
    #[arg(long, value_enum, default_value_t = SiteCost::Mults)]
    pub site_cost: SiteCost,
    /// Training images held out (the last ones) for the per-site search's selection.
    #[arg(long, default_value_t = 2000, value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub validation_images: usize,
    /// At most this many probes (PANN passes over the validation images) in the per-site
    /// search's descent.
    #[arg(long, default_value_t = 200, value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_probes: usize,
}

impl Default for SweepSettings {
    fn default() -> Self {
        defaults()
    }
}

impl SweepSettings {
    /// Every value out of its range (the flags' parsers refuse them on the command line).
    pub fn problems(&self, spell: &dyn Fn(&str) -> String) -> Vec<String> {
        let mut p = Problems::new(spell);
        p.check(!self.alphas.is_empty(), "alphas", &self.alphas, "must hold an alpha");
        for (i, alpha) in self.alphas.iter().enumerate() {
            p.check(ALPHAS.contains(alpha), &format!("alphas[{i}]"), alpha, "must be in 4..=20");
        }
        p.range("margin", self.margin, Allowed::Positive);
        p.range("tolerance", self.tolerance, Allowed::UnitInterval);
        p.check(self.calibration_images >= 1, "calibration_images", &self.calibration_images, "must be >= 1");
        p.check(self.validation_images >= 1, "validation_images", &self.validation_images, "must be >= 1");
        p.check(self.max_probes >= 1, "max_probes", &self.max_probes, "must be >= 1");
        if let Some(b) = self.bound {
            p.range("bound", b, Allowed::Positive);
        }
        p.found
    }
}

fn parse_alphas(text: &str) -> Result<Vec<u32>, String> {
    let allowed = || format!("alphas must lie in {}..={}", ALPHAS.start(), ALPHAS.end());
    let number =
        |s: &str| s.trim().parse::<u32>().map_err(|_| format!("{s:?} is not an alpha; use e.g. 4-14 or 6,8,10"));
    let alphas: Vec<u32> = match text.split_once('-') {
        Some((lo, hi)) => (number(lo)?..=number(hi)?).collect(),
        None => text.split(',').map(number).collect::<Result<_, _>>()?,
    };
    if alphas.is_empty() {
        return Err(format!("{text:?} names no alpha"));
    }
    match alphas.iter().find(|a| !ALPHAS.contains(a)) {
        Some(a) => Err(format!("alpha {a}: {}", allowed())),
        None => Ok(alphas),
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlphaRow {
    pub alpha: u32,
    pub accuracy: f64,
    /// Share of test images where the PANN predicts what the backbone predicts.
    pub agreement: f64,
    /// Activations outside their site's bound (and max-pooling window differences outside
    /// theirs), over the whole test set.
    pub overflows: u64,
    pub depth: u32,
    pub mults: u32,
    pub relative_cost: f64,
    pub log2_error: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointSweep {
    pub checkpoint: PathBuf,
    pub backbone_accuracy: f64,
    /// (site name, bound B) for every site: activation sites and max poolings.
    pub bounds: Vec<(String, f32)>,
    pub rows: Vec<AlphaRow>,
    /// The smallest alpha whose accuracy is within the tolerance of the backbone's.
    pub cheapest_within_tolerance: Option<u32>,
    /// The per-site search (`--per-site-alpha`) and its assignment's test figures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_site: Option<PerSiteResult>,
}

/// The per-site assignment selected on the validation split, then measured on the test set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PerSiteResult {
    pub search: Search,
    /// Images both in the calibration and the validation split (0 unless the training set
    /// is smaller than the two together).
    pub calibration_overlap: usize,
    pub test_accuracy: f64,
    pub test_agreement: f64,
    pub test_overflows: u64,
}

fn row(alpha: u32, accuracy: f64, agreement: f64, overflows: u64) -> anyhow::Result<AlphaRow> {
    let approx = ReluApprox::get(alpha)?;
    let cost = ReluCost::of(&approx.sign().degrees());
    let reference = ReluCost::of(&ReluApprox::get(REFERENCE_ALPHA)?.sign().degrees());
    Ok(AlphaRow {
        alpha,
        accuracy,
        agreement,
        overflows,
        depth: cost.depth,
        mults: cost.mults,
        relative_cost: cost.relative_to(&reference),
        log2_error: approx.measured_log2_error(),
    })
}

/// Calibrates, evaluates the backbone, then the PANN at every alpha of `options`.
pub fn sweep_checkpoint(gpu: &Gpu, dir: &Path, options: &SweepSettings) -> anyhow::Result<CheckpointSweep> {
    let allocated_before = gpu.bytes_allocated();
    let run = TrainedRun::open(gpu, dir)?;
    let (normalization, test) = (&run.file.normalization, &run.datasets.test);
    let evaluator = run.evaluator(gpu)?;
    let pann = Pann::new(&evaluator);
    let max_abs = pann.calibrate(&run.datasets.train, normalization, options.calibration_images)?;
    let bounds = match options.bound {
        Some(bound) => vec![bound as f32; max_abs.len()],
        None => calibrate::bounds(&max_abs, options.margin, options.per_site),
    };
    pann.set_bounds(&bounds)?;
    let backbone = evaluator.evaluate(test, normalization, Mode::Eval)?;
    let mut rows = Vec::new();
    for &alpha in &options.alphas {
        pann.set_alpha(alpha)?;
        pann.reset_overflows()?;
        let approximated = evaluator.evaluate(test, normalization, Mode::Pann)?;
        let overflows = pann.overflows()?.iter().map(|&n| n as u64).sum();
        rows.push(row(alpha, approximated.accuracy(), approximated.agreement(&backbone), overflows)?);
    }
    // The uniform rows above are the test set's only reading before the search, and the
    // search is not given it: selection sees the validation split alone.
    let per_site = match options.per_site_alpha {
        true => Some(per_site(&pann, &evaluator, &run, options, &backbone)?),
        false => None,
    };
    let allocated = (gpu.bytes_allocated() - allocated_before) as f64 / MIB;
    eprintln!("{}: GPU memory {allocated:.2} MiB", dir.display());
    let cheapest_within_tolerance = rows
        .iter()
        .filter(|r| r.accuracy >= backbone.accuracy() - options.tolerance)
        .min_by(|a, b| a.mults.cmp(&b.mults).then(a.alpha.cmp(&b.alpha)))
        .map(|r| r.alpha);
    Ok(CheckpointSweep {
        checkpoint: dir.to_path_buf(),
        backbone_accuracy: backbone.accuracy(),
        bounds: pann.sites().iter().map(|site| site.name.clone()).zip(bounds).collect(),
        rows,
        cheapest_within_tolerance,
        per_site,
    })
}

/// The per-site search on the last `validation_images` training images, then its
/// assignment on the test set. The calibration images are the first ones.
fn per_site(
    pann: &Pann,
    evaluator: &Evaluator,
    run: &TrainedRun,
    options: &SweepSettings,
    backbone: &Evaluation,
) -> anyhow::Result<PerSiteResult> {
    let (train, normalization) = (&run.datasets.train, &run.file.normalization);
    if options.validation_images >= train.len() {
        bail!("validation_images = {} leaves no training image out of {}", options.validation_images, train.len());
    }
    let validation = Arc::new(train.last(options.validation_images));
    let calibrated =
        (options.calibration_images.div_ceil(evaluator.batch_size()) * evaluator.batch_size()).min(train.len());
    let calibration_overlap = (calibrated + validation.len()).saturating_sub(train.len());
    if calibration_overlap > 0 {
        eprintln!("per-site search: {calibration_overlap} validation images also calibrated the bounds");
    }
    let search_options = SearchOptions {
        validation: &validation,
        normalization,
        alphas: &options.alphas,
        tolerance: options.tolerance,
        pricing: options.site_cost,
        max_probes: options.max_probes,
    };
    let search = search(pann, evaluator, &search_options)?;
    pann.reset_overflows()?;
    let test = evaluator.evaluate(&run.datasets.test, normalization, Mode::Pann)?;
    let test_overflows = pann.overflows()?.iter().map(|&n| n as u64).sum();
    Ok(PerSiteResult {
        search,
        calibration_overlap,
        test_accuracy: test.accuracy(),
        test_agreement: test.agreement(backbone),
        test_overflows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alpha_lists_and_ranges_parse_and_are_checked() {
        assert_eq!(parse_alphas("4-6").unwrap(), vec![4, 5, 6]);
        assert_eq!(parse_alphas("9,7").unwrap(), vec![9, 7]);
        assert!(parse_alphas("3-6").unwrap_err().contains("4..=20"));
        assert!(parse_alphas("x").unwrap_err().contains("not an alpha"));
        assert!(parse_alphas("9-7").unwrap_err().contains("no alpha"));
    }
}
