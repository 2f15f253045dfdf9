use super::describe::INPUT;
use super::{Activation, Layer, Mode, Op, Param, Purpose, Site, SiteTables};
use crate::gpu::{Gpu, Recorder, Result, Tensor};

/// A chain of layers from an input batch to logits.
pub struct Network {
    pub input: Activation,
    pub sites: SiteTables,
    layers: Vec<Box<dyn Layer>>,
    /// Whether [`Network::choose_kernels`] has built the layers' variant passes.
    kernels_chosen: bool,
}

impl Network {
    pub fn new(input: Activation, sites: SiteTables) -> Network {
        Network { input, sites, layers: Vec::new(), kernels_chosen: false }
    }

    /// The output of the last layer (the input for an empty network): what the next layer reads.
    pub fn last(&self) -> &Activation {
        self.layers.last().map_or(&self.input, |layer| layer.output())
    }

    pub fn purpose(&self) -> Purpose {
        self.sites.purpose()
    }

    pub fn push(&mut self, layer: impl Layer + 'static) {
        self.layers.push(Box::new(layer));
    }

    pub fn logits(&self) -> &Activation {
        self.last()
    }

    /// The second phase of a build, after every layer is pushed (and so allocated): each
    /// layer's kernel variants are chosen, timed where nothing is cached.
    pub fn choose_kernels(&mut self, gpu: &Gpu) -> Result<()> {
        let _shown = gpu.measuring();
        self.layers.iter_mut().try_for_each(|layer| layer.choose_kernels(gpu))?;
        self.kernels_chosen = true;
        Ok(())
    }

    fn assert_kernels_chosen(&self) {
        assert!(self.kernels_chosen, "Network::choose_kernels builds the passes before they are recorded");
    }

    pub fn record_forward(&self, recorder: &mut Recorder, mode: Mode) {
        self.assert_kernels_chosen();
        for layer in &self.layers {
            layer.record_forward(recorder, mode);
        }
    }

    pub fn record_backward(&self, recorder: &mut Recorder) {
        self.assert_kernels_chosen();
        for layer in self.layers.iter().rev() {
            layer.record_backward(recorder);
        }
    }

    pub fn params(&self) -> Vec<&Param> {
        self.layers.iter().flat_map(|l| l.params()).collect()
    }

    /// Persistent non-trainable tensors: running statistics and the sites' running max |x|.
    pub fn state(&self) -> Vec<(String, &Tensor)> {
        let mut state: Vec<_> = self.layers.iter().flat_map(|l| l.state()).collect();
        state.push(("sites.max_abs".into(), &self.sites.max_abs));
        state
    }

    /// The input and every activation of every layer.
    pub fn activations(&self) -> Vec<&Activation> {
        std::iter::once(&self.input).chain(self.layers.iter().flat_map(|l| l.activations())).collect()
    }

    /// Every site (ReLU and max pooling), in index order.
    pub fn site_list(&self) -> Vec<&Site> {
        self.layers.iter().flat_map(|l| l.sites()).collect()
    }

    /// Every site's PANN-mode overflow counter, in index order.
    pub fn overflow_counters(&self) -> Vec<&Tensor> {
        self.site_list().into_iter().map(|site| &site.overflow).collect()
    }

    /// The inference graph, layer by layer, starting from the value [`INPUT`].
    pub fn describe(&self) -> Vec<Op> {
        let mut ops: Vec<Op> = Vec::new();
        for layer in &self.layers {
            let input = ops.last().map_or(INPUT.to_string(), |op| op.name().to_string());
            ops.extend(layer.describe(&input));
        }
        ops
    }
}
