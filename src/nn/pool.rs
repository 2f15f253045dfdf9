use super::describe::per_image_chw;
use super::{Activation, Layer, Mode, Op, SiteTables};
use crate::gpu::{Dispatch, Gpu, GpuError, Recorder, Result, Tensor};
use crate::ops::{calibrate, poly_relu, pool};

/// A pooling layer: global average ([N,C,H,W] -> [N,C]) or 2x2 max pooling.
pub struct Pool {
    name: String,
    input_shape: Vec<usize>,
    output: Activation,
    forward: Dispatch,
    backward: Dispatch,
    /// Max pooling only: its replacement in a PANN.
    poly: Option<PolyMax>,
}

/// The polynomial max of a PANN (`poly_relu::max_pool_forward`), registered as a site in
/// the network's [`SiteTables`]: calibration measures the running max |x| of the pool's
/// input at its index, and PANN mode reads its bound B there and the shared coefficients.
struct PolyMax {
    /// Window differences beyond their bound in PANN mode (u32 [1]), accumulated until reset.
    overflow: Tensor,
    measure: Dispatch,
    forward: Dispatch,
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
        Ok(Pool { name, input_shape, output, forward, backward, poly: None })
    }

    /// Exact 2x2 max pooling, replaced in [`Mode::Pann`] by the polynomial max of the
    /// tables' coefficients, with the bound of the site it registers as `name`.
    pub fn max_2x2(gpu: &Gpu, name: &str, input: &Activation, tables: &SiteTables) -> Result<Pool> {
        let shape = pool::max_pool_output_shape(input.shape())?;
        let output = Activation::new(gpu, &shape)?;
        // Arg-max positions saved by the forward pass; the dispatches keep the buffer alive.
        let argmax = gpu.zeros(&shape)?;
        let forward = pool::max_pool_forward(gpu, &input.value, &output.value, &argmax)?;
        let backward = pool::max_pool_backward(gpu, &argmax, output.grad(), input_grad(name, input)?)?;
        let index = tables.register(name)?;
        let overflow = gpu.zeros(&[1])?;
        let poly = PolyMax {
            measure: calibrate::running_max_abs(gpu, index, &input.value, &tables.max_abs)?,
            forward: poly_relu::max_pool_forward(
                gpu,
                &tables.coefficients,
                &tables.bounds,
                index,
                &input.value,
                &output.value,
                &overflow,
            )?,
            overflow,
        };
        let (name, input_shape) = (name.into(), input.shape().to_vec());
        Ok(Pool { name, input_shape, output, forward, backward, poly: Some(poly) })
    }
}

impl Layer for Pool {
    fn output(&self) -> &Activation {
        &self.output
    }

    fn record_forward(&self, recorder: &mut Recorder, mode: Mode) {
        match (&self.poly, mode) {
            (Some(poly), Mode::Pann) => recorder.record(&poly.forward),
            (Some(poly), Mode::Calibrate) => {
                recorder.record(&poly.measure);
                recorder.record(&self.forward);
            }
            _ => recorder.record(&self.forward),
        }
    }

    fn record_backward(&self, recorder: &mut Recorder) {
        recorder.record(&self.backward);
    }

    fn overflow_counters(&self) -> Vec<&Tensor> {
        self.poly.iter().map(|poly| &poly.overflow).collect()
    }

    fn describe(&self, input: &str) -> Vec<Op> {
        let (name, input, input_shape) = (self.name.clone(), input.to_string(), per_image_chw(&self.input_shape));
        // Only max pooling has a polynomial replacement.
        vec![match self.poly {
            None => Op::GlobalAveragePool { name, input, input_shape },
            Some(_) => Op::MaxPool2x2 { name, input, input_shape, output_shape: per_image_chw(self.output.shape()) },
        }]
    }
}
