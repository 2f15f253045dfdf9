use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Args;

use crate::allowed::positive;
use crate::data::{self, BatchPlan, DatasetKind, EpochBatches, Split};
use crate::evaluation::predictions::{self, npy, Prediction};
use crate::export::forward::{Clamp, CpuNetwork, SiteFunction};
use crate::export::load;
use crate::export::run::{export_run, Export, ExportOptions};
use crate::gpu::{Gpu, GpuOptions};
use crate::pann::calibrate::DEFAULT_MARGIN;
use crate::poly::degrees::ALPHAS;

/// Per-image logits of a run or of an export, evaluated by sturdy's f64 reference (the CPU
/// forward pass of the export, each site with its own polynomial and bound): what an HE or
/// MPC pipeline compares its own logits with, image by image.
///
/// With --checkpoint RUN: the run's backbone, or with --alpha its PANN (bounds calibrated
/// on training data as `sturdy sweep` and `sturdy export` do: --margin, --per-site). With
/// --export STEM: that export as written.
///
/// Writes `index,label,predicted,logit_0,...` rows (--out FILE.csv) or the logits as a
/// NumPy array (--out FILE.npy).
///
/// Examples: `sturdy predict --checkpoint runs/fm --alpha 7 --no-clamp --limit 100 --out fm-a7.csv`,
/// `sturdy predict --export exports/fm-a7 --no-clamp --limit 10 --out fm-a7.csv`
#[derive(Args, Debug)]
pub struct PredictArgs {
    /// A run folder written by `sturdy train --out` or `sturdy import`.
    #[arg(long, conflicts_with = "export", required_unless_present = "export")]
    pub checkpoint: Option<PathBuf>,
    /// With --checkpoint: the PANN of this precision at every site (4..=20) [default: the
    /// backbone, exact ReLUs].
    #[arg(long, conflicts_with = "export", value_parser = clap::value_parser!(u32).range(*ALPHAS.start() as i64..=*ALPHAS.end() as i64))]
    pub alpha: Option<u32>,
    /// With --checkpoint and --alpha: one bound per site instead of one for the network.
    #[arg(long, requires = "alpha")]
    pub per_site: bool,
    /// With --checkpoint and --alpha: bounds are this times the largest |x| seen on training data.
    #[arg(long, requires = "alpha", default_value_t = DEFAULT_MARGIN, value_parser = positive)]
    pub margin: f64,
    /// With --checkpoint and --alpha: training images run through the backbone to calibrate the bounds.
    #[arg(long, requires = "alpha", default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..))]
    pub calibration_images: u64,
    /// An export's file stem, as given to `sturdy export --out` (reads STEM.json and the
    /// weights it names).
    #[arg(long, value_name = "FILE_STEM")]
    pub export: Option<PathBuf>,
    /// Evaluate the polynomial wherever a site's input lies, as encryption does, instead of
    /// clamping it to the bound; images with an input beyond a bound are counted.
    #[arg(long)]
    pub no_clamp: bool,
    /// Dataset to read images from [default: the export's].
    #[arg(long, value_enum)]
    pub dataset: Option<DatasetKind>,
    /// Folder holding the dataset's files [default: as `sturdy train`].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Which split: test or train.
    #[arg(long, default_value = "test", value_parser = parse_split)]
    pub split: Split,
    /// Only the first N images.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,
    /// Output: .csv (per-image rows) or .npy (the logits, [N, classes], f64).
    #[arg(long)]
    pub out: PathBuf,
    /// Also write the normalised images evaluated, as .npy [N, C, H, W] (f64): the exact
    /// inputs, for a pipeline that encrypts them.
    #[arg(long, value_name = "FILE.npy")]
    pub save_inputs: Option<PathBuf>,
}

fn parse_split(text: &str) -> Result<Split, String> {
    match text {
        "test" => Ok(Split::Test),
        "train" => Ok(Split::Train),
        _ => Err(format!("{text:?} is not a split: use test or train")),
    }
}

/// The normalised images (f64, [C, H, W] each) and labels of the first `limit` of a split.
fn images(
    args: &PredictArgs,
    kind: DatasetKind,
    shape: [usize; 3],
    normalization: &data::Normalization,
) -> anyhow::Result<(Vec<Vec<f64>>, Vec<u32>)> {
    let dir = data::resolve_data_dir(kind, args.data_dir.as_deref());
    let mut dataset = data::load(kind, &dir, args.split)?;
    if dataset.shape() != shape {
        bail!(
            "{} images have shape {:?}, the export expects {shape:?}: pass the dataset it was trained on (--dataset)",
            kind.name(),
            dataset.shape()
        );
    }
    if let Some(limit) = args.limit {
        dataset = dataset.truncated(limit as usize);
    }
    let labels = dataset.labels.clone();
    let len = dataset.image_len();
    let batches = EpochBatches::new(Arc::new(dataset), normalization, BatchPlan::evaluation(64), 0);
    let pixels: Vec<f32> = batches.flat_map(|b| b.images).collect();
    Ok((pixels.chunks(len).map(|image| image.iter().map(|&v| v as f64).collect()).collect(), labels))
}

fn write_inputs(path: &Path, shape: [usize; 3], images: &[Vec<f64>]) -> anyhow::Result<()> {
    let values: Vec<f64> = images.concat();
    let bytes = npy(&[images.len(), shape[0], shape[1], shape[2]], &values);
    crate::atomic::write_file(path, &bytes).with_context(|| format!("writing {}", path.display()))
}

/// The export to evaluate, and the function its sites compute: as written (--export), or
/// made from the run in memory (--checkpoint), exact without --alpha.
fn export(args: &PredictArgs, gpu_options: &GpuOptions) -> anyhow::Result<(Export, bool)> {
    let Some(run) = &args.checkpoint else {
        let stem = args.export.as_ref().expect("clap requires --checkpoint or --export");
        return Ok((load::load(stem)?, false));
    };
    let gpu = Gpu::new(gpu_options)?;
    let options = ExportOptions {
        // Without --alpha the sites compute the exact functions: any polynomial stands in,
        // and one calibration batch, since no bound is read.
        alpha: args.alpha.unwrap_or(*ALPHAS.end()),
        site_alphas: Default::default(),
        site_alphas_origin: String::new(),
        per_site: args.per_site,
        margin: args.margin,
        calibration_images: if args.alpha.is_some() { args.calibration_images as usize } else { 1 },
        he: false,
    };
    Ok((export_run(&gpu, run, Path::new("predict"), &options)?, args.alpha.is_none()))
}

pub fn run(args: &PredictArgs, gpu_options: &GpuOptions) -> anyhow::Result<()> {
    let (export, exact) = export(args, gpu_options)?;
    let manifest = &export.manifest;
    let kind = args.dataset.unwrap_or(manifest.source.dataset);
    let (images, labels) = images(args, kind, manifest.input.shape, &manifest.input.normalization)?;
    if let Some(path) = &args.save_inputs {
        write_inputs(path, manifest.input.shape, &images)?;
    }
    let network = CpuNetwork::of_export(manifest, &export.weights);
    let polynomials = manifest.site_polynomials()?;
    let sites = if exact { SiteFunction::Exact } else { SiteFunction::PerSite(&polynomials) };
    let clamp = if args.no_clamp { Clamp::NoClamp } else { Clamp::Clamp };
    let start = Instant::now();
    let (mut rows, mut overflowing) = (Vec::with_capacity(images.len()), 0);
    for (index, (image, &label)) in images.iter().zip(&labels).enumerate() {
        let forward = network.run(image, sites, clamp)?;
        overflowing += usize::from(forward.overflows > 0);
        rows.push(Prediction { index, label, logits: forward.logits });
    }
    predictions::write(&args.out, &rows)?;
    let correct = rows.iter().filter(|p| p.predicted() == p.label as usize).count();
    eprintln!(
        "{} images of {} ({}): accuracy {:.2}%, {overflowing} with an input beyond its bound{}; {:.1} ms/image; wrote {}",
        rows.len(),
        kind.name(),
        args.split,
        100.0 * correct as f64 / rows.len().max(1) as f64,
        if args.no_clamp { "" } else { " (clamped)" },
        1e3 * start.elapsed().as_secs_f64() / rows.len().max(1) as f64,
        args.out.display()
    );
    Ok(())
}
