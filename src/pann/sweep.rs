//! `sturdy sweep`: a trained backbone as a PANN at each precision alpha.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{calibrate, Pann};
use crate::evaluation::TrainedRun;
use crate::gpu::{Gpu, MIB};
use crate::nn::Mode;
use crate::poly::cost::ReluCost;
use crate::poly::ReluApprox;

/// The precision whose cost the relative-cost column divides by (Lee et al.'s choice
/// for encrypted ResNet-20).
pub const REFERENCE_ALPHA: u32 = 13;

#[derive(Clone, Debug, PartialEq)]
pub struct SweepOptions {
    pub alphas: Vec<u32>,
    /// Bound = margin x the calibrated max |x|.
    pub margin: f64,
    /// One bound per activation site instead of one for the whole network.
    pub per_site: bool,
    /// A fixed bound for every site instead of calibration.
    pub fixed_bound: Option<f64>,
    /// Training images used for calibration.
    pub calibration_images: usize,
    /// The cheapest alpha whose accuracy is within this of the backbone's is the answer.
    pub tolerance: f64,
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
pub fn sweep_checkpoint(gpu: &Gpu, dir: &Path, options: &SweepOptions) -> anyhow::Result<CheckpointSweep> {
    let allocated_before = gpu.bytes_allocated();
    let run = TrainedRun::open(gpu, dir)?;
    let (normalization, test) = (&run.file.normalization, &run.datasets.test);
    let evaluator = run.evaluator(gpu)?;
    let pann = Pann::new(&evaluator);
    let max_abs = pann.calibrate(&run.datasets.train, normalization, options.calibration_images)?;
    let bounds = match options.fixed_bound {
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
