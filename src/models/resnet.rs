use rand::Rng;

use super::{classifier, conv_bn_relu, scaled};
use crate::gpu::{Gpu, Result};
use crate::nn::{BasicBlock, BlockShape, Network, Shortcut};

/// He et al.'s CIFAR ResNet-(6n+2): a 16-channel stem, then three stages of `n` basic
/// blocks with 16, 32 and 64 channels, the last two starting with stride 2, where the
/// `shortcut` changes shape; the global-pooling classifier to `classes`.
pub fn build(
    gpu: &Gpu,
    network: &mut Network,
    blocks_per_stage: usize,
    width: f64,
    shortcut: Shortcut,
    classes: usize,
    rng: &mut impl Rng,
) -> Result<()> {
    conv_bn_relu(gpu, network, "stem", scaled(16, width), false, rng)?;
    for (stage, channels) in [16, 32, 64].into_iter().enumerate() {
        for block in 0..blocks_per_stage {
            let stride = if stage > 0 && block == 0 { 2 } else { 1 };
            let name = format!("stage{}.block{block}", stage + 1);
            let shape = BlockShape { out_channels: scaled(channels, width), stride, shortcut };
            let layer = BasicBlock::new(gpu, &name, network.last(), shape, &network.sites, rng)?;
            network.push(layer);
        }
    }
    classifier(gpu, network, classes, rng)
}
