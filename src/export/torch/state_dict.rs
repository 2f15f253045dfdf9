//! PyTorch state dicts in safetensors files: read with every float dtype PyTorch saves
//! converted to f32 (f16, bf16 and f64 exactly where f32 can hold the value, else rounded
//! to nearest), written as f32.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context};
use safetensors::{Dtype, SafeTensors};

use super::names::IGNORED_SUFFIX;
use crate::checkpoint::{Checkpoint, NamedTensor};

/// How to write a file this reads.
const HOW_TO_SAVE: &str =
    "save it in Python with `safetensors.torch.save_file(model.state_dict(), FILE)` (pip install safetensors)";

/// The float tensors of the state dict in `path`, by name, as f32; the batch-norm
/// counters (`num_batches_tracked`) left out.
pub fn read(path: &Path) -> anyhow::Result<BTreeMap<String, NamedTensor>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read the PyTorch weights {}", path.display()))?;
    let parsed = SafeTensors::deserialize(&bytes).map_err(|e| {
        anyhow::anyhow!("{} is not a safetensors file, or it is truncated ({e}).\n  Fix: {HOW_TO_SAVE}", path.display())
    })?;
    let mut tensors = BTreeMap::new();
    let mut unreadable = Vec::new();
    for (name, view) in parsed.tensors() {
        if name.ends_with(IGNORED_SUFFIX) {
            continue;
        }
        match to_f32(view.dtype(), view.data()) {
            Some(data) => {
                tensors.insert(name.clone(), NamedTensor { name, shape: view.shape().to_vec(), data });
            }
            None => unreadable.push(format!("{name} ({:?})", view.dtype())),
        }
    }
    if !unreadable.is_empty() {
        bail!(
            "{}: tensors of a dtype that is not a float: {}.\n  Fix: {HOW_TO_SAVE} from a model of float weights",
            path.display(),
            unreadable.join(", ")
        );
    }
    Ok(tensors)
}

/// Little-endian values of `dtype` as f32; None for a dtype that is not a float.
fn to_f32(dtype: Dtype, data: &[u8]) -> Option<Vec<f32>> {
    let words = |n: usize| data.chunks_exact(n);
    Some(match dtype {
        Dtype::F32 => words(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
        Dtype::F16 => words(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        Dtype::BF16 => words(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        Dtype::F64 => words(8).map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32).collect(),
        _ => return None,
    })
}

/// Writes `tensors` (PyTorch names) to `path` as f32, atomically.
pub fn write(path: &Path, tensors: Vec<NamedTensor>) -> anyhow::Result<()> {
    let checkpoint = Checkpoint { tensors, metadata: BTreeMap::new() };
    let bytes = checkpoint.to_bytes(path)?;
    crate::atomic::write_file(path, &bytes).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_and_double_precision_convert_to_the_nearest_f32() {
        let f16 = half::f16::from_f32(0.333).to_le_bytes();
        assert_eq!(to_f32(Dtype::F16, &f16), Some(vec![half::f16::from_f32(0.333).to_f32()]));
        let bf16 = half::bf16::from_f32(-1.5).to_le_bytes();
        assert_eq!(to_f32(Dtype::BF16, &bf16), Some(vec![-1.5]));
        assert_eq!(to_f32(Dtype::F64, &0.1f64.to_le_bytes()), Some(vec![0.1f32]));
        assert_eq!(to_f32(Dtype::I64, &[0; 8]), None);
    }
}
