use super::describe::per_image_chw;
use super::{Activation, Layer, Mode, Op, Purpose};
use crate::gpu::{Dispatch, Gpu, Recorder, Result};
use crate::ops::pool;

/// Global average pooling, `[N, C, H, W] -> [N, C]`. (2x2 max pooling is a [`super::Site`].)
pub struct GlobalAveragePool {
    name: String,
    input_shape: Vec<usize>,
    output: Activation,
    forward: Dispatch,
    backward: Option<Dispatch>,
}

impl GlobalAveragePool {
    pub fn new(gpu: &Gpu, name: &str, input: &Activation, purpose: Purpose) -> Result<GlobalAveragePool> {
        let output = Activation::new(gpu, &input.shape()[..2], purpose)?;
        let forward = pool::global_average_forward(gpu, &input.value, &output.value)?;
        let backward = match purpose {
            Purpose::Training => Some(pool::global_average_backward(gpu, output.grad(), input.input_grad(name)?)?),
            Purpose::Inference => None,
        };
        let (name, input_shape) = (name.into(), input.shape().to_vec());
        Ok(GlobalAveragePool { name, input_shape, output, forward, backward })
    }
}

impl Layer for GlobalAveragePool {
    fn output(&self) -> &Activation {
        &self.output
    }

    fn record_forward(&self, recorder: &mut Recorder, _mode: Mode) {
        recorder.record(&self.forward);
    }

    fn record_backward(&self, recorder: &mut Recorder) {
        recorder.record_all(&self.backward);
    }

    fn describe(&self, input: &str) -> Vec<Op> {
        vec![Op::GlobalAveragePool {
            name: self.name.clone(),
            input: input.into(),
            input_shape: per_image_chw(&self.input_shape),
        }]
    }
}
