use super::{Activation, Layer, Mode, Op, SiteTables, MAX_SITES};
use crate::gpu::{Dispatch, Gpu, Recorder, Result};
use crate::ops::{dropout, noisy_relu};

/// Dropout: in training mode each element is zeroed with probability `rate` (the others
/// scaled by 1 / (1 - rate)) by a mask drawn from the tables' (seed, step) counter, so runs
/// are reproducible; in every other mode the identity.
pub struct Dropout {
    output: Activation,
    eval: Dispatch,
    /// Training forward and backward (training networks only).
    train: Option<(Dispatch, Dispatch)>,
}

impl Dropout {
    /// `stream` tells the network's dropout layers apart (0, 1, ...): their masks are
    /// random streams after the sites' noise streams (`MAX_SITES + stream`).
    pub fn new(
        gpu: &Gpu,
        name: &str,
        input: &Activation,
        rate: f64,
        stream: u32,
        tables: &SiteTables,
    ) -> Result<Dropout> {
        let output = Activation::new(gpu, input.shape(), tables.purpose())?;
        let stream = MAX_SITES as u32 + stream;
        let (x, y) = (&input.value, &output.value);
        let train = match tables.random_counter() {
            Some(counter) => Some((
                dropout::forward(gpu, counter, stream, rate, x, y)?,
                dropout::backward(gpu, counter, stream, rate, output.grad(), input.input_grad(name)?)?,
            )),
            None => None,
        };
        // Rate 0 never reads the counter's words into a decision: any counter will do.
        let eval = dropout::forward(gpu, &noisy_relu::counter(gpu)?, stream, 0.0, x, y)?;
        Ok(Dropout { output, eval, train })
    }
}

impl Layer for Dropout {
    fn output(&self) -> &Activation {
        &self.output
    }

    fn record_forward(&self, recorder: &mut Recorder, mode: Mode) {
        match (&self.train, mode) {
            (Some((forward, _)), Mode::Train) => recorder.record(forward),
            _ => recorder.record(&self.eval),
        }
    }

    fn record_backward(&self, recorder: &mut Recorder) {
        if let Some((_, backward)) = &self.train {
            recorder.record(backward);
        }
    }

    /// None: the identity in evaluation.
    fn describe(&self, _input: &str) -> Vec<Op> {
        Vec::new()
    }
}
