use rand::Rng;

use super::{conv_bn_relu, scaled};
use crate::gpu::{Gpu, Result};
use crate::nn::{Network, Site};

/// Conv-BN-ReLU pairs of 64, 128 and 256 channels, each pair followed by 2x2 max
/// pooling (three poolings fit 28x28 and 32x32 inputs); the max poolings are what a
/// PANN approximates with the polynomial max.
pub fn build(gpu: &Gpu, network: &mut Network, width: f64, rng: &mut impl Rng) -> Result<()> {
    for (stage, channels) in [64, 128, 256].into_iter().enumerate() {
        for conv in 0..2 {
            conv_bn_relu(gpu, network, &format!("stage{}.{conv}", stage + 1), scaled(channels, width), rng)?;
        }
        let pool = Site::max_2x2(gpu, &format!("stage{}.pool", stage + 1), network.last(), &network.sites)?;
        network.push(pool);
    }
    Ok(())
}
