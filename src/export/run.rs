//! A training run folder to an export: calibrate the bounds as `sturdy sweep` does, fold
//! batch norm, attach the polynomial, write both files atomically.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::assignment::{self, Assignment};
use super::fold::fold_network;
use super::he::fold_bounds;
use super::he_cost::network_cost;
use super::manifest::{
    ActivationConvention, Calibration, InputSpec, Layer, Manifest, MaxPoolConvention, SiteBound, Source, FORMAT,
};
use crate::checkpoint::Checkpoint;
use crate::evaluation::TrainedRun;
use crate::gpu::Gpu;
use crate::nn::Op;
use crate::pann::pricing::{site_evaluations, SiteCost};
use crate::pann::{calibrate, Pann};
use crate::poly::export::ReluExport;
use crate::poly::ReluApprox;
use crate::train::config::CHECKPOINT_FILE;

#[derive(Clone, Debug, PartialEq)]
pub struct ExportOptions {
    /// Precision of the polynomial ReLU (of every site the assignment does not name).
    pub alpha: u32,
    /// Per-site alphas (`--site-alphas`), and where they were read from; empty: uniform.
    pub site_alphas: Assignment,
    pub site_alphas_origin: String,
    /// One bound per activation site instead of one for the network.
    pub per_site: bool,
    /// Bound = margin x the calibrated max |x|.
    pub margin: f64,
    /// Training images used for calibration.
    pub calibration_images: usize,
    /// The HE-ready layout (`export::he`): bounds and the ReLU's 1/2 folded into the weights.
    pub he: bool,
}

/// An export in memory: the manifest and the folded weights it names.
pub struct Export {
    pub manifest: Manifest,
    pub weights: Checkpoint,
}

/// `stem` with `extension` appended (not replacing anything after a dot in the stem).
pub fn with_suffix(stem: &Path, extension: &str) -> PathBuf {
    let mut name = OsString::from(stem.as_os_str());
    name.push(format!(".{extension}"));
    PathBuf::from(name)
}

/// Loads the run in `dir`, calibrates its sites' bounds on training data and folds it.
pub fn export_run(gpu: &Gpu, dir: &Path, stem: &Path, options: &ExportOptions) -> anyhow::Result<Export> {
    let run = TrainedRun::open(gpu, dir)?;
    let (config, datasets, normalization) = (&run.file.config, &run.datasets, &run.file.normalization);
    let evaluator = run.evaluator(gpu)?;
    let pann = Pann::new(&evaluator);
    let max_abs = pann.calibrate(&datasets.train, normalization, options.calibration_images)?;
    let bounds = calibrate::bounds(&max_abs, options.margin, options.per_site);
    let names: Vec<String> = pann.sites().iter().map(|site| site.name.clone()).collect();
    let alphas = assignment::resolve(&options.site_alphas, &names, options.alpha, &options.site_alphas_origin)?;
    let sites = pann
        .sites()
        .iter()
        .map(|site| {
            let i = site.index as usize;
            let (name, index, kind, alpha) = (site.name.clone(), site.index, site.kind, alphas[i]);
            let evaluations = site_evaluations(site);
            let cost = SiteCost::Mults.of(alpha, evaluations)?;
            Ok(SiteBound { name, index, max_abs: max_abs[i], bound: bounds[i], kind, alpha, evaluations, cost })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let others: BTreeSet<u32> = alphas.iter().copied().filter(|&a| a != options.alpha).collect();
    let polynomials =
        others.into_iter().map(|alpha| Ok(ReluExport::from(ReluApprox::get(alpha)?))).collect::<anyhow::Result<_>>()?;

    let checkpoint_path = dir.join(CHECKPOINT_FILE);
    let checkpoint = Checkpoint::load(&checkpoint_path)?;
    let (mut ops, mut weights) = fold_network(&run.network.describe(), &checkpoint, &checkpoint_path)?;
    for op in &mut ops {
        if let Op::Relu { site_index, bound, .. } | Op::MaxPool2x2 { site_index, bound, .. } = op {
            *bound = Some(bounds[*site_index as usize]);
        }
    }
    let mut layers: Vec<Layer> = ops.into_iter().map(Layer::from).collect();
    if options.he {
        layers = fold_bounds(&layers, &mut weights, &bounds)?;
    }
    let relu = ReluExport::from(ReluApprox::get(options.alpha)?);
    weights.metadata.insert("format".into(), FORMAT.into());
    weights.metadata.insert("alpha".into(), options.alpha.to_string());

    let batch = evaluator.batch_size();
    let calibration_images = (options.calibration_images.div_ceil(batch).max(1) * batch).min(datasets.train.len());
    let weights_file = with_suffix(stem, "safetensors");
    let mut manifest = Manifest {
        format: FORMAT.into(),
        sturdy_version: env!("CARGO_PKG_VERSION").into(),
        source: Source {
            run: dir.to_path_buf(),
            epochs: run.epochs,
            model: config.model,
            width: config.width,
            dataset: config.dataset,
        },
        weights: weights_file.file_name().context("the output stem has no file name")?.to_string_lossy().into(),
        input: InputSpec { shape: datasets.train.shape(), normalization: normalization.clone() },
        classes: datasets.train.classes,
        activation: ActivationConvention::new(options.he),
        max_pool: MaxPoolConvention::default(),
        calibration: Calibration {
            per_site: options.per_site,
            margin: options.margin,
            images: calibration_images,
            requested_images: options.calibration_images,
        },
        sites,
        relu,
        polynomials,
        he_cost: None,
        layers,
    };
    if options.he {
        manifest.he_cost = Some(network_cost(&manifest)?);
    }
    Ok(Export { manifest, weights })
}

/// Writes `stem.safetensors` and `stem.json`, each atomically; returns their paths.
pub fn write(stem: &Path, export: &Export) -> anyhow::Result<[PathBuf; 2]> {
    let (weights_path, manifest_path) = (with_suffix(stem, "safetensors"), with_suffix(stem, "json"));
    if let Some(parent) = stem.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let weights = export.weights.to_bytes(&weights_path)?;
    let json = serde_json::to_vec_pretty(&export.manifest)?;
    crate::atomic::write_files(&[(&weights_path, &weights), (&manifest_path, &json)])
        .with_context(|| format!("writing {} and {}", weights_path.display(), manifest_path.display()))?;
    Ok([weights_path, manifest_path])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_are_appended_not_substituted() {
        assert_eq!(with_suffix(Path::new("out/fm.v2"), "json"), PathBuf::from("out/fm.v2.json"));
        assert_eq!(with_suffix(Path::new("fm"), "safetensors"), PathBuf::from("fm.safetensors"));
    }
}
