//! Checkpoints: named f32 tensors (weights, batch-norm running statistics, optimiser
//! state) in one safetensors file, with string metadata (epoch, step) in its header.
//! Saved atomically, so a kill during a save keeps the previous checkpoint.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use safetensors::{tensor::TensorView, Dtype, SafeTensors};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum CheckpointError {
    #[error("cannot read checkpoint {path}: {source}.\n  Fix: check the path; checkpoints are written by `sturdy train` into its --out folder")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write checkpoint {path}: {error}")]
    Write { path: PathBuf, error: std::io::Error },
    #[error("checkpoint {path} is not a valid safetensors file ({reason}); it may be truncated or not a checkpoint")]
    Corrupt { path: PathBuf, reason: String },
    #[error("checkpoint {path}: tensor {name:?} {problem}")]
    Tensor { path: PathBuf, name: String, problem: String },
}

#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Checkpoint {
    pub tensors: Vec<NamedTensor>,
    pub metadata: BTreeMap<String, String>,
}

impl Checkpoint {
    pub fn push(&mut self, name: impl Into<String>, shape: &[usize], data: Vec<f32>) {
        self.tensors.push(NamedTensor { name: name.into(), shape: shape.to_vec(), data });
    }

    pub fn save(&self, path: &Path) -> Result<(), CheckpointError> {
        let bytes = self.to_bytes(path)?;
        crate::atomic::write_file(path, &bytes).map_err(|error| CheckpointError::Write { path: path.into(), error })
    }

    /// The safetensors file's bytes (`path` names it in errors).
    pub fn to_bytes(&self, path: &Path) -> Result<Vec<u8>, CheckpointError> {
        let views = self
            .tensors
            .iter()
            .map(|t| {
                TensorView::new(Dtype::F32, t.shape.clone(), bytemuck::cast_slice(&t.data))
                    .map(|view| (t.name.clone(), view))
                    .map_err(|e| CheckpointError::Tensor {
                        path: path.into(),
                        name: t.name.clone(),
                        problem: format!("has {} values, which do not fit shape {:?} ({e})", t.data.len(), t.shape),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let metadata: HashMap<String, String> = self.metadata.clone().into_iter().collect();
        safetensors::serialize(views, Some(metadata))
            .map_err(|e| CheckpointError::Corrupt { path: path.into(), reason: e.to_string() })
    }

    pub fn load(path: &Path) -> Result<Checkpoint, CheckpointError> {
        let bytes = std::fs::read(path).map_err(|source| CheckpointError::Read { path: path.into(), source })?;
        let corrupt = |reason: String| CheckpointError::Corrupt { path: path.into(), reason };
        let parsed = SafeTensors::deserialize(&bytes).map_err(|e| corrupt(e.to_string()))?;
        let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| corrupt(e.to_string()))?;
        let mut tensors = Vec::new();
        for (name, view) in parsed.tensors() {
            if view.dtype() != Dtype::F32 {
                let problem = format!("has dtype {:?}; sturdy checkpoints hold f32 only", view.dtype());
                return Err(CheckpointError::Tensor { path: path.into(), name, problem });
            }
            let data = view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
            tensors.push(NamedTensor { name, shape: view.shape().to_vec(), data });
        }
        tensors.sort_by(|a, b| a.name.cmp(&b.name));
        let metadata = header.metadata().clone().unwrap_or_default().into_iter().collect();
        Ok(Checkpoint { tensors, metadata })
    }

    /// The tensor called `name`, which must have `shape`.
    pub fn tensor(&self, path: &Path, name: &str, shape: &[usize]) -> Result<&[f32], CheckpointError> {
        let problem = |problem: String| CheckpointError::Tensor { path: path.into(), name: name.into(), problem };
        let tensor = self.tensors.iter().find(|t| t.name == name).ok_or_else(|| {
            problem("is missing: the checkpoint was made by another model or width; check --model and --width".into())
        })?;
        if tensor.shape != shape {
            return Err(problem(format!("has shape {:?}, the model expects {shape:?}", tensor.shape)));
        }
        if let Some((index, value)) = tensor.data.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(problem(format!(
                "holds {value} at element {index}: the weights are unusable (a diverged run, or a damaged file).\n  \
                 Fix: train again, or restore an earlier copy of the checkpoint"
            )));
        }
        Ok(&tensor.data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_path(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sturdy-ckpt-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("checkpoint.safetensors")
    }

    fn sample() -> Checkpoint {
        let mut checkpoint = Checkpoint::default();
        checkpoint.push("conv1.weight", &[2, 3], vec![1.0, -2.5, 3.25, f32::MIN_POSITIVE, 0.0, 7.0]);
        checkpoint.push("bn1.running_var", &[1], vec![0.5]);
        checkpoint.metadata.insert("epoch".into(), "3".into());
        checkpoint
    }

    #[test]
    fn round_trips_tensors_and_metadata() {
        let path = temp_path("roundtrip");
        let mut saved = sample();
        saved.save(&path).unwrap();
        saved.tensors.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(Checkpoint::load(&path).unwrap(), saved);
    }

    #[test]
    fn truncated_file_is_reported_as_corrupt_with_its_path() {
        let path = temp_path("truncated");
        sample().save(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 5]).unwrap();
        let error = Checkpoint::load(&path).unwrap_err().to_string();
        assert!(error.contains("not a valid safetensors") && error.contains(&path.display().to_string()), "{error}");
    }

    #[test]
    fn non_finite_values_are_named_with_their_tensor() {
        let path = temp_path("non-finite");
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let mut checkpoint = sample();
            checkpoint.tensors[0].data[4] = bad;
            let error = checkpoint.tensor(&path, "conv1.weight", &[2, 3]).unwrap_err().to_string();
            assert!(
                error.contains("\"conv1.weight\"") && error.contains("element 4") && error.contains("unusable"),
                "{error}"
            );
        }
    }

    #[test]
    fn missing_and_misshapen_tensors_are_named() {
        let path = temp_path("lookup");
        let checkpoint = sample();
        assert!(checkpoint.tensor(&path, "nope", &[1]).unwrap_err().to_string().contains("\"nope\" is missing"));
        let error = checkpoint.tensor(&path, "conv1.weight", &[3, 2]).unwrap_err().to_string();
        assert!(error.contains("[2, 3]") && error.contains("[3, 2]"), "{error}");
    }
}
