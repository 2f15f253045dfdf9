//! A PyTorch state dict as a run folder that `eval`, `sweep`, `export` and
//! `train --init-from` read: run.json (the settings given, the normalisation) and a
//! checkpoint of the weights and running statistics under sturdy's names.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context};

use super::names::{tensor_names, TensorName};
use super::{network, state_dict};
use crate::checkpoint::{Checkpoint, NamedTensor};
use crate::data::{DatasetKind, Normalization};
use crate::gpu::Gpu;
use crate::train::config::{CHECKPOINT_FILE, RUN_FILE};
use crate::train::run::EPOCH_KEY;
use crate::train::{RunConfig, RunFile};

/// The normalisation PyTorch recipes publish for each dataset (CIFAR-10's as approxCNN
/// uses it; the others the values commonly used with torchvision).
pub fn published_normalization(dataset: DatasetKind) -> Normalization {
    let (mean, std): (&[f32], &[f32]) = match dataset {
        DatasetKind::FashionMnist => (&[0.2860], &[0.3530]),
        DatasetKind::Mnist => (&[0.1307], &[0.3081]),
        DatasetKind::Cifar10 => (&[0.4914, 0.4822, 0.4465], &[0.2023, 0.1994, 0.2010]),
        DatasetKind::Cifar100 => (&[0.5071, 0.4865, 0.4409], &[0.2673, 0.2564, 0.2762]),
        DatasetKind::TinyImageNet => (&[0.4802, 0.4481, 0.3975], &[0.2302, 0.2265, 0.2262]),
    };
    Normalization { mean: mean.to_vec(), std: std.to_vec() }
}

/// Moves every tensor `names` lists out of `file` (PyTorch names) into sturdy's names;
/// fails listing every tensor missing, misshapen or left over.
fn rename(names: &[TensorName], mut file: BTreeMap<String, NamedTensor>) -> Result<Vec<NamedTensor>, Vec<String>> {
    let mut problems = Vec::new();
    let mut tensors = Vec::new();
    for name in names {
        match file.remove(&name.torch) {
            None => problems.push(format!("missing {} {:?}", name.torch, name.shape)),
            Some(t) if t.shape != name.shape => {
                problems.push(format!("{} has shape {:?}, expected {:?}", name.torch, t.shape, name.shape))
            }
            Some(t) => tensors.push(NamedTensor { name: name.sturdy.clone(), ..t }),
        }
    }
    problems.extend(file.into_values().map(|t| format!("unknown {} {:?}", t.name, t.shape)));
    if problems.is_empty() {
        Ok(tensors)
    } else {
        Err(problems)
    }
}

/// Imports the state dict in `weights` as a run of `config` (its model, width, shortcut
/// and dataset must be the file's) into the new folder `out`, with `normalization` or the
/// dataset's published one. Nothing is written unless everything checks.
pub fn import(
    gpu: &Gpu,
    config: &RunConfig,
    weights: &Path,
    normalization: Option<Normalization>,
    out: &Path,
) -> anyhow::Result<()> {
    if out.join(RUN_FILE).exists() {
        bail!("{} already holds a run; choose another --out (nothing was overwritten)", out.display());
    }
    let file = state_dict::read(weights)?;
    let network = network(gpu, config)?;
    let names = tensor_names(config.model, &network);
    let tensors = rename(&names, file).map_err(|problems| {
        anyhow::anyhow!(
            "{} is not a {} of width {} with option-{} shortcuts for {} as interop/torch/sturdy_torch.py defines \
             it:\n  {}\n  Fix: pass the --model, --width, --shortcut and --dataset the weights were trained with",
            weights.display(),
            config.model,
            config.width,
            config.shortcut,
            config.dataset.name(),
            problems.join("\n  ")
        )
    })?;
    let mut checkpoint = Checkpoint { tensors, ..Checkpoint::default() };
    // The sites' running max |x| has no PyTorch counterpart: calibration measures it.
    for (name, tensor) in network.state().into_iter().filter(|(n, _)| !names.iter().any(|t| &t.sturdy == n)) {
        checkpoint.push(name, tensor.shape(), vec![0.0; tensor.len()]);
    }
    // The run reads as finished: `train --init-from` fine-tunes it, `--resume` has nothing to do.
    checkpoint.metadata.insert(EPOCH_KEY.into(), config.epochs.to_string());
    let normalization = normalization.unwrap_or_else(|| published_normalization(config.dataset));
    let run = RunFile { sturdy_version: env!("CARGO_PKG_VERSION").into(), config: config.clone(), normalization };
    run.validate().map_err(|problem| anyhow::anyhow!("--mean / --std: {problem}"))?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create the run folder {} (--out)", out.display()))?;
    let (run_path, checkpoint_path) = (out.join(RUN_FILE), out.join(CHECKPOINT_FILE));
    let bytes = [serde_json::to_vec_pretty(&run)?, checkpoint.to_bytes(&checkpoint_path)?];
    crate::atomic::write_files(&[(&run_path, &bytes[0]), (&checkpoint_path, &bytes[1])])
        .with_context(|| format!("writing {} and {}", run_path.display(), checkpoint_path.display()))
}
