//! Reading an export back (`sturdy predict --export`): the manifest, checked against this
//! version's schema, and the weights it names, each tensor the layers read present with
//! the shape they read it at.

use std::path::Path;

use anyhow::{bail, Context};

use super::manifest::{Manifest, FORMAT};
use super::run::{with_suffix, Export};
use crate::checkpoint::Checkpoint;
use crate::nn::Op;

/// The tensors an op reads and their shapes.
fn tensors_read(op: &Op) -> Vec<(&str, Vec<usize>)> {
    match op {
        Op::Conv2d { weight, bias, input_shape, output_shape, kernel, .. } => {
            let o = output_shape[0];
            let mut read = vec![(weight.as_str(), vec![o, input_shape[0], *kernel, *kernel])];
            read.extend(bias.as_deref().map(|b| (b, vec![o])));
            read
        }
        Op::Linear { weight, bias, in_features, out_features, .. } => {
            vec![(weight.as_str(), vec![*out_features, *in_features]), (bias.as_str(), vec![*out_features])]
        }
        Op::BatchNorm { weight, bias, running_mean, running_var, shape, .. } => {
            [weight, bias, running_mean, running_var].into_iter().map(|t| (t.as_str(), vec![shape[0]])).collect()
        }
        Op::Relu { .. } | Op::Add { .. } | Op::GlobalAveragePool { .. } | Op::MaxPool2x2 { .. } => Vec::new(),
    }
}

/// `stem.json` and the weights file it names, beside it.
pub fn load(stem: &Path) -> anyhow::Result<Export> {
    let path = with_suffix(stem, "json");
    let text = std::fs::read(&path).with_context(|| format!("reading {} (the export's manifest)", path.display()))?;
    let format: serde_json::Value =
        serde_json::from_slice(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    match format.get("format").and_then(|f| f.as_str()) {
        Some(FORMAT) => {}
        Some(other) => bail!(
            "{} is a {other} export; this sturdy reads {FORMAT}: export the run again with this version \
             (`sturdy export --checkpoint RUN ...`)",
            path.display()
        ),
        None => bail!("{} has no \"format\": it is not a sturdy export", path.display()),
    }
    let manifest: Manifest =
        serde_json::from_value(format).with_context(|| format!("{} does not follow {FORMAT}", path.display()))?;
    for polynomial in std::iter::once(&manifest.relu).chain(&manifest.polynomials) {
        polynomial
            .validate()
            .map_err(|problem| anyhow::anyhow!("{}: alpha {}: {problem}", path.display(), polynomial.alpha))?;
    }
    manifest.site_polynomials().with_context(|| path.display().to_string())?;
    let weights_path = stem.parent().unwrap_or(Path::new("")).join(&manifest.weights);
    if !weights_path.exists() {
        bail!(
            "{} names the weights file {}, which is missing: keep the two files of an export side by side",
            path.display(),
            weights_path.display()
        );
    }
    let weights = Checkpoint::load(&weights_path)?;
    for layer in &manifest.layers {
        for (name, shape) in tensors_read(&layer.op) {
            weights
                .tensor(&weights_path, name, &shape)
                .with_context(|| format!("{} and its weights do not agree: export the run again", path.display()))?;
        }
    }
    Ok(Export { manifest, weights })
}
