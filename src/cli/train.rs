use std::path::PathBuf;

use clap::Args;

use crate::gpu::{Gpu, GpuOptions};
use crate::train::run;
use crate::train::settings::TrainSettings;

/// Train a backbone; writes run.json, metrics.jsonl and checkpoint.safetensors into --out.
///
/// Example: `sturdy train --dataset fashion-mnist --model smallcnn --epochs 5 --out runs/fm`
/// (continue a killed run with `sturdy train --out runs/fm --resume`).
#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    pub settings: TrainSettings,
    /// Folder for the run's files (default: runs/<model>-<dataset>-seed<seed>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue the run in --out from its last checkpoint, with its saved settings.
    #[arg(long)]
    pub resume: bool,
}

impl TrainArgs {
    pub fn out_dir(&self) -> PathBuf {
        self.out.clone().unwrap_or_else(|| {
            let s = &self.settings;
            PathBuf::from(format!("runs/{}-{}-seed{}", s.model, s.dataset.name(), s.seed))
        })
    }
}

pub fn run(args: &TrainArgs, gpu_options: &GpuOptions) -> anyhow::Result<()> {
    let problems = args.settings.problems(&super::flag);
    if !problems.is_empty() {
        anyhow::bail!("{}", problems.join("; "));
    }
    let gpu = Gpu::new(gpu_options)?;
    let out = args.out_dir();
    run::stop_on_signals()?;
    let records = run::train(&gpu, args.settings.run_config(), &out, args.resume)?;
    if let Some(last) = records.last() {
        println!(
            "test accuracy {:.2}% after {} epochs; run in {}",
            100.0 * last.test_accuracy,
            last.epoch,
            out.display()
        );
    }
    Ok(())
}
