use super::describe::per_image;
use super::{Activation, Layer, Mode, Op, Param, Purpose};
use crate::gpu::{Dispatch, Gpu, Recorder, Result, Tensor};
use crate::ops::batchnorm::{self, BatchNormOptions, BatchNormShape, BatchNormTensors, Normalization, Residual};
use crate::ops::calibrate::Measure;

/// Batch normalisation over the channels of an NCHW (or NC) activation.
pub struct BatchNorm {
    core: Core,
    output: Activation,
    passes: Passes,
}

/// What every pass of the layer reads or writes, whatever it writes its output to.
struct Core {
    name: String,
    shape: BatchNormShape,
    input: Activation,
    gamma: Param,
    beta: Param,
    running_mean: Tensor,
    running_var: Tensor,
    /// Saved mean and inverse standard deviation of a training layer.
    saved: Option<(Tensor, Tensor)>,
}

/// The dispatches of a batch norm (training forward and backward empty for inference),
/// on their own or with the ReLU after it fused in ([`BatchNorm::fused_relu`]).
pub struct Passes {
    pub forward: ForwardPasses,
    pub backward: Vec<Dispatch>,
}

/// A batch norm's forward dispatches: training's (empty for inference) and evaluation's.
pub struct ForwardPasses {
    pub train: Vec<Dispatch>,
    pub eval: Dispatch,
}

impl BatchNorm {
    /// `shares_grad_with`, when given, is the activation whose gradient tensor this
    /// layer's output gradient is (a sibling branch of a residual sum).
    pub fn new(
        gpu: &Gpu,
        name: &str,
        input: &Activation,
        shares_grad_with: Option<&Activation>,
        purpose: Purpose,
    ) -> Result<BatchNorm> {
        let shape = input.shape();
        let bn_shape = BatchNormShape { batch: shape[0], channels: shape[1], spatial: shape[2..].iter().product() };
        let channels = [bn_shape.channels];
        let core = Core {
            name: name.into(),
            shape: bn_shape,
            input: Activation { value: input.value.clone(), grad: input.grad.clone() },
            gamma: Param::constant(gpu, format!("{name}.weight"), &channels, 1.0, true, purpose)?,
            beta: Param::constant(gpu, format!("{name}.bias"), &channels, 0.0, true, purpose)?,
            running_mean: gpu.zeros(&channels)?,
            running_var: gpu.upload(&channels, &vec![1.0f32; bn_shape.channels])?,
            saved: match purpose {
                Purpose::Training => Some((gpu.zeros(&channels)?, gpu.zeros(&channels)?)),
                Purpose::Inference => None,
            },
        };
        let output = match shares_grad_with {
            Some(sibling) => Activation::sharing_grad(gpu, sibling)?,
            None => Activation::new(gpu, shape, purpose)?,
        };
        let passes = core.passes(gpu, BatchNormOptions::default(), &output)?;
        Ok(BatchNorm { core, output, passes })
    }

    /// The passes with the ReLU whose output is `relu_output` fused in: they write it
    /// directly and take its gradient, instead of this layer's output.
    pub fn fused_relu(&self, gpu: &Gpu, relu_output: &Activation) -> Result<Passes> {
        self.core.passes(gpu, BatchNormOptions { relu: true, ..Default::default() }, relu_output)
    }

    /// The forward passes with `residual` added and the exact ReLU whose output is
    /// `relu_output` fused in: a residual block's sum and ReLU in this layer's
    /// normalisation. Their gradient is the ReLU's backward's, which is this layer's
    /// output gradient when the sum's gradient is (as in a residual block), so this
    /// layer's own backward follows it.
    pub fn fused_residual_relu(&self, gpu: &Gpu, residual: &Tensor, relu_output: &Tensor) -> Result<ForwardPasses> {
        self.core.forward_passes(
            gpu,
            BatchNormOptions { relu: true, ..Default::default() },
            Some(residual),
            relu_output,
        )
    }

    /// Training forward's passes with `residual` added and the sum measured for the site
    /// after it (`measure`), writing the sum to `sum`: a residual block's batch norm, sum
    /// and measure in one pass, for a ReLU that trains with an activation scaling with the
    /// sum's running max |x|. Its gradient is this layer's output gradient, as in
    /// [`fused_residual_relu`](Self::fused_residual_relu). Empty in an inference network.
    pub fn fused_residual_measuring(
        &self,
        gpu: &Gpu,
        residual: &Tensor,
        measure: Measure,
        sum: &Tensor,
    ) -> Result<Vec<Dispatch>> {
        let core = &self.core;
        let Some(tensors) = core.training_tensors() else { return Ok(Vec::new()) };
        let residual = Residual { value: residual, measure: Some(measure) };
        let options = BatchNormOptions::default();
        batchnorm::forward_train(gpu, core.shape, options, &core.input.value, &tensors, Some(residual), sum)
    }

    /// The layer's input.
    pub fn input(&self) -> &Tensor {
        &self.core.input.value
    }

    /// The layer's own backward passes, from its output's gradient.
    pub fn backward(&self) -> &[Dispatch] {
        &self.passes.backward
    }

    /// Training forward's transform of the input, for an activation to apply itself
    /// (None in an inference network).
    pub fn normalization(&self) -> Option<Normalization<'_>> {
        let core = &self.core;
        let (saved_mean, saved_inv_std) = core.saved.as_ref()?;
        Some(Normalization {
            shape: core.shape,
            saved_mean,
            saved_inv_std,
            gamma: &core.gamma.value,
            beta: &core.beta.value,
        })
    }

    /// Training forward's statistics on their own (an inference network has none), raising
    /// `measure`'s running max |output| as they go: for an activation that then reads
    /// [`normalization`](Self::normalization), in place of [`Passes::train`].
    pub fn statistics(&self, gpu: &Gpu, measure: Option<Measure>) -> Result<Option<Dispatch>> {
        let core = &self.core;
        let Some(tensors) = core.training_tensors() else { return Ok(None) };
        let options = BatchNormOptions::default();
        batchnorm::statistics(gpu, core.shape, options, &core.input.value, &tensors, measure).map(Some)
    }
}

impl Core {
    /// The tensors inference reads: gamma, beta and the running statistics, which also
    /// stand in, unread, for the saved-for-backward and gradient tensors.
    fn inference_tensors(&self) -> BatchNormTensors<'_> {
        BatchNormTensors {
            gamma: &self.gamma.value,
            beta: &self.beta.value,
            running_mean: &self.running_mean,
            running_var: &self.running_var,
            saved_mean: &self.running_mean,
            saved_inv_std: &self.running_var,
            dgamma: &self.gamma.value,
            dbeta: &self.beta.value,
        }
    }

    /// Every tensor of a training layer (None in an inference network).
    fn training_tensors(&self) -> Option<BatchNormTensors<'_>> {
        let (saved_mean, saved_inv_std) = self.saved.as_ref()?;
        Some(BatchNormTensors {
            saved_mean,
            saved_inv_std,
            dgamma: self.gamma.grad(),
            dbeta: self.beta.grad(),
            ..self.inference_tensors()
        })
    }

    /// The forward passes writing `output`, adding `residual` if given.
    fn forward_passes(
        &self,
        gpu: &Gpu,
        options: BatchNormOptions,
        residual: Option<&Tensor>,
        output: &Tensor,
    ) -> Result<ForwardPasses> {
        let (shape, x) = (self.shape, &self.input.value);
        let eval = batchnorm::forward_inference(gpu, shape, options, x, &self.inference_tensors(), residual, output)?;
        let train = match self.training_tensors() {
            Some(tensors) => {
                let residual = residual.map(|value| Residual { value, measure: None });
                batchnorm::forward_train(gpu, shape, options, x, &tensors, residual, output)?
            }
            None => Vec::new(),
        };
        Ok(ForwardPasses { train, eval })
    }

    /// The passes writing `output` and reading its gradient.
    fn passes(&self, gpu: &Gpu, options: BatchNormOptions, output: &Activation) -> Result<Passes> {
        let forward = self.forward_passes(gpu, options, None, &output.value)?;
        let Some(tensors) = self.training_tensors() else {
            return Ok(Passes { forward, backward: Vec::new() });
        };
        let input_grad = self.input.input_grad(&self.name)?;
        let (shape, x) = (self.shape, &self.input.value);
        let backward = batchnorm::backward(gpu, shape, options, x, output.grad(), &tensors, input_grad)?;
        Ok(Passes { forward, backward })
    }
}

impl ForwardPasses {
    pub fn record_forward(&self, recorder: &mut Recorder, mode: Mode) {
        match mode {
            Mode::Train => recorder.record_all(&self.train),
            Mode::Eval | Mode::Calibrate | Mode::Pann => recorder.record(&self.eval),
        }
    }
}

impl Layer for BatchNorm {
    fn output(&self) -> &Activation {
        &self.output
    }

    fn record_forward(&self, recorder: &mut Recorder, mode: Mode) {
        self.passes.forward.record_forward(recorder, mode);
    }

    fn record_backward(&self, recorder: &mut Recorder) {
        recorder.record_all(&self.passes.backward);
    }

    fn params(&self) -> Vec<&Param> {
        vec![&self.core.gamma, &self.core.beta]
    }

    fn state(&self) -> Vec<(String, &Tensor)> {
        let name = &self.core.name;
        vec![
            (format!("{name}.running_mean"), &self.core.running_mean),
            (format!("{name}.running_var"), &self.core.running_var),
        ]
    }

    fn describe(&self, input: &str) -> Vec<Op> {
        let core = &self.core;
        vec![Op::BatchNorm {
            name: core.name.clone(),
            input: input.into(),
            weight: core.gamma.name.clone(),
            bias: core.beta.name.clone(),
            running_mean: format!("{}.running_mean", core.name),
            running_var: format!("{}.running_var", core.name),
            eps: BatchNormOptions::default().eps,
            shape: per_image(self.output.shape()),
        }]
    }
}
