use rand::Rng;

use super::param::fan_in_uniform;
use super::{Activation, Layer, Mode, Op, Param, Purpose};
use crate::gpu::{Dispatch, Gpu, Recorder, Result};
use crate::ops::linear;
use crate::ops::variants::{choose, Build, Product};

/// Fully connected layer; reads an [N, ...] input flattened.
pub struct Linear {
    name: String,
    in_features: usize,
    input: Activation,
    weight: Param,
    bias: Param,
    output: Activation,
    /// Empty until [`Layer::choose_kernels`] builds them.
    forward: Vec<Dispatch>,
    backward: Vec<Dispatch>,
}

impl Linear {
    pub fn new(
        gpu: &Gpu,
        name: &str,
        input: &Activation,
        out_features: usize,
        purpose: Purpose,
        rng: &mut impl Rng,
    ) -> Result<Linear> {
        let batch = input.shape()[0];
        let in_features: usize = input.shape()[1..].iter().product();
        let weight_init = fan_in_uniform(rng, out_features * in_features, in_features);
        let weight_shape = [out_features, in_features];
        let weight = Param::new(gpu, format!("{name}.weight"), &weight_shape, &weight_init, false, purpose)?;
        let bias_init = fan_in_uniform(rng, out_features, in_features);
        let bias = Param::new(gpu, format!("{name}.bias"), &[out_features], &bias_init, false, purpose)?;
        let output = Activation::new(gpu, &[batch, out_features], purpose)?;
        let (input, forward, backward) = (input.clone(), Vec::new(), Vec::new());
        Ok(Linear { name: name.into(), in_features, input, weight, bias, output, forward, backward })
    }
}

/// The forward dispatches and (training) the backward ones, each op with the variant
/// `choose` picks for it.
fn passes(gpu: &Gpu, linear: &Linear) -> Result<(Vec<Dispatch>, Vec<Dispatch>)> {
    let Linear { in_features, input, weight, bias, output, .. } = linear;
    let (batch, out_features) = (input.shape()[0], output.shape()[1]);
    let pick = |product, build: Build| {
        let variants = linear::applicable(gpu, product, batch, *in_features, out_features);
        choose(gpu, &linear::variant_key(product, batch, *in_features, out_features), &variants, build)
    };
    let (x, w, y) = (&input.value, &weight.value, &output.value);
    let forward_with = |v| linear::forward(gpu, v, x, w, &bias.value, y);
    let forward = forward_with(pick(Product::Forward, &forward_with)?)?;
    let mut backward = Vec::new();
    // A layer built for inference has no gradients, and no backward.
    if let Some(dy) = &output.grad {
        let params_with = |v| linear::backward_params(gpu, v, x, dy, weight.grad(), bias.grad());
        backward = params_with(pick(Product::BackwardWeight, &params_with)?)?;
        if let Some(dx) = &input.grad {
            let input_with = |v| linear::backward_input(gpu, v, w, dy, dx);
            backward.extend(input_with(pick(Product::BackwardInput, &input_with)?)?);
        }
    }
    Ok((forward, backward))
}

impl Layer for Linear {
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
        vec![&self.weight, &self.bias]
    }

    fn describe(&self, input: &str) -> Vec<Op> {
        vec![Op::Linear {
            name: self.name.clone(),
            input: input.into(),
            weight: self.weight.name.clone(),
            bias: self.bias.name.clone(),
            in_features: self.in_features,
            out_features: self.output.shape()[1],
        }]
    }
}
