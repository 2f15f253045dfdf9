use super::describe::per_image_chw;
use super::{Activation, Layer, Mode, Op};
use crate::gpu::{Dispatch, Gpu, GpuError, Recorder, Result, Tensor};
use crate::ops::pool;

/// A pooling layer: global average ([N,C,H,W] -> [N,C]) or 2x2 max pooling.
pub struct Pool {
    name: String,
    kind: PoolKind,
    /// The input's NCHW shape.
    input_shape: Vec<usize>,
    output: Activation,
    forward: Dispatch,
    backward: Dispatch,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PoolKind {
    GlobalAverage,
    Max2x2,
}

fn input_grad<'a>(name: &str, input: &'a Activation) -> Result<&'a Tensor> {
    input.grad.as_ref().ok_or_else(|| GpuError::shape(format!("{name}: pooling cannot be the first layer")))
}

impl Pool {
    pub fn global_average(gpu: &Gpu, name: &str, input: &Activation) -> Result<Pool> {
        let output = Activation::new(gpu, &input.shape()[..2])?;
        let forward = pool::global_average_forward(gpu, &input.value, &output.value)?;
        let backward = pool::global_average_backward(gpu, output.grad(), input_grad(name, input)?)?;
        let (name, input_shape) = (name.into(), input.shape().to_vec());
        Ok(Pool { name, kind: PoolKind::GlobalAverage, input_shape, output, forward, backward })
    }

    pub fn max_2x2(gpu: &Gpu, name: &str, input: &Activation) -> Result<Pool> {
        let shape = pool::max_pool_output_shape(input.shape())?;
        let output = Activation::new(gpu, &shape)?;
        // Arg-max positions saved by the forward pass; the dispatches keep the buffer alive.
        let argmax = gpu.zeros(&shape)?;
        let forward = pool::max_pool_forward(gpu, &input.value, &output.value, &argmax)?;
        let backward = pool::max_pool_backward(gpu, &argmax, output.grad(), input_grad(name, input)?)?;
        let (name, input_shape) = (name.into(), input.shape().to_vec());
        Ok(Pool { name, kind: PoolKind::Max2x2, input_shape, output, forward, backward })
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

    fn describe(&self, input: &str) -> Vec<Op> {
        let (name, input, input_shape) = (self.name.clone(), input.to_string(), per_image_chw(&self.input_shape));
        vec![match self.kind {
            PoolKind::GlobalAverage => Op::GlobalAveragePool { name, input, input_shape },
            PoolKind::Max2x2 => {
                Op::MaxPool2x2 { name, input, input_shape, output_shape: per_image_chw(self.output.shape()) }
            }
        }]
    }
}
