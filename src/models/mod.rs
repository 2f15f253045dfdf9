//! The model zoo: CIFAR ResNets, VGG-BNs, a small VGG and a small fast CNN, for 32x32 RGB
//! (the small ones also 28x28 grey) inputs, with a width multiplier.

mod resnet;
mod small_cnn;
mod vgg;

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::gpu::{Gpu, Result};
use crate::nn::{
    Activation, BatchNorm, BnRelu, Conv2d, ConvGeometry, GlobalAveragePool, Layer, Linear, Network, Shortcut, Site,
    SiteTables, TrainActivation,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    Resnet20,
    Resnet32,
    Resnet44,
    Resnet56,
    Resnet110,
    /// A small VGG: conv-BN-ReLU pairs with 2x2 max pooling, a global-pooling classifier.
    Vgg,
    /// VGG-11/13/16/19 with batch norm (configurations A, B, D, E), as the prior work's
    /// `vgg_cifar10.py`: conv biases, five max poolings, a 512-512 classifier with dropout.
    Vgg11,
    Vgg13,
    Vgg16,
    Vgg19,
    /// Two residual blocks: quick runs on a CPU adapter.
    Smallcnn,
}

impl std::fmt::Display for ModelKind {
    /// The name as the user types it, e.g. `smallcnn`.
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        use clap::ValueEnum;
        f.write_str(self.to_possible_value().expect("no model is hidden").get_name())
    }
}

/// An architecture: its kind and how the shortcuts of its residual blocks change shape
/// (models without residual blocks have no shortcuts). A bare kind has the default shortcut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Model {
    pub kind: ModelKind,
    pub shortcut: Shortcut,
}

impl From<ModelKind> for Model {
    fn from(kind: ModelKind) -> Model {
        Model { kind, shortcut: Shortcut::default() }
    }
}

/// What a model is built for: batch size, input image and class count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInput {
    pub batch: usize,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub classes: usize,
}

/// The widest `width` a run accepts. Wide ResNets go to 10x; past 16x a slip such as
/// `--width 1e9` asked for hundreds of GB and aborted the process.
pub const MAX_WIDTH: f64 = 16.0;

/// Channel counts are the published ones times `width`, at least 1.
pub fn scaled(channels: usize, width: f64) -> usize {
    ((channels as f64 * width).round() as usize).max(1)
}

/// Builds a model to train; `train` says what its ReLU sites compute in training mode.
pub fn build(
    gpu: &Gpu,
    model: impl Into<Model>,
    input: ModelInput,
    width: f64,
    train: TrainActivation,
    rng: &mut impl Rng,
) -> Result<Network> {
    assemble(gpu, model.into(), input, width, Some(train), rng)
}

/// Builds a model for inference only: no gradients, optimiser state or backward pass
/// (its weights, drawn from `rng`, are meant to be overwritten by a checkpoint).
pub fn build_for_inference(
    gpu: &Gpu,
    model: impl Into<Model>,
    input: ModelInput,
    width: f64,
    rng: &mut impl Rng,
) -> Result<Network> {
    assemble(gpu, model.into(), input, width, None, rng)
}

/// Builds in two phases: every layer and its tensors first, then the kernel variants,
/// so that a model that does not fit fails before any variant is timed.
fn assemble(
    gpu: &Gpu,
    model: Model,
    input: ModelInput,
    width: f64,
    train: Option<TrainActivation>,
    rng: &mut impl Rng,
) -> Result<Network> {
    let image = Activation::input(gpu, &[input.batch, input.channels, input.height, input.width])?;
    let mut network = Network::new(image, SiteTables::new(gpu, train)?);
    let (shortcut, classes, net) = (model.shortcut, input.classes, &mut network);
    match model.kind {
        ModelKind::Resnet20 => resnet::build(gpu, net, 3, width, shortcut, classes, rng)?,
        ModelKind::Resnet32 => resnet::build(gpu, net, 5, width, shortcut, classes, rng)?,
        ModelKind::Resnet44 => resnet::build(gpu, net, 7, width, shortcut, classes, rng)?,
        ModelKind::Resnet56 => resnet::build(gpu, net, 9, width, shortcut, classes, rng)?,
        ModelKind::Resnet110 => resnet::build(gpu, net, 18, width, shortcut, classes, rng)?,
        ModelKind::Vgg => vgg::build_small(gpu, net, width, classes, rng)?,
        ModelKind::Vgg11 => vgg::build_bn(gpu, net, vgg::VGG11, width, classes, rng)?,
        ModelKind::Vgg13 => vgg::build_bn(gpu, net, vgg::VGG13, width, classes, rng)?,
        ModelKind::Vgg16 => vgg::build_bn(gpu, net, vgg::VGG16, width, classes, rng)?,
        ModelKind::Vgg19 => vgg::build_bn(gpu, net, vgg::VGG19, width, classes, rng)?,
        ModelKind::Smallcnn => small_cnn::build(gpu, net, width, shortcut, classes, rng)?,
    }
    network.choose_kernels(gpu)?;
    Ok(network)
}

/// conv 3x3 (stride 1, padding 1, with a bias if `bias`) -> batch norm -> ReLU site, named
/// `{name}.conv` etc.
fn conv_bn_relu(
    gpu: &Gpu,
    network: &mut Network,
    name: &str,
    channels: usize,
    bias: bool,
    rng: &mut impl Rng,
) -> Result<()> {
    let geometry = ConvGeometry { out_channels: channels, kernel: 3, stride: 1, padding: 1, bias };
    let purpose = network.purpose();
    let conv = Conv2d::new(gpu, &format!("{name}.conv"), network.last(), geometry, purpose, rng)?;
    let bn = BatchNorm::new(gpu, &format!("{name}.bn"), conv.output(), None, purpose)?;
    let relu = Site::relu(gpu, &format!("{name}.relu"), bn.output(), &network.sites)?;
    network.push(conv);
    let bn_relu = BnRelu::new(gpu, bn, relu, &network.sites)?;
    network.push(bn_relu);
    Ok(())
}

/// Global average pooling and the final linear layer: the classifier of the ResNets and the small models.
fn classifier(gpu: &Gpu, network: &mut Network, classes: usize, rng: &mut impl Rng) -> Result<()> {
    let pool = GlobalAveragePool::new(gpu, "pool", network.last(), network.purpose())?;
    let fc = Linear::new(gpu, "fc", pool.output(), classes, network.purpose(), rng)?;
    network.push(pool);
    network.push(fc);
    Ok(())
}
