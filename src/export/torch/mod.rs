//! PyTorch interop: a state dict saved with `safetensors.torch.save_file(model.state_dict(),
//! FILE)` from the modules of `interop/torch/sturdy_torch.py` (approxCNN's names) becomes a
//! run folder (`sturdy import torch`), and a run's weights become such a file again
//! (`sturdy export --format torch`). [`names`] is the one table between the two namings;
//! [`state_dict`] reads and writes the files; [`import`] writes the run folder,
//! [`export_weights`] reads one.
//!
//! Conventions agree and need no conversion: both store the unbiased batch variance in
//! `running_var`, normalise with the biased one in training, use eps 1e-5 and momentum
//! 0.1, and lay out weights as [out, in, kh, kw] and [out, in].

pub mod import;
pub mod names;
pub mod state_dict;

use std::path::Path;

use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::checkpoint::{Checkpoint, NamedTensor};
use crate::gpu::Gpu;
use crate::models::{self, ModelInput};
use crate::nn::Network;
use crate::train::config::CHECKPOINT_FILE;
use crate::train::{RunConfig, RunFile};
use names::tensor_names;

/// The inference network of `config`'s architecture, for its tensors' names and shapes.
fn network(gpu: &Gpu, config: &RunConfig) -> anyhow::Result<Network> {
    let ([channels, height, width], classes) = config.dataset.shape();
    // Weight shapes do not depend on the batch; two images keep the buffers small.
    let input = ModelInput { batch: 2, channels, height, width, classes };
    let rng = &mut StdRng::seed_from_u64(0);
    Ok(models::build_for_inference(gpu, config.architecture(), input, config.width, rng)?)
}

/// The run in `dir`'s weights and running statistics under PyTorch's names (what
/// `sturdy export --format torch` writes).
pub fn export_weights(gpu: &Gpu, dir: &Path) -> anyhow::Result<Vec<NamedTensor>> {
    let run = RunFile::load(dir)?;
    let network = network(gpu, &run.config)?;
    let path = dir.join(CHECKPOINT_FILE);
    let checkpoint = Checkpoint::load(&path)?;
    tensor_names(run.config.model, &network)
        .into_iter()
        .map(|name| {
            let data = checkpoint.tensor(&path, &name.sturdy, &name.shape)?.to_vec();
            Ok(NamedTensor { name: name.torch, shape: name.shape, data })
        })
        .collect()
}
