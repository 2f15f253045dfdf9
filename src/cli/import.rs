use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::data::Normalization;
use crate::export::torch::import::import;
use crate::gpu::{Gpu, GpuOptions};
use crate::train::settings::TrainSettings;

/// Bring weights trained elsewhere in as a run folder that eval, sweep, export and
/// `train --init-from` accept.
#[derive(Args, Debug)]
pub struct ImportArgs {
    #[command(subcommand)]
    pub source: ImportSource,
}

#[derive(Subcommand, Debug)]
pub enum ImportSource {
    Torch(TorchImportArgs),
}

/// A PyTorch state dict saved with `safetensors.torch.save_file(model.state_dict(), FILE)`
/// from approxCNN's modules (interop/torch/sturdy_torch.py), as a run folder; the other
/// settings are recorded in its run.json as `sturdy train` would.
///
/// Example: `sturdy import torch --weights resnet20.safetensors --model resnet20 --shortcut a
/// --dataset cifar10 --out runs/resnet20-torch`
#[derive(Args, Debug)]
pub struct TorchImportArgs {
    /// The safetensors file.
    #[arg(long, value_name = "FILE")]
    pub weights: PathBuf,
    #[command(flatten)]
    pub settings: TrainSettings,
    /// Per-channel means the model was trained with (default: the dataset's published ones).
    #[arg(long, value_delimiter = ',', requires = "std", allow_negative_numbers = true)]
    pub mean: Option<Vec<f32>>,
    /// Per-channel standard deviations, with --mean.
    #[arg(long, value_delimiter = ',', requires = "mean")]
    pub std: Option<Vec<f32>>,
    /// The new run folder.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: &ImportArgs, gpu_options: &GpuOptions) -> anyhow::Result<()> {
    let ImportSource::Torch(args) = &args.source;
    let problems = args.settings.problems(&super::flag);
    if !problems.is_empty() {
        anyhow::bail!("{}", problems.join("; "));
    }
    let normalization = match (&args.mean, &args.std) {
        (Some(mean), Some(std)) => Some(Normalization { mean: mean.clone(), std: std.clone() }),
        _ => None,
    };
    let gpu = Gpu::new(gpu_options)?;
    import(&gpu, &args.settings.run_config(), &args.weights, normalization, &args.out)?;
    println!("imported {} as a {} run in {}", args.weights.display(), args.settings.model, args.out.display());
    Ok(())
}
