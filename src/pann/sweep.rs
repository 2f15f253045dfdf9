//! `sturdy sweep`: a trained backbone as a PANN at each precision alpha.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::bail;

use clap::builder::RangedU64ValueParser;
use serde::{Deserialize, Serialize};

use super::no_clamp::{self, PannEvaluation};
use super::per_site::{search, Search, SearchOptions};
use super::pricing::SiteCost;
use super::{calibrate, Pann};
use crate::allowed::{positive, unit_interval, Allowed};
use crate::evaluation::{Evaluation, Evaluator, TrainedRun};
use crate::gpu::{Gpu, MIB};
use crate::nn::Mode;
use crate::poly::cost::{EvaluatorCost, EvaluatorCosts};
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
    #[arg(long, default_value_t = calibrate::DEFAULT_MARGIN, value_parser = positive)]
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
    /// Accuracy of the GPU's PANN, which clamps inputs beyond a site's bound.
    pub accuracy: f64,
    /// What encryption gets: an image with any overflow counts as a failure
    /// (`no_clamp`).
    pub no_clamp_accuracy: f64,
    /// Share of test images where the (clamped) PANN predicts what the backbone predicts.
    pub agreement: f64,
    /// Activations outside their site's bound (and max-pooling window differences outside
    /// theirs), over the whole test set.
    pub overflows: u64,
    /// Test images with at least one overflow.
    pub overflowing_images: u64,
    /// Levels and ciphertext products of one ReLU under OpenFHE's `EvalChebyshevSeries` on
    /// the HE-ready form (`poly::cost::EvaluatorCosts::openfhe`).
    pub depth: u32,
    pub mults: u32,
    /// The same for a depth-optimal schedule: fewer levels, more products.
    pub depth_optimal: EvaluatorCost,
    /// `mults` over those at alpha 13.
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
    /// The cheapest alpha whose no-clamp accuracy is within the tolerance of the backbone's.
    pub cheapest_within_tolerance: Option<u32>,
    /// Where the backbone's test inputs exceed the bounds, the worst site and the margin
    /// that would have avoided it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shortfall: Option<Shortfall>,
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
    pub test_no_clamp_accuracy: f64,
    pub test_agreement: f64,
    pub test_overflows: u64,
    pub test_overflowing_images: u64,
}

/// The backbone's test inputs beyond the bounds (evaluation mode, exact sites).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Shortfall {
    /// The site whose test inputs exceed its bound the most, and by how much (max |x| / B).
    pub site: String,
    pub ratio: f64,
    /// The `--margin` (or, with `--bound`, the bound) that keeps every site's test inputs
    /// within bounds: the one used times `ratio`, rounded up to the hundredth.
    pub suggested: f64,
    pub flag: String,
}

impl Shortfall {
    /// None where every test input lies within its site's bound.
    fn find(names: &[String], test_max_abs: &[f32], bounds: &[f32], options: &SweepSettings) -> Option<Shortfall> {
        let ratios = test_max_abs.iter().zip(bounds).map(|(&m, &b)| m as f64 / b as f64);
        let (worst, ratio) = ratios.enumerate().max_by(|a, b| a.1.total_cmp(&b.1))?;
        let (used, flag) = match options.bound {
            Some(bound) => (bound, "--bound"),
            None => (options.margin, "--margin"),
        };
        (ratio > 1.0).then(|| Shortfall {
            site: names[worst].clone(),
            ratio,
            suggested: (used * ratio * 100.0).ceil() / 100.0,
            flag: flag.into(),
        })
    }

    /// The warning the reports print.
    pub fn warning(&self) -> String {
        format!(
            "warning: test inputs reach {:.3} B at {}; encryption cannot clamp them: {} {} would have kept the \
             backbone's test inputs within bounds",
            self.ratio, self.site, self.flag, self.suggested
        )
    }
}

fn row(alpha: u32, pann: &PannEvaluation, backbone: &Evaluation, labels: &[u32]) -> anyhow::Result<AlphaRow> {
    let approx = ReluApprox::get(alpha)?;
    let costs = EvaluatorCosts::of(&approx.sign().degrees());
    let reference = EvaluatorCosts::of(&ReluApprox::get(REFERENCE_ALPHA)?.sign().degrees()).openfhe;
    Ok(AlphaRow {
        alpha,
        accuracy: pann.clamped.accuracy(),
        no_clamp_accuracy: pann.no_clamp_accuracy(labels),
        agreement: pann.clamped.agreement(backbone),
        overflows: pann.overflows,
        overflowing_images: pann.overflowing_images() as u64,
        depth: costs.openfhe.depth,
        mults: costs.openfhe.products,
        depth_optimal: costs.depth_optimal,
        relative_cost: costs.openfhe.products as f64 / reference.products as f64,
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
    let names: Vec<String> = pann.sites().iter().map(|site| site.name.clone()).collect();
    let test_max_abs = pann.calibrate(test, normalization, test.len())?;
    let shortfall = Shortfall::find(&names, &test_max_abs, &bounds, options);
    if let Some(shortfall) = &shortfall {
        eprintln!("{}: {}", dir.display(), shortfall.warning());
    }
    let mut rows = Vec::new();
    for &alpha in &options.alphas {
        pann.set_alpha(alpha)?;
        let approximated = no_clamp::evaluate(&pann, &evaluator, test, normalization)?;
        rows.push(row(alpha, &approximated, &backbone, &test.labels)?);
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
        .filter(|r| r.no_clamp_accuracy >= backbone.accuracy() - options.tolerance)
        .min_by(|a, b| a.mults.cmp(&b.mults).then(a.alpha.cmp(&b.alpha)))
        .map(|r| r.alpha);
    Ok(CheckpointSweep {
        checkpoint: dir.to_path_buf(),
        backbone_accuracy: backbone.accuracy(),
        bounds: names.into_iter().zip(bounds).collect(),
        rows,
        cheapest_within_tolerance,
        shortfall,
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
    let test = no_clamp::evaluate(pann, evaluator, &run.datasets.test, normalization)?;
    Ok(PerSiteResult {
        search,
        calibration_overlap,
        test_accuracy: test.clamped.accuracy(),
        test_no_clamp_accuracy: test.no_clamp_accuracy(&run.datasets.test.labels),
        test_agreement: test.clamped.agreement(backbone),
        test_overflows: test.overflows,
        test_overflowing_images: test.overflowing_images() as u64,
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
