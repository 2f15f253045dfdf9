use super::describe::per_image;
use super::{Activation, Layer, Mode, Op, Param, Purpose};
use crate::gpu::{Dispatch, Gpu, Recorder, Result, Tensor};
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
    /// `shares_grad_with`, when given, is the activation whose gradient tensor this
    /// layer's output gradient is (a sibling branch of a residual sum).
    pub fn new(
        gpu: &Gpu,
        name: &str,
        input: &Activation,
        shares_grad_with: Option<&Activation>,
        purpose: Purpose,
    ) -> Result<BatchNorm> {
        let shape = input.shape();
        let bn_shape = BatchNormShape { batch: shape[0], channels: shape[1], spatial: shape[2..].iter().product() };
        let channels = [bn_shape.channels];
        let gamma = Param::constant(gpu, format!("{name}.weight"), &channels, 1.0, true, purpose)?;
        let beta = Param::constant(gpu, format!("{name}.bias"), &channels, 0.0, true, purpose)?;
        let running_mean = gpu.zeros(&channels)?;
        let running_var = gpu.upload(&channels, &vec![1.0f32; bn_shape.channels])?;
        let output = match shares_grad_with {
            Some(sibling) => Activation::sharing_grad(gpu, sibling)?,
            None => Activation::new(gpu, shape, purpose)?,
        };
        let options = BatchNormOptions::default();
        // Inference binds only gamma, beta and the running statistics: these stand in,
        // unread, for the saved-for-backward and gradient tensors.
        let running = BatchNormTensors {
            gamma: &gamma.value,
            beta: &beta.value,
            running_mean: &running_mean,
            running_var: &running_var,
            saved_mean: &running_mean,
            saved_inv_std: &running_var,
            dgamma: &gamma.value,
            dbeta: &beta.value,
        };
        let eval = batchnorm::forward_inference(gpu, bn_shape, options, &input.value, &running, &output.value)?;
        let (mut train, mut backward) = (Vec::new(), Vec::new());
        if purpose == Purpose::Training {
            let input_grad = input.input_grad(name)?;
            let (saved_mean, saved_inv_std) = (gpu.zeros(&channels)?, gpu.zeros(&channels)?);
            let tensors = BatchNormTensors {
                saved_mean: &saved_mean,
                saved_inv_std: &saved_inv_std,
                dgamma: gamma.grad(),
                dbeta: beta.grad(),
                ..running
            };
            train = batchnorm::forward_train(gpu, bn_shape, options, &input.value, &tensors, &output.value)?;
            backward = batchnorm::backward(gpu, bn_shape, &input.value, output.grad(), &tensors, input_grad)?;
        }
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
