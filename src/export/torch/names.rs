//! sturdy's tensor names and PyTorch's, derived from the network itself, for import and
//! export alike:
//! - ResNets and the small CNN (approxCNN's `resnet_cifar10.py`): `stem.conv` is `conv1`,
//!   `stem.bn` `bn1`, `stage{s}.block{i}` `layer{s}.{i}` (the small CNN's `block{i}`
//!   `layer{i+1}.0`), a block's option-B `shortcut.conv` / `shortcut.bn` are `shortcut.0`
//!   / `shortcut.1`, `fc` is `linear`.
//! - VGGs (`vgg_cifar10.py`): the convolutions, batch norms, ReLUs and max poolings before
//!   the classifier are `features.{k}`, k their position in that sequence (the order the
//!   network describes them in); `fc` is `linear`, `linear1..3` keep their names.
//!
//! PyTorch's `num_batches_tracked` counters have no sturdy counterpart and are ignored.

use std::collections::HashMap;

use crate::models::ModelKind;
use crate::nn::{Network, Op};

/// A tensor as both sides name it, with its shape.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorName {
    pub sturdy: String,
    pub torch: String,
    pub shape: Vec<usize>,
}

/// The suffix of the batch-norm counters PyTorch saves and sturdy has no use for.
pub const IGNORED_SUFFIX: &str = ".num_batches_tracked";

/// Every weight and running statistic of `network` (a `kind`), named both ways, in the
/// network's order; the sites' running max |x| (no PyTorch counterpart) is left out.
pub fn tensor_names(kind: ModelKind, network: &Network) -> Vec<TensorName> {
    let modules = module_names(kind, &network.describe());
    let params = network.params().into_iter().map(|p| (p.name.clone(), p.value.shape().to_vec()));
    let state = network.state().into_iter().map(|(name, t)| (name, t.shape().to_vec()));
    params
        .chain(state)
        .filter_map(|(sturdy, shape)| {
            let (module, leaf) = sturdy.rsplit_once('.')?;
            let torch = format!("{}.{leaf}", modules.get(module)?);
            Some(TensorName { sturdy, torch, shape })
        })
        .collect()
}

/// PyTorch's module name for each of sturdy's layer names that holds tensors.
fn module_names(kind: ModelKind, ops: &[Op]) -> HashMap<String, String> {
    let is_vgg =
        matches!(kind, ModelKind::Vgg | ModelKind::Vgg11 | ModelKind::Vgg13 | ModelKind::Vgg16 | ModelKind::Vgg19);
    let mut names: HashMap<String, String> = HashMap::new();
    if is_vgg {
        let features = ops.iter().take_while(|op| !matches!(op, Op::Linear { .. } | Op::GlobalAveragePool { .. }));
        names.extend(features.enumerate().map(|(k, op)| (op.name().to_string(), format!("features.{k}"))));
    }
    for op in ops {
        names.entry(op.name().to_string()).or_insert_with(|| resnet_module(op.name()));
    }
    names
}

/// A ResNet or small-CNN layer's (and a classifier's) PyTorch module name.
fn resnet_module(name: &str) -> String {
    let shortcut = |rest: &str| rest.replace("shortcut.conv", "shortcut.0").replace("shortcut.bn", "shortcut.1");
    match name {
        "stem.conv" => "conv1".into(),
        "stem.bn" => "bn1".into(),
        "fc" => "linear".into(),
        _ => {
            let parts: Vec<&str> = name.splitn(3, '.').collect();
            match parts.as_slice() {
                [stage, block, rest] if stage.starts_with("stage") && block.starts_with("block") => {
                    format!("layer{}.{}.{}", &stage[5..], &block[5..], shortcut(rest))
                }
                [block, rest @ ..] if block.starts_with("block") => {
                    let index: usize = block[5..].parse().unwrap_or(0);
                    format!("layer{}.0.{}", index + 1, shortcut(&rest.join(".")))
                }
                _ => name.into(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resnet_names_are_approxcnns() {
        let cases = [
            ("stem.conv", "conv1"),
            ("stem.bn", "bn1"),
            ("stage2.block0.conv1", "layer2.0.conv1"),
            ("stage3.block4.bn2", "layer3.4.bn2"),
            ("stage2.block0.shortcut.conv", "layer2.0.shortcut.0"),
            ("stage2.block0.shortcut.bn", "layer2.0.shortcut.1"),
            ("block1.shortcut.bn", "layer2.0.shortcut.1"),
            ("block0.conv2", "layer1.0.conv2"),
            ("fc", "linear"),
            ("linear2", "linear2"),
        ];
        for (sturdy, torch) in cases {
            assert_eq!(resnet_module(sturdy), torch, "{sturdy}");
        }
    }
}
