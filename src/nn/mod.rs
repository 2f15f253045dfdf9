//! Layers. Each owns its parameters, its output and the dispatches of its forward and
//! backward passes, bound once at construction: a step only records them. Backward is
//! explicit per layer (no autograd): gradients flow from `output.grad` to `input.grad`.

mod activation;
mod batchnorm;
mod conv2d;
pub mod describe;
mod linear;
mod network;
mod param;
mod pool;
mod residual;

pub use activation::{ActivationSite, SiteTables, TrainActivation, MAX_SITES};
pub use batchnorm::BatchNorm;
pub use conv2d::{Conv2d, ConvGeometry};
pub use describe::Op;
pub use linear::Linear;
pub use network::Network;
pub use param::Param;
pub use pool::Pool;
pub use residual::BasicBlock;

use crate::gpu::{Gpu, Recorder, Result, Tensor};

/// A tensor flowing between layers and the gradient of the loss with respect to it.
/// The network's input has no gradient.
pub struct Activation {
    pub value: Tensor,
    pub grad: Option<Tensor>,
}

impl Activation {
    pub fn new(gpu: &Gpu, shape: &[usize]) -> Result<Activation> {
        Ok(Activation { value: gpu.zeros(shape)?, grad: Some(gpu.zeros(shape)?) })
    }

    /// A new value whose gradient is `grad`: for outputs whose gradients are the same
    /// tensor, as both branches of a residual sum are.
    pub fn sharing_grad(gpu: &Gpu, grad: &Tensor) -> Result<Activation> {
        Ok(Activation { value: gpu.zeros(grad.shape())?, grad: Some(grad.clone()) })
    }

    pub fn input(gpu: &Gpu, shape: &[usize]) -> Result<Activation> {
        Ok(Activation { value: gpu.zeros(shape)?, grad: None })
    }

    pub fn shape(&self) -> &[usize] {
        self.value.shape()
    }

    /// The gradient tensor of an activation that is not the network input.
    pub fn grad(&self) -> &Tensor {
        self.grad.as_ref().expect("only the network input has no gradient")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Batch statistics, training-time activations (exact, noise-perturbed or polynomial).
    Train,
    /// Running statistics, exact activations.
    Eval,
    /// Like `Eval`, and each site's running max |x| grows to cover this batch.
    Calibrate,
    /// Running statistics, every ReLU replaced by the polynomial (a PANN).
    Pann,
}

pub trait Layer {
    fn output(&self) -> &Activation;
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
    /// The activation sites (ReLUs) inside this layer.
    fn sites(&self) -> Vec<&ActivationSite> {
        Vec::new()
    }
    /// The PANN-mode overflow counters (u32 [1]) of this layer: its sites' and, for max
    /// pooling, the polynomial max's.
    fn overflow_counters(&self) -> Vec<&Tensor> {
        self.sites().into_iter().map(|site| &site.overflow).collect()
    }
    /// The ops this layer runs in evaluation mode, reading the value `input`; the last
    /// op's output is the layer's output.
    fn describe(&self, input: &str) -> Vec<Op>;
}
