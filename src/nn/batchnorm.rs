use super::describe::per_image;
use super::{Activation, Layer, Mode, Op, Param};
use crate::gpu::{Dispatch, Gpu, GpuError, Recorder, Result, Tensor};
use crate::ops::batchnorm::{self, BatchNormOptions, BatchNormShape, BatchNormTensors};

/// Batch normalisation over the channels of an NCHW (or NC) activation.
pub struct BatchNorm {
    gamma: Param,
    beta: Param,
    running_mean: Tensor,
    running_var: Tensor,
    name: String,
    eps: f32,
    output: Activation,
    train: Vec<Dispatch>,
    eval: Dispatch,
    backward: Vec<Dispatch>,
}

impl BatchNorm {
    /// `output_grad`, when given, is the tensor this layer reads its output gradient
    /// from (shared with a sibling branch of a residual sum).
    pub fn new(gpu: &Gpu, name: &str, input: &Activation, output_grad: Option<&Tensor>) -> Result<BatchNorm> {
        let shape = input.shape();
        let input_grad = input.grad.as_ref().ok_or_else(|| {
            GpuError::shape(format!("{name}: batch norm cannot be the first layer (its input has no gradient)"))
        })?;
        let bn_shape = BatchNormShape { batch: shape[0], channels: shape[1], spatial: shape[2..].iter().product() };
        let channels = [bn_shape.channels];
        let gamma = Param::constant(gpu, format!("{name}.weight"), &channels, 1.0, true)?;
        let beta = Param::constant(gpu, format!("{name}.bias"), &channels, 0.0, true)?;
        let running_mean = gpu.zeros(&channels)?;
        let running_var = gpu.upload(&channels, &vec![1.0f32; bn_shape.channels])?;
        let (saved_mean, saved_inv_std) = (gpu.zeros(&channels)?, gpu.zeros(&channels)?);
        let output = match output_grad {
            Some(grad) => Activation::sharing_grad(gpu, grad)?,
            None => Activation::new(gpu, shape)?,
        };
        let tensors = BatchNormTensors {
            gamma: &gamma.value,
            beta: &beta.value,
            running_mean: &running_mean,
            running_var: &running_var,
            saved_mean: &saved_mean,
            saved_inv_std: &saved_inv_std,
            dgamma: &gamma.grad,
            dbeta: &beta.grad,
        };
        let options = BatchNormOptions::default();
        let train = batchnorm::forward_train(gpu, bn_shape, options, &input.value, &tensors, &output.value)?;
        let eval = batchnorm::forward_inference(gpu, bn_shape, options, &input.value, &tensors, &output.value)?;
        let backward = batchnorm::backward(gpu, bn_shape, &input.value, output.grad(), &tensors, input_grad)?;
        let (name, eps) = (name.into(), options.eps);
        Ok(BatchNorm { gamma, beta, running_mean, running_var, name, eps, output, train, eval, backward })
    }
}

impl Layer for BatchNorm {
    fn output(&self) -> &Activation {
        &self.output
    }

    fn record_forward(&self, recorder: &mut Recorder, mode: Mode) {
        match mode {
            Mode::Train => recorder.record_all(&self.train),
            Mode::Eval | Mode::Calibrate | Mode::Pann => recorder.record(&self.eval),
        }
    }

    fn record_backward(&self, recorder: &mut Recorder) {
        recorder.record_all(&self.backward);
    }

    fn params(&self) -> Vec<&Param> {
        vec![&self.gamma, &self.beta]
    }

    fn state(&self) -> Vec<(String, &Tensor)> {
        vec![
            (format!("{}.running_mean", self.name), &self.running_mean),
            (format!("{}.running_var", self.name), &self.running_var),
        ]
    }

    fn describe(&self, input: &str) -> Vec<Op> {
        vec![Op::BatchNorm {
            name: self.name.clone(),
            input: input.into(),
            weight: self.gamma.name.clone(),
            bias: self.beta.name.clone(),
            running_mean: format!("{}.running_mean", self.name),
            running_var: format!("{}.running_var", self.name),
            eps: self.eps,
            shape: per_image(self.output.shape()),
        }]
    }
}
