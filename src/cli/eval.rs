use std::path::PathBuf;

use clap::Args;

use crate::gpu::{Gpu, GpuOptions};
use crate::nn::Mode;
use crate::train::{run, RunFile};

/// Test accuracy of a trained run (its folder, holding run.json and checkpoint.safetensors).
///
/// Example: `sturdy eval --checkpoint runs/fm`
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Run folder written by `sturdy train --out`.
    #[arg(long)]
    pub checkpoint: PathBuf,
}

pub fn run(args: &EvalArgs, gpu_options: &GpuOptions) -> anyhow::Result<()> {
    let run_file = RunFile::load(&args.checkpoint)?;
    let gpu = Gpu::new(gpu_options)?;
    let datasets = run::load_datasets(&run_file.config)?;
    let trainer = run::build_trainer(&gpu, &run_file.config, &datasets.train)?;
    let epochs = run::restore_checkpoint(&gpu, &trainer, &args.checkpoint)?;
    if epochs == 0 {
        anyhow::bail!("{} has no checkpoint yet: its first epoch did not finish", args.checkpoint.display());
    }
    let totals = run::evaluate(&trainer, &datasets.test, &run_file.normalization, Mode::Eval)?;
    println!(
        "{}: test accuracy {:.2}% ({} images), loss {:.4}, after {epochs} epochs",
        args.checkpoint.display(),
        100.0 * totals.accuracy(),
        totals.samples,
        totals.mean_loss()
    );
    Ok(())
}
