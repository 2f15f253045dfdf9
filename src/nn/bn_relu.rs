//! A batch norm and the ReLU site after it, fused into one pass each way where the ReLU
//! computes the exact function: training with exact ReLUs, and evaluation. Calibration,
//! PANN evaluation and noise or polynomial training read the batch norm's output, so
//! they run the two layers one after the other.

use super::batchnorm::Passes;
use super::{Activation, BatchNorm, Layer, Mode, Op, Param, Site};
use crate::gpu::{Gpu, Recorder, Result, Tensor};

pub struct BnRelu {
    bn: BatchNorm,
    relu: Site,
    fused: Passes,
    /// Whether evaluation runs the fused passes (unless `Gpu::fuses_passes` says not).
    fused_eval: bool,
    /// Whether training mode runs the fused passes (the site trains exact).
    fused_training: bool,
}

impl BnRelu {
    /// Fuses `bn` with `relu`, the ReLU site that reads its output.
    pub fn new(gpu: &Gpu, bn: BatchNorm, relu: Site) -> Result<BnRelu> {
        let fused = bn.fused_relu(gpu, relu.output())?;
        let fused_eval = gpu.fuses_passes();
        let fused_training = fused_eval && relu.trains_exact();
        Ok(BnRelu { bn, relu, fused, fused_eval, fused_training })
    }

    fn fuses(&self, mode: Mode) -> bool {
        (mode == Mode::Eval && self.fused_eval) || (mode == Mode::Train && self.fused_training)
    }
}

impl Layer for BnRelu {
    fn output(&self) -> &Activation {
        self.relu.output()
    }

    fn record_forward(&self, recorder: &mut Recorder, mode: Mode) {
        if self.fuses(mode) {
            self.fused.record_forward(recorder, mode);
        } else {
            self.bn.record_forward(recorder, mode);
            self.relu.record_forward(recorder, mode);
        }
    }

    fn record_backward(&self, recorder: &mut Recorder) {
        if self.fused_training {
            recorder.record_all(&self.fused.backward);
        } else {
            self.relu.record_backward(recorder);
            self.bn.record_backward(recorder);
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
