//! A batch norm and the ReLU site after it, fused where `Gpu::fuses_passes` allows (the
//! default). Evaluation, and training with exact ReLUs, run one normalise-and-ReLU pass
//! each way. Training with noise or through the polynomial runs the batch norm's
//! statistics (which also measure the site's running max |x|), then the site's kernel
//! reading the batch norm's input through its normalisation, so the batch norm's output
//! is never written; backward goes through the batch norm's own ReLU gate where the site's
//! gradient is that gate (additive and replay noise), else through the site's backward
//! and the batch norm's. Calibration and PANN evaluation read the batch norm's output, so
//! they run the two layers one after the other.

use super::batchnorm::{ForwardPasses, Passes};
use super::{Activation, BatchNorm, Layer, Mode, Op, Param, Site, SiteTables};
use crate::gpu::{Dispatch, Gpu, Recorder, Result, Tensor};

pub struct BnRelu {
    bn: BatchNorm,
    relu: Site,
    /// Evaluation's fused pass; None where passes are not fused.
    fused_eval: Option<Dispatch>,
    /// Training's fused forward and backward; None where passes are not fused.
    fused_training: Option<(Vec<Dispatch>, Vec<Dispatch>)>,
}

impl BnRelu {
    /// Fuses `bn` with `relu`, the ReLU site of `tables` that reads its output.
    pub fn new(gpu: &Gpu, bn: BatchNorm, relu: Site, tables: &SiteTables) -> Result<BnRelu> {
        if !gpu.fuses_passes() {
            return Ok(BnRelu { bn, relu, fused_eval: None, fused_training: None });
        }
        let Passes { forward: ForwardPasses { train, eval }, backward } = bn.fused_relu(gpu, relu.output())?;
        let fused_training = match bn.normalization() {
            Some(normalization) if !relu.trains_exact() => {
                let site = relu.normalized_training(gpu, bn.input(), normalization, bn.output().grad(), tables)?;
                let site = site.expect("a training batch norm is in a training network");
                let statistics = bn.statistics(gpu, site.measure)?.expect("a training batch norm has statistics");
                let forward = std::iter::once(statistics).chain(site.forward).collect();
                let backward = match site.gate {
                    true => backward,
                    false => site.backward.into_iter().chain(bn.backward().iter().cloned()).collect(),
                };
                (forward, backward)
            }
            _ => (train, backward),
        };
        Ok(BnRelu { bn, relu, fused_eval: Some(eval), fused_training: Some(fused_training) })
    }
}

impl Layer for BnRelu {
    fn output(&self) -> &Activation {
        self.relu.output()
    }

    fn record_forward(&self, recorder: &mut Recorder, mode: Mode) {
        match (mode, &self.fused_eval, &self.fused_training) {
            (Mode::Eval, Some(eval), _) => recorder.record(eval),
            (Mode::Train, _, Some((forward, _))) => recorder.record_all(forward),
            _ => {
                self.bn.record_forward(recorder, mode);
                self.relu.record_forward(recorder, mode);
            }
        }
    }

    fn record_backward(&self, recorder: &mut Recorder) {
        match &self.fused_training {
            Some((_, backward)) => recorder.record_all(backward),
            None => {
                self.relu.record_backward(recorder);
                self.bn.record_backward(recorder);
            }
        }
    }

    fn params(&self) -> Vec<&Param> {
        self.bn.params()
    }

    fn state(&self) -> Vec<(String, &Tensor)> {
        self.bn.state()
    }

    fn activations(&self) -> Vec<&Activation> {
        vec![self.bn.output(), self.relu.output()]
    }

    fn sites(&self) -> Vec<&Site> {
        vec![&self.relu]
    }

    fn describe(&self, input: &str) -> Vec<Op> {
        let mut ops = self.bn.describe(input);
        let bn = ops.last().expect("batch norm describes its op").name().to_string();
        ops.extend(self.relu.describe(&bn));
        ops
    }
}
