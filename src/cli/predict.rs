use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Args;

use crate::data::{self, BatchPlan, DatasetKind, EpochBatches, Split};
use crate::evaluation::predictions::{self, npy, Prediction};
use crate::export::forward::{Clamp, CpuNetwork, SiteFunction};
use crate::export::load;

/// Per-image logits of an export, evaluated by sturdy's f64 reference (the CPU forward pass
/// of the export, each site with its own polynomial and bound): what an HE or MPC pipeline
/// compares its own logits with, image by image.
///
/// Writes `index,label,predicted,logit_0,...` rows (--out FILE.csv) or the logits as a
/// NumPy array (--out FILE.npy).
///
/// Example: `sturdy predict --export exports/fm-a7 --no-clamp --limit 10 --out fm-a7.csv`
#[derive(Args, Debug)]
pub struct PredictArgs {
    /// An export's file stem, as given to `sturdy export --out` (reads STEM.json and the
    /// weights it names).
    #[arg(long, value_name = "FILE_STEM")]
    pub export: PathBuf,
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

pub fn run(args: &PredictArgs) -> anyhow::Result<()> {
    let export = load::load(&args.export)?;
    let manifest = &export.manifest;
    let kind = args.dataset.unwrap_or(manifest.source.dataset);
    let (images, labels) = images(args, kind, manifest.input.shape, &manifest.input.normalization)?;
    if let Some(path) = &args.save_inputs {
        write_inputs(path, manifest.input.shape, &images)?;
    }
    let network = CpuNetwork::of_export(manifest, &export.weights);
    let polynomials = manifest.site_polynomials()?;
    let clamp = if args.no_clamp { Clamp::NoClamp } else { Clamp::Clamp };
    let start = Instant::now();
    let (mut rows, mut overflowing) = (Vec::with_capacity(images.len()), 0);
    for (index, (image, &label)) in images.iter().zip(&labels).enumerate() {
        let forward = network.run(image, SiteFunction::PerSite(&polynomials), clamp)?;
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
