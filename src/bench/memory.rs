//! GPU memory of a ResNet-20 training setup: every byte the device allocated while
//! building the network and its trainer, against what training needs in principle.

use super::steps::trainer;
use super::table::{figure, Table};
use crate::gpu::{Gpu, Result, Tensor, MIB};
use crate::models::{ModelInput, ModelKind};
use crate::train::recipe::Recipe;

/// The batch the memory figures are for (the paper's ResNet-20 recipe).
pub const BATCH: usize = 128;

/// Bytes of the distinct buffers among `tensors` (views and shared gradients count once).
fn distinct_bytes<'t>(tensors: impl IntoIterator<Item = &'t Tensor>) -> u64 {
    let mut seen: Vec<&wgpu::Buffer> = Vec::new();
    for tensor in tensors {
        if !seen.contains(&tensor.buffer()) {
            seen.push(tensor.buffer());
        }
    }
    seen.iter().map(|buffer| buffer.size()).sum()
}

pub fn measure(gpu: &Gpu) -> Result<Table> {
    let before = gpu.bytes_allocated();
    let input = ModelInput { batch: BATCH, channels: 3, height: 32, width: 32, classes: 10 };
    let trainer = trainer(gpu, ModelKind::Resnet20, input, Recipe::Vanilla)?;
    let allocated = gpu.bytes_allocated() - before;
    let network = &trainer.network;
    let params = network.params();
    let activations = network.activations();
    let parts = [
        ("activations (every layer output)", distinct_bytes(activations.iter().map(|a| &a.value))),
        ("activation gradients", distinct_bytes(activations.iter().filter_map(|a| a.grad.as_ref()))),
        ("weights", distinct_bytes(params.iter().map(|p| &p.value))),
        ("weight gradients", distinct_bytes(params.iter().map(|p| p.grad()))),
        (
            "optimiser state (momentum)",
            distinct_bytes(params.iter().filter_map(|p| p.training.as_ref()).map(|t| &t.velocity)),
        ),
    ];
    let essential: u64 = parts.iter().map(|(_, bytes)| bytes).sum();
    let mut table = Table::new(format!("GPU memory, ResNet-20 training at batch {BATCH}"), &["part", "MiB"]);
    for (name, bytes) in parts {
        table.row(vec![name.into(), figure(bytes as f64 / MIB)]);
    }
    table.row(vec!["**sum of the above**".into(), figure(essential as f64 / MIB)]);
    table.row(vec!["**allocated by the device (bytes_allocated)**".into(), figure(allocated as f64 / MIB)]);
    table.row(vec!["**ratio allocated / sum**".into(), format!("{:.2}", allocated as f64 / essential as f64)]);
    table.notes.push(
        "Allocated also holds the residual branches' separate input gradients, batch-norm saved statistics \
         and running statistics, loss buffers and the kernels' uniform blocks."
            .into(),
    );
    Ok(table)
}
