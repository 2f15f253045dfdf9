//! `sturdy sweep`: a trained backbone as a PANN at each precision alpha.

use std::path::{Path, PathBuf};

use clap::builder::RangedU64ValueParser;
use serde::{Deserialize, Serialize};

use super::{calibrate, Pann};
use crate::allowed::{positive, unit_interval, Allowed};
use crate::evaluation::TrainedRun;
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
