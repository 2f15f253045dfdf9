use super::{Activation, ActivationSite, Layer, Mode, Param};
use crate::gpu::{Recorder, Tensor};

/// A chain of layers from an input batch to logits.
pub struct Network {
    pub input: Activation,
    layers: Vec<Box<dyn Layer>>,
}

impl Network {
    pub fn new(input: Activation) -> Network {
        Network { input, layers: Vec::new() }
    }

    /// The output of the last layer (the input for an empty network): what the next layer reads.
    pub fn last(&self) -> &Activation {
        self.layers.last().map_or(&self.input, |layer| layer.output())
    }

    pub fn push(&mut self, layer: impl Layer + 'static) {
        self.layers.push(Box::new(layer));
    }

    pub fn logits(&self) -> &Activation {
        self.last()
    }

    pub fn record_forward(&self, recorder: &mut Recorder, mode: Mode) {
        for layer in &self.layers {
            layer.record_forward(recorder, mode);
        }
    }

    pub fn record_backward(&self, recorder: &mut Recorder) {
        for layer in self.layers.iter().rev() {
            layer.record_backward(recorder);
        }
    }

    pub fn params(&self) -> Vec<&Param> {
        self.layers.iter().flat_map(|l| l.params()).collect()
    }

    pub fn state(&self) -> Vec<(String, &Tensor)> {
        self.layers.iter().flat_map(|l| l.state()).collect()
    }

    /// The input and every activation of every layer.
    pub fn activations(&self) -> Vec<&Activation> {
        std::iter::once(&self.input).chain(self.layers.iter().flat_map(|l| l.activations())).collect()
    }

    pub fn sites(&self) -> Vec<&ActivationSite> {
        self.layers.iter().flat_map(|l| l.sites()).collect()
    }
}
