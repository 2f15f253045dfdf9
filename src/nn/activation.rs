use super::{Activation, Layer, Mode};
use crate::gpu::{Dispatch, Gpu, Recorder, Result};
use crate::ops::relu;

/// A named place where the network applies its non-linearity: the exact ReLU here;
/// the point where sturdiness training perturbs it and a PANN replaces it.
pub struct ActivationSite {
    pub name: String,
    input: Activation,
    output: Activation,
    forward: Dispatch,
    backward: Option<Dispatch>,
}

impl ActivationSite {
    pub fn new(gpu: &Gpu, name: &str, input: &Activation) -> Result<ActivationSite> {
        let output = Activation::new(gpu, input.shape())?;
        let forward = relu::forward(gpu, &input.value, &output.value)?;
        let backward = match &input.grad {
            Some(input_grad) => Some(relu::backward(gpu, &input.value, output.grad(), input_grad)?),
            None => None,
        };
        let input = Activation { value: input.value.clone(), grad: input.grad.clone() };
        Ok(ActivationSite { name: name.into(), input, output, forward, backward })
    }

    /// The pre-activation values of the last forward pass.
    pub fn input(&self) -> &Activation {
        &self.input
    }
}

impl Layer for ActivationSite {
    fn output(&self) -> &Activation {
        &self.output
    }

    fn record_forward(&self, recorder: &mut Recorder, _mode: Mode) {
        recorder.record(&self.forward);
    }

    fn record_backward(&self, recorder: &mut Recorder) {
        recorder.record_all(&self.backward);
    }

    fn sites(&self) -> Vec<&ActivationSite> {
        vec![self]
    }
}
