//! Layers. Each owns its parameters, its output and the dispatches of its forward and
//! backward passes, bound once at construction: a step only records them. Backward is
//! explicit per layer (no autograd): gradients flow from `output.grad` to `input.grad`.
//! A network built for [`Purpose::Inference`] has no backward pass and allocates none of
//! its buffers.

mod batchnorm;
mod bn_relu;
mod conv2d;
pub mod describe;
mod dropout;
mod linear;
mod network;
mod param;
mod pool;
mod residual;
mod shortcut;
mod site;

pub use batchnorm::BatchNorm;
pub use bn_relu::BnRelu;
pub use conv2d::{Conv2d, ConvGeometry};
pub use describe::Op;
pub use dropout::Dropout;
pub use linear::Linear;
pub use network::Network;
pub use param::{Param, TrainingState};
pub use pool::GlobalAveragePool;
pub use residual::{BasicBlock, BlockShape};
pub use shortcut::{Shortcut, ZeroPadShortcut};
pub use site::{Site, SiteKind, SiteTables, TrainActivation, MAX_SITES};

use crate::gpu::{Gpu, GpuError, Recorder, Result, Tensor};

/// What a network is built for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Forward and backward passes: activation and parameter gradients, optimiser
    /// velocities and what backward reads.
    Training,
    /// Forward passes only ([`Mode::Eval`], [`Mode::Calibrate`], [`Mode::Pann`]), without
    /// any of those buffers.
    Inference,
}

/// A tensor flowing between layers and the gradient of the loss with respect to it.
/// The network's input, and every activation of an inference network, has no gradient.
/// A clone is another handle on the same tensors.
#[derive(Clone)]
pub struct Activation {
    pub value: Tensor,
    pub grad: Option<Tensor>,
}

impl Activation {
    /// A layer's output, with a gradient when training.
    pub fn new(gpu: &Gpu, shape: &[usize], purpose: Purpose) -> Result<Activation> {
        let grad = match purpose {
            Purpose::Training => Some(gpu.zeros(shape)?),
            Purpose::Inference => None,
        };
        Ok(Activation { value: gpu.zeros(shape)?, grad })
    }

    /// A new value of `other`'s shape with `other`'s gradient tensor (if any): for outputs
    /// whose gradients are the same tensor, as both branches of a residual sum are.
    pub fn sharing_grad(gpu: &Gpu, other: &Activation) -> Result<Activation> {
        Ok(Activation { value: gpu.zeros(other.shape())?, grad: other.grad.clone() })
    }

    pub fn input(gpu: &Gpu, shape: &[usize]) -> Result<Activation> {
        Ok(Activation { value: gpu.zeros(shape)?, grad: None })
    }

    pub fn shape(&self) -> &[usize] {
        self.value.shape()
    }

    /// The gradient that the training layer `layer` writes into this, its input: an error
    /// where the input is the network's (a layer that cannot come first).
    pub fn input_grad(&self, layer: &str) -> Result<&Tensor> {
        self.grad
            .as_ref()
            .ok_or_else(|| GpuError::shape(format!("{layer} cannot be the first layer: its input has no gradient")))
    }

    /// The gradient tensor of a training network's activation other than its input.
    pub fn grad(&self) -> &Tensor {
        self.grad.as_ref().expect("only the network input and inference networks have no gradients")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Batch statistics, training-time activations (exact, noise-perturbed or polynomial);
    /// networks built for [`Purpose::Training`] only.
    Train,
    /// Running statistics, exact activations.
    Eval,
    /// Like `Eval`, and each site's running max |x| grows to cover this batch.
    Calibrate,
    /// Running statistics, every site approximated by the polynomial (a PANN).
    Pann,
}

pub trait Layer {
    fn output(&self) -> &Activation;
    /// Picks the variant of each op that has several (`ops::variants::choose`, which may
    /// time them) and builds its dispatches. Called once the whole network is allocated,
    /// so that a model too large for the adapter fails before any variant is timed.
    fn choose_kernels(&mut self, _gpu: &Gpu) -> Result<()> {
        Ok(())
    }
    fn record_forward(&self, recorder: &mut Recorder, mode: Mode);
    fn record_backward(&self, recorder: &mut Recorder);
    /// Trainable parameters, for the optimiser and checkpoints.
    fn params(&self) -> Vec<&Param> {
        Vec::new()
    }
    /// Persistent non-trainable tensors (batch-norm running statistics), by name.
    fn state(&self) -> Vec<(String, &Tensor)> {
        Vec::new()
    }
    /// Every activation this layer produces (its output and any internal ones), for
    /// accounting memory.
    fn activations(&self) -> Vec<&Activation> {
        vec![self.output()]
    }
    /// The sites (ReLUs and max poolings) inside this layer.
    fn sites(&self) -> Vec<&Site> {
        Vec::new()
    }
    /// The ops this layer runs in evaluation mode, reading the value `input`; the last
    /// op's output is the layer's output (none for a layer that is the identity there).
    fn describe(&self, input: &str) -> Vec<Op>;
}
