use serde::{Deserialize, Serialize};

use super::describe::per_image_chw;
use super::{Activation, Layer, Mode, Op, Purpose};
use crate::gpu::{Dispatch, Gpu, Recorder, Result};
use crate::ops::shortcut;

/// How a residual block's shortcut changes shape (He et al., "Deep Residual Learning").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Shortcut {
    /// Parameter-free: every other row and column, zero channels padded on both sides.
    /// The CIFAR ResNets of the paper and of approxCNN (the prior work's code).
    #[default]
    A,
    /// A strided 1x1 convolution and batch norm.
    B,
}

impl Shortcut {
    /// What runs saved before the setting existed have: they all used option B.
    pub fn before_the_setting() -> Shortcut {
        Shortcut::B
    }
}

impl std::fmt::Display for Shortcut {
    /// The name as the user types it, e.g. `a`.
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        use clap::ValueEnum;
        f.write_str(self.to_possible_value().expect("no shortcut is hidden").get_name())
    }
}

/// The option-A shortcut as a layer (`ops::shortcut`): no parameters, no state.
pub struct ZeroPadShortcut {
    name: String,
    input_shape: [usize; 3],
    output: Activation,
    forward: Dispatch,
    backward: Option<Dispatch>,
}

impl ZeroPadShortcut {
    /// Subsamples `input` and pads it to the channels of `shares_grad_with`, the residual
    /// branch it is summed with, whose gradient tensor this layer's output gradient is.
    pub fn new(
        gpu: &Gpu,
        name: &str,
        input: &Activation,
        shares_grad_with: &Activation,
        purpose: Purpose,
    ) -> Result<ZeroPadShortcut> {
        let output = Activation::sharing_grad(gpu, shares_grad_with)?;
        let forward = shortcut::forward(gpu, &input.value, &output.value)?;
        let backward = match purpose {
            Purpose::Training => Some(shortcut::backward(gpu, output.grad(), input.input_grad(name)?)?),
            Purpose::Inference => None,
        };
        let input_shape = per_image_chw(input.shape());
        Ok(ZeroPadShortcut { name: name.into(), input_shape, output, forward, backward })
    }
}

impl Layer for ZeroPadShortcut {
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
        vec![Op::ZeroPadShortcut {
            name: self.name.clone(),
            input: input.into(),
            input_shape: self.input_shape,
            output_shape: per_image_chw(self.output.shape()),
        }]
    }
}
