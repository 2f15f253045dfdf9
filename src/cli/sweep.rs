use std::path::PathBuf;

use clap::Args;

use crate::gpu::{Gpu, GpuOptions};
use crate::pann::report;
use crate::pann::sweep::{sweep_checkpoint, SweepSettings};

/// Accuracy of trained backbones as PANNs at each precision alpha, with the cost of
/// each precision; marks the cheapest alpha within --tolerance of the backbone.
///
/// Example: `sturdy sweep --checkpoint runs/vanilla --checkpoint runs/mixup-noise --alphas 4-14 --out sweeps/fm`
#[derive(Args, Debug)]
pub struct SweepArgs {
    /// Run folder written by `sturdy train --out` (repeat the flag to compare runs).
    #[arg(long, required = true)]
    pub checkpoint: Vec<PathBuf>,
    #[command(flatten)]
    pub settings: SweepSettings,
    /// Folder for sweep.txt, .csv, .json and the plot as .svg and .png.
    #[arg(long, default_value = "sweep")]
    pub out: PathBuf,
}

pub fn run(args: &SweepArgs, gpu_options: &GpuOptions) -> anyhow::Result<()> {
    let gpu = Gpu::new(gpu_options)?;
    let mut sweeps = Vec::new();
    for checkpoint in &args.checkpoint {
        eprintln!("sweeping {} over alpha {:?} ...", checkpoint.display(), args.settings.alphas);
        sweeps.push(sweep_checkpoint(&gpu, checkpoint, &args.settings)?);
        // Written after each checkpoint, so a long sweep keeps what it finished.
        report::write_all(&args.out, &sweeps)?;
    }
    print!("{}", report::table(&sweeps));
    eprintln!("wrote sweep.txt, .csv, .json, .svg and .png to {}", args.out.display());
    Ok(())
}
