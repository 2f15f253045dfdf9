use std::path::PathBuf;

use clap::Args;

use crate::evaluation::TrainedRun;
use crate::gpu::{Gpu, GpuOptions, MIB};
use crate::nn::Mode;

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
    let gpu = Gpu::new(gpu_options)?;
    let run = TrainedRun::open(&gpu, &args.checkpoint)?;
    let evaluation = run.evaluator(&gpu)?.evaluate(&run.datasets.test, &run.file.normalization, Mode::Eval)?;
    let totals = evaluation.totals;
    println!(
        "{}: test accuracy {:.2}% ({} images), loss {:.4}, after {} epochs",
        args.checkpoint.display(),
        100.0 * totals.accuracy(),
        totals.samples,
        totals.mean_loss(),
        run.epochs
    );
    eprintln!("GPU memory: {:.2} MiB", gpu.bytes_allocated() as f64 / MIB);
    Ok(())
}
