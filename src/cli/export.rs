use std::path::PathBuf;

use clap::Args;

use crate::allowed::positive;
use crate::export::run::{export_run, write, ExportOptions};
use crate::export::{assignment, torch};
use crate::gpu::{Gpu, GpuOptions};
use crate::pann::calibrate::DEFAULT_MARGIN;
use crate::poly::degrees::ALPHAS;

/// A trained backbone for an HE or MPC pipeline: batch norm folded into the
/// convolutions (FILE_STEM.safetensors), and the layer list, per-site bounds B and the
/// polynomial ReLU of precision alpha (FILE_STEM.json; schema in src/export/manifest.rs).
///
/// Example: `sturdy export --checkpoint runs/fm --alpha 9 --per-site --out exports/fm-a9`
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Run folder written by `sturdy train --out` or `sturdy import`.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// he: the folded network and its polynomials (FILE_STEM.safetensors and .json);
    /// torch: the weights under PyTorch's names (--out is the .safetensors file) for
    /// interop/torch/sturdy_torch.py's `load_state_dict`.
    #[arg(long, value_enum, default_value_t = ExportFormat::He)]
    pub format: ExportFormat,
    /// Precision of the polynomial ReLU (error 2^-alpha on [-1, 1]), at every site that
    /// --site-alphas does not name (--format he only, which needs it).
    #[arg(long, value_parser = clap::value_parser!(u32).range(*ALPHAS.start() as i64..=*ALPHAS.end() as i64))]
    pub alpha: Option<u32>,
    /// A JSON object of site names to alphas (`sturdy sweep --per-site-alpha` writes one
    /// per run: `<run>.site-alphas.json`): those sites get their own polynomial.
    #[arg(long, value_name = "FILE")]
    pub site_alphas: Option<PathBuf>,
    /// One bound per activation site instead of one for the network.
    #[arg(long)]
    pub per_site: bool,
    /// Bounds are this times the largest |x| seen on training data.
    #[arg(long, default_value_t = DEFAULT_MARGIN, value_parser = positive)]
    pub margin: f64,
    /// Training images run through the backbone to calibrate the bounds.
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..))]
    pub calibration_images: u64,
    /// The HE-ready layout: every site's 1/B and the ReLU's 1/2 folded into the weights
    /// (each site receives x / B and returns ReLU(x) / B), each polynomial component on
    /// [-1, 1]; what `interop/openfhe/infer` runs.
    #[arg(long)]
    pub he: bool,
    /// Output path without extension: writes FILE_STEM.safetensors and FILE_STEM.json.
    #[arg(long, value_name = "FILE_STEM")]
    pub out: PathBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    He,
    Torch,
}

pub fn run(args: &ExportArgs, gpu_options: &GpuOptions) -> anyhow::Result<()> {
    let gpu = Gpu::new(gpu_options)?;
    let alpha = match (args.format, args.alpha) {
        (ExportFormat::Torch, _) => {
            crate::export::torch::state_dict::write(&args.out, torch::export_weights(&gpu, &args.checkpoint)?)?;
            println!("exported {} to {} (PyTorch names)", args.checkpoint.display(), args.out.display());
            return Ok(());
        }
        (ExportFormat::He, Some(alpha)) => alpha,
        (ExportFormat::He, None) => anyhow::bail!("--format he needs --alpha (the precision of the polynomial ReLU)"),
    };
    let site_alphas = args.site_alphas.as_deref().map(assignment::read).transpose()?.unwrap_or_default();
    let options = ExportOptions {
        alpha,
        site_alphas,
        site_alphas_origin: args.site_alphas.as_ref().map_or_else(String::new, |p| p.display().to_string()),
        per_site: args.per_site,
        margin: args.margin,
        calibration_images: args.calibration_images as usize,
        he: args.he,
    };
    let export = export_run(&gpu, &args.checkpoint, &args.out, &options)?;
    let [weights, manifest] = write(&args.out, &export)?;
    let bounds = export.manifest.sites.iter().map(|s| s.bound);
    let (lo, hi) = bounds.fold((f32::INFINITY, 0.0f32), |(lo, hi), b| (lo.min(b), hi.max(b)));
    let alphas: Vec<u32> = export.manifest.sites.iter().map(|s| s.alpha).collect();
    eprintln!(
        "exported {} ({} layers, {} sites, B in [{lo:.3}, {hi:.3}], alphas {alphas:?}) to {} and {}",
        args.checkpoint.display(),
        export.manifest.layers.len(),
        export.manifest.sites.len(),
        weights.display(),
        manifest.display()
    );
    Ok(())
}
