//! Moving a network's trainable and persistent tensors to and from a [`Checkpoint`].

use std::path::Path;

use crate::checkpoint::Checkpoint;
use crate::gpu::{Gpu, Tensor};
use crate::nn::Network;

fn velocity_name(param: &str) -> String {
    format!("{param}.momentum_buffer")
}

/// Every tensor a run needs to continue: weights, optimiser velocities (a training
/// network's, unless `weights_only`), running statistics.
fn named_tensors(network: &Network, weights_only: bool) -> Vec<(String, &Tensor)> {
    let mut tensors = Vec::new();
    for param in network.params() {
        tensors.push((param.name.clone(), &param.value));
        if let Some(training) = param.training.as_ref().filter(|_| !weights_only) {
            tensors.push((velocity_name(&param.name), &training.velocity));
        }
    }
    tensors.extend(network.state());
    tensors
}

/// Reads the network back from the GPU (a synchronisation point).
pub fn snapshot(gpu: &Gpu, network: &Network) -> anyhow::Result<Checkpoint> {
    let mut checkpoint = Checkpoint::default();
    for (name, tensor) in named_tensors(network, false) {
        checkpoint.push(name, tensor.shape(), gpu.download::<f32>(tensor)?);
    }
    Ok(checkpoint)
}

/// Writes a checkpoint's tensors into the network; every tensor must be present with its shape.
pub fn restore(gpu: &Gpu, network: &Network, checkpoint: &Checkpoint, path: &Path) -> anyhow::Result<()> {
    write_tensors(gpu, network, checkpoint, path, false)
}

/// Writes a checkpoint's weights and running statistics into the network, leaving its
/// optimiser state as it is (fresh, for fine-tuning).
pub fn restore_weights(gpu: &Gpu, network: &Network, checkpoint: &Checkpoint, path: &Path) -> anyhow::Result<()> {
    write_tensors(gpu, network, checkpoint, path, true)
}

fn write_tensors(
    gpu: &Gpu,
    network: &Network,
    checkpoint: &Checkpoint,
    path: &Path,
    weights_only: bool,
) -> anyhow::Result<()> {
    for (name, tensor) in named_tensors(network, weights_only) {
        let data = checkpoint.tensor(path, &name, tensor.shape())?;
        gpu.write(tensor, data)?;
    }
    Ok(())
}
