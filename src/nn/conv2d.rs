use rand::Rng;

use super::describe::per_image_chw;
use super::param::{fan_in_uniform, kaiming_normal};
use super::{Activation, Layer, Mode, Op, Param, Purpose};
use crate::gpu::{Dispatch, Gpu, GpuError, Recorder, Result};
use crate::ops::conv2d::{self, Conv2dShape};
use crate::ops::variants::{choose, Build, Product, Variant};

/// Convolution, with a bias where the geometry asks for one (the VGGs of the prior work
/// have one before their batch norms; the ResNets none).
pub struct Conv2d {
    name: String,
    shape: Conv2dShape,
    input: Activation,
    weight: Param,
    bias: Option<Param>,
    output: Activation,
    /// Empty until [`Layer::choose_kernels`] builds them.
    forward: Vec<Dispatch>,
    backward: Vec<Dispatch>,
}

pub struct ConvGeometry {
    pub out_channels: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
    pub bias: bool,
}

impl Conv2d {
    pub fn new(
        gpu: &Gpu,
        name: &str,
        input: &Activation,
        geometry: ConvGeometry,
        purpose: Purpose,
        rng: &mut impl Rng,
    ) -> Result<Conv2d> {
        let &[batch, in_channels, height, width] = input.shape() else {
            return Err(GpuError::shape(format!("{name}: conv2d input must be NCHW, got {:?}", input.shape())));
        };
        let ConvGeometry { out_channels, kernel, stride, padding, bias } = geometry;
        let shape = Conv2dShape { batch, in_channels, out_channels, height, width, kernel, stride, padding };
        shape.check()?;
        let fan_in = in_channels * kernel * kernel;
        let weight_shape = shape.weight_shape();
        let init = kaiming_normal(rng, weight_shape.iter().product(), fan_in);
        let weight = Param::new(gpu, format!("{name}.weight"), &weight_shape, &init, false, purpose)?;
        let bias = match bias {
            // PyTorch's default for a convolution's bias.
            true => Some(Param::new(
                gpu,
                format!("{name}.bias"),
                &[out_channels],
                &fan_in_uniform(rng, out_channels, fan_in),
                false,
                purpose,
            )?),
            false => None,
        };
        let output = Activation::new(gpu, &shape.output_shape(), purpose)?;
        let (forward, backward) = (Vec::new(), Vec::new());
        Ok(Conv2d { name: name.into(), shape, input: input.clone(), weight, bias, output, forward, backward })
    }
}

/// The forward dispatches and (training) the backward ones, each op with the variant
/// `choose` picks for it; forward keeps x packed when backward_weight's loader reads the
/// same storage.
fn passes(gpu: &Gpu, conv: &Conv2d) -> Result<(Vec<Dispatch>, Vec<Dispatch>)> {
    let Conv2d { shape, input, weight, output, .. } = conv;
    let bias = conv.bias.as_ref();
    let pick =
        |op, build: Build| choose(gpu, &conv2d::variant_key(op, shape), &conv2d::applicable(gpu, shape, op), build);
    let (x, w, y) = (&input.value, &weight.value, &output.value);
    let b = bias.map(|b| &b.value);
    let forward_with = |v| conv2d::forward(gpu, v, shape, x, w, b, y);
    let forward_variant = pick(Product::Forward, &forward_with)?;
    // A layer built for inference has no gradients, and no backward.
    let Some(dy) = &output.grad else {
        return Ok((forward_with(forward_variant)?, Vec::new()));
    };
    let dw = weight.grad();
    let weight_with = |v| conv2d::backward_weight(gpu, v, shape, x, dy, dw);
    let (forward, mut backward) = match (forward_variant, pick(Product::BackwardWeight, &weight_with)?) {
        // Loaders of one storage (texture and subgroup, or the tiled ones): backward_weight
        // reads the x that forward packed.
        (Variant::Gemm(loader), Variant::Gemm(weight_loader)) if loader.storage() == weight_loader.storage() => {
            let (forward, packed_x) = conv2d::forward_keeping_input(gpu, loader, shape, x, w, b, y)?;
            (forward, conv2d::backward_weight_packed(gpu, weight_loader, shape, &packed_x, dy, dw)?)
        }
        (_, weight_variant) => (forward_with(forward_variant)?, weight_with(weight_variant)?),
    };
    if let Some(bias) = bias {
        backward.push(conv2d::backward_bias(gpu, shape, dy, bias.grad())?);
    }
    if let Some(dx) = &input.grad {
        let input_with = |v| conv2d::backward_input(gpu, v, shape, w, dy, dx);
        backward.extend(input_with(pick(Product::BackwardInput, &input_with)?)?);
    }
    Ok((forward, backward))
}

impl Layer for Conv2d {
    fn output(&self) -> &Activation {
        &self.output
    }

    fn choose_kernels(&mut self, gpu: &Gpu) -> Result<()> {
        (self.forward, self.backward) = passes(gpu, self)?;
        Ok(())
    }

    fn record_forward(&self, recorder: &mut Recorder, _mode: Mode) {
        recorder.record_all(&self.forward);
    }

    fn record_backward(&self, recorder: &mut Recorder) {
        recorder.record_all(&self.backward);
    }

    fn params(&self) -> Vec<&Param> {
        std::iter::once(&self.weight).chain(&self.bias).collect()
    }

    fn describe(&self, input: &str) -> Vec<Op> {
        vec![Op::Conv2d {
            name: self.name.clone(),
            input: input.into(),
            weight: self.weight.name.clone(),
            bias: self.bias.as_ref().map(|b| b.name.clone()),
            input_shape: per_image_chw(&self.shape.input_shape()),
            output_shape: per_image_chw(&self.shape.output_shape()),
            kernel: self.shape.kernel,
            stride: self.shape.stride,
            padding: self.shape.padding,
        }]
    }
}
