use rand::Rng;

use super::{classifier, conv_bn_relu, scaled};
use crate::gpu::{Gpu, Result};
use crate::nn::{BasicBlock, BlockShape, Network, Shortcut};

/// A 16-channel stem, two strided residual blocks (16 and 32 channels) with `shortcut`
/// and the global-pooling classifier to `classes`:
/// small enough to train on a CPU adapter in minutes, with every kind of layer the ResNets have.
pub fn build(
    gpu: &Gpu,
    network: &mut Network,
    width: f64,
    shortcut: Shortcut,
    classes: usize,
    rng: &mut impl Rng,
) -> Result<()> {
    conv_bn_relu(gpu, network, "stem", scaled(16, width), false, rng)?;
    for (index, channels) in [16, 32].into_iter().enumerate() {
        let shape = BlockShape { out_channels: scaled(channels, width), stride: 2, shortcut };
        let block = BasicBlock::new(gpu, &format!("block{index}"), network.last(), shape, &network.sites, rng)?;
        network.push(block);
    }
    classifier(gpu, network, classes, rng)
}
