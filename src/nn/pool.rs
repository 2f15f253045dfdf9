use super::{Activation, Layer, Mode};
use crate::gpu::{Dispatch, Gpu, GpuError, Recorder, Result, Tensor};
use crate::ops::pool;

/// A pooling layer: global average ([N,C,H,W] -> [N,C]) or 2x2 max pooling.
pub struct Pool {
    output: Activation,
    forward: Dispatch,
    backward: Dispatch,
}

fn input_grad<'a>(name: &str, input: &'a Activation) -> Result<&'a Tensor> {
    input.grad.as_ref().ok_or_else(|| GpuError::shape(format!("{name}: pooling cannot be the first layer")))
}

impl Pool {
    pub fn global_average(gpu: &Gpu, name: &str, input: &Activation) -> Result<Pool> {
        let output = Activation::new(gpu, &input.shape()[..2])?;
        let forward = pool::global_average_forward(gpu, &input.value, &output.value)?;
        let backward = pool::global_average_backward(gpu, output.grad(), input_grad(name, input)?)?;
        Ok(Pool { output, forward, backward })
    }

    pub fn max_2x2(gpu: &Gpu, name: &str, input: &Activation) -> Result<Pool> {
        let shape = pool::max_pool_output_shape(input.shape())?;
        let output = Activation::new(gpu, &shape)?;
        // Arg-max positions saved by the forward pass; the dispatches keep the buffer alive.
        let argmax = gpu.zeros(&shape)?;
        let forward = pool::max_pool_forward(gpu, &input.value, &output.value, &argmax)?;
        let backward = pool::max_pool_backward(gpu, &argmax, output.grad(), input_grad(name, input)?)?;
        Ok(Pool { output, forward, backward })
    }
}

impl Layer for Pool {
    fn output(&self) -> &Activation {
        &self.output
    }

    fn record_forward(&self, recorder: &mut Recorder, _mode: Mode) {
        recorder.record(&self.forward);
    }

    fn record_backward(&self, recorder: &mut Recorder) {
        recorder.record(&self.backward);
    }
}
