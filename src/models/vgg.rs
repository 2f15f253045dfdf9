use rand::Rng;

use super::{classifier, conv_bn_relu, scaled};
use crate::gpu::{Gpu, GpuError, Result};
use crate::nn::{Dropout, Layer, Linear, Network, Site};

/// One entry of a VGG configuration: conv 3x3 - batch norm - ReLU of that many channels
/// (times the width), or a 2x2 max pooling.
#[derive(Clone, Copy, Debug)]
pub enum Entry {
    Conv(usize),
    Pool,
}

use Entry::{Conv as C, Pool as M};

/// Conv-BN-ReLU pairs of 64, 128 and 256 channels, each pair followed by 2x2 max pooling:
/// three poolings fit 28x28 and 32x32 inputs. Small enough for a CPU adapter.
pub const SMALL: &[Entry] = &[C(64), C(64), M, C(128), C(128), M, C(256), C(256), M];
/// Simonyan and Zisserman's configurations A, B, D and E, as approxCNN's `vgg_cifar10.py`
/// (one stage a line).
#[rustfmt::skip]
pub const VGG11: &[Entry] = &[
    C(64), M,
    C(128), M,
    C(256), C(256), M,
    C(512), C(512), M,
    C(512), C(512), M,
];
#[rustfmt::skip]
pub const VGG13: &[Entry] = &[
    C(64), C(64), M,
    C(128), C(128), M,
    C(256), C(256), M,
    C(512), C(512), M,
    C(512), C(512), M,
];
#[rustfmt::skip]
pub const VGG16: &[Entry] = &[
    C(64), C(64), M,
    C(128), C(128), M,
    C(256), C(256), C(256), M,
    C(512), C(512), C(512), M,
    C(512), C(512), C(512), M,
];
#[rustfmt::skip]
pub const VGG19: &[Entry] = &[
    C(64), C(64), M,
    C(128), C(128), M,
    C(256), C(256), C(256), C(256), M,
    C(512), C(512), C(512), C(512), M,
    C(512), C(512), C(512), C(512), M,
];

/// The hidden width of the VGG-BN classifier (times the width).
const HIDDEN: usize = 512;
/// The classifier's dropout rate in training (approxCNN's, after Simonyan and Zisserman).
const DROPOUT: f64 = 0.5;

/// The convolutional part: stage s holds the convolutions `stage{s}.{i}` up to its pooling
/// `stage{s}.pool` (a PANN site, like every ReLU). `bias`: convolutions with a bias.
fn features(
    gpu: &Gpu,
    network: &mut Network,
    config: &[Entry],
    width: f64,
    bias: bool,
    rng: &mut impl Rng,
) -> Result<()> {
    let (mut stage, mut conv) = (1, 0);
    for &entry in config {
        match entry {
            C(channels) => {
                conv_bn_relu(gpu, network, &format!("stage{stage}.{conv}"), scaled(channels, width), bias, rng)?;
                conv += 1;
            }
            M => {
                let pool = Site::max_2x2(gpu, &format!("stage{stage}.pool"), network.last(), &network.sites)?;
                network.push(pool);
                (stage, conv) = (stage + 1, 0);
            }
        }
    }
    Ok(())
}

/// The small VGG: its features without conv biases, then the global-pooling classifier.
pub fn build_small(gpu: &Gpu, network: &mut Network, width: f64, classes: usize, rng: &mut impl Rng) -> Result<()> {
    features(gpu, network, SMALL, width, false, rng)?;
    classifier(gpu, network, classes, rng)
}

/// A VGG-BN of approxCNN: the features of `config` with conv biases, then dropout,
/// `linear1`, ReLU, dropout, `linear2`, ReLU, `linear3` to the classes. Its five poolings
/// need inputs of at least 32x32.
pub fn build_bn(
    gpu: &Gpu,
    network: &mut Network,
    config: &[Entry],
    width: f64,
    classes: usize,
    rng: &mut impl Rng,
) -> Result<()> {
    let pools = config.iter().filter(|e| matches!(e, M)).count();
    let side = 1 << pools;
    let (height, image_width) = (network.input.shape()[2], network.input.shape()[3]);
    if height < side || image_width < side {
        return Err(GpuError::shape(format!(
            "a VGG-BN pools {pools} times, so its input must be at least {side}x{side}, not {height}x{image_width}: \
             use a CIFAR or Tiny ImageNet dataset, or --model vgg"
        )));
    }
    features(gpu, network, config, width, true, rng)?;
    let purpose = network.purpose();
    for (stream, index) in [(0, 1), (1, 2)] {
        let dropout = Dropout::new(gpu, &format!("dropout{index}"), network.last(), DROPOUT, stream, &network.sites)?;
        let linear =
            Linear::new(gpu, &format!("linear{index}"), dropout.output(), scaled(HIDDEN, width), purpose, rng)?;
        let relu = Site::relu(gpu, &format!("linear{index}.relu"), linear.output(), &network.sites)?;
        network.push(dropout);
        network.push(linear);
        network.push(relu);
    }
    let linear3 = Linear::new(gpu, "linear3", network.last(), classes, purpose, rng)?;
    network.push(linear3);
    Ok(())
}
