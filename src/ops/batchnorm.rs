//! Batch normalisation over NCHW (`shaders/batchnorm.wgsl`): per channel, statistics over
//! batch and spatial positions, as `torch.nn.BatchNorm2d` (and `BatchNorm1d` with
//! `spatial = 1`).
//!
//! Training forward computes the batch mean and biased variance with the two-pass
//! algorithm (mean first, then the mean of squared deviations from it), normalises, saves
//! mean and inverse standard deviation for backward, and updates the running statistics
//! with PyTorch's convention (see [`BatchNormOptions`]). Inference forward normalises with
//! the running statistics. Backward writes (does not accumulate) dx, dgamma and dbeta.

use std::sync::Arc;

use crate::gpu::{Bindable, Dispatch, Gpu, GpuError, Kernel, Result, Tensor, UniformBuffer};

use super::calibrate::Measure;
use super::{dim, expect_shape, expect_site_table, per_row_run};

/// The layout of a batch-norm input: `[batch, channels, spatial...]`, where `spatial` is
/// the product of the trailing dimensions (H*W for images, 1 for `[batch, channels]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchNormShape {
    pub batch: usize,
    pub channels: usize,
    pub spatial: usize,
}

impl BatchNormShape {
    /// Values per channel that the statistics run over: batch * spatial.
    pub fn count(&self) -> usize {
        self.batch * self.spatial
    }

    /// Elements of the input: batch * channels * spatial.
    pub fn len(&self) -> usize {
        self.batch * self.channels * self.spatial
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Constant hyper-parameters of one batch-norm layer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNormOptions {
    /// Weight of the new batch statistic in the running averages:
    /// `running = (1 - momentum) * running + momentum * batch`, with the unbiased batch
    /// variance (times M / (M - 1), M = batch * spatial) for the running variance.
    /// Default 0.1, PyTorch's.
    pub momentum: f32,
    /// Added to the variance before the square root, so constant channels do not divide
    /// by zero. Default 1e-5, PyTorch's.
    pub eps: f32,
    /// Whether the ReLU after the layer is fused into it: forward writes relu(y), backward
    /// takes the ReLU's output gradient. Default false.
    pub relu: bool,
}

impl Default for BatchNormOptions {
    fn default() -> Self {
        BatchNormOptions { momentum: 0.1, eps: 1e-5, relu: false }
    }
}

impl BatchNormOptions {
    /// The override constants of the kernels that normalise or pass gradients.
    fn constants(&self) -> [(&'static str, f64); 1] {
        [("RELU", f64::from(u8::from(self.relu)))]
    }

    /// The same for a per-element kernel handling `quads` fours of a plane per invocation,
    /// adding a residual to its output or not (the normalising kernels' `RESIDUAL`).
    fn elementwise_constants(&self, quads: usize, residual: bool) -> [(&'static str, f64); 3] {
        let [relu] = self.constants();
        [relu, ("QUADS", quads as f64), ("RESIDUAL", f64::from(u8::from(residual)))]
    }
}

/// A residual block's shortcut output, which training forward adds to the normalised x
/// (before the fused ReLU if any): the block's sum in the same pass. With `measure`, the
/// pass also raises that site's running max |output| with the values it writes (as
/// calibration's [`running_max_abs`](super::calibrate::running_max_abs) of them would), for
/// an activation after the sum that scales with it.
#[derive(Clone, Copy)]
pub struct Residual<'a> {
    pub value: &'a Tensor,
    pub measure: Option<Measure<'a>>,
}

/// The per-channel tensors of one batch-norm layer, each of shape `[channels]`.
pub struct BatchNormTensors<'a> {
    /// Scale, read by every pass.
    pub gamma: &'a Tensor,
    /// Shift, read by forward.
    pub beta: &'a Tensor,
    /// Running statistics: read by inference, updated in place by training forward.
    pub running_mean: &'a Tensor,
    pub running_var: &'a Tensor,
    /// Written by training forward, read by backward: the batch mean and
    /// 1 / sqrt(biased batch variance + eps).
    pub saved_mean: &'a Tensor,
    pub saved_inv_std: &'a Tensor,
    /// Written by backward.
    pub dgamma: &'a Tensor,
    pub dbeta: &'a Tensor,
}

crate::uniform! {
    /// The shader's parameter block (`Params` in batchnorm.wgsl).
    pub(crate) struct Params {
        batch: u32,
        channels: u32,
        spatial: u32,
        count: u32,
        momentum: f32,
        eps: f32,
        site: u32,
    }
}

fn params(gpu: &Gpu, shape: BatchNormShape, options: BatchNormOptions, site: u32) -> UniformBuffer {
    gpu.uniform(&Params {
        batch: dim(shape.batch),
        channels: dim(shape.channels),
        spatial: dim(shape.spatial),
        count: dim(shape.count()),
        momentum: options.momentum,
        eps: options.eps,
        site,
    })
}

/// A training batch norm's transform of its input x, for an activation kernel to apply
/// itself (the `*_normalized` entry points of noisy_relu.wgsl and poly_relu.wgsl):
/// gamma * (x - saved_mean) * saved_inv_std + beta per channel, as training forward's
/// normalisation computes it, so that the batch norm's output need not be written.
#[derive(Clone, Copy)]
pub struct Normalization<'a> {
    pub shape: BatchNormShape,
    pub saved_mean: &'a Tensor,
    pub saved_inv_std: &'a Tensor,
    pub gamma: &'a Tensor,
    pub beta: &'a Tensor,
}

impl<'a> Normalization<'a> {
    /// Checks `x` against the shape and the per-channel tensors against the channels.
    pub fn check(&self, op: &str, x: &Tensor) -> Result<()> {
        expect_activation(op, "x", x, self.shape)?;
        for (name, tensor) in self.per_channel() {
            expect_shape(op, name, tensor, &[self.shape.channels])?;
        }
        Ok(())
    }

    /// The per-channel tensors, named as the `*_normalized` entry points bind them.
    pub fn per_channel(&self) -> [(&'static str, &'a Tensor); 4] {
        [
            ("bn_mean", self.saved_mean),
            ("bn_inv_std", self.saved_inv_std),
            ("bn_gamma", self.gamma),
            ("bn_beta", self.beta),
        ]
    }
}

/// What an activation kernel reads: a tensor, or a training batch norm's input through
/// its [`Normalization`] (the kernel's `*_normalized` entry point).
#[derive(Clone, Copy)]
pub struct ActivationInput<'a> {
    pub x: &'a Tensor,
    pub normalization: Option<Normalization<'a>>,
}

impl<'a> From<&'a Tensor> for ActivationInput<'a> {
    fn from(x: &'a Tensor) -> Self {
        ActivationInput { x, normalization: None }
    }
}

impl<'a> ActivationInput<'a> {
    /// The entry point that reads this input of a kernel's plain and normalized ones, each
    /// with its vec4 form (four values of one channel plane per thread), and the threads it
    /// runs: the scalar forms take a run of up to four values of a plane each
    /// ([`per_row_run`]; a plain tensor is one plane).
    pub fn per_element(
        &self,
        [plain, plain_vec4, normalized, normalized_vec4]: [&'static str; 4],
    ) -> (&'static str, usize) {
        let entries = match self.normalization {
            Some(_) => (normalized, normalized_vec4),
            None => (plain, plain_vec4),
        };
        let spatial = self.planes().1 as usize;
        per_row_run(entries, self.x.len(), spatial, spatial)
    }

    /// The bindings of x (also as x4, its vec4 view) and, when normalised, of the
    /// per-channel tensors, checked.
    pub fn bindings(&self, op: &str) -> Result<Vec<(&'static str, &'a dyn Bindable)>> {
        let mut bindings: Vec<(&'static str, &'a dyn Bindable)> = vec![("x", self.x), ("x4", self.x)];
        if let Some(normalization) = &self.normalization {
            normalization.check(op, self.x)?;
            bindings.extend(normalization.per_channel().map(|(name, tensor)| (name, tensor as &dyn Bindable)));
        }
        Ok(bindings)
    }

    /// (channels, values per channel plane) for the kernels' parameters: a plain tensor is
    /// one plane of all its values.
    pub fn planes(&self) -> (u32, u32) {
        self.normalization.map_or((1, dim(self.x.len())), |n| (dim(n.shape.channels), dim(n.shape.spatial)))
    }
}

/// Checks an activation-shaped tensor: `[batch, channels, ...]` with `spatial` elements
/// per (batch, channel) pair.
fn expect_activation(op: &str, name: &str, tensor: &Tensor, shape: BatchNormShape) -> Result<()> {
    let dims = tensor.shape();
    let spatial: usize = dims.iter().skip(2).product();
    if dims.len() >= 2 && dims[0] == shape.batch && dims[1] == shape.channels && spatial == shape.spatial {
        Ok(())
    } else {
        Err(GpuError::shape(format!(
            "{op}: {name} has shape {dims:?}, expected [{}, {}, ...] with {} elements per channel of one sample",
            shape.batch, shape.channels, shape.spatial
        )))
    }
}

impl<'a> BatchNormTensors<'a> {
    /// Every per-channel tensor, named as shaders/batchnorm.wgsl binds it.
    fn all(&self) -> [(&'static str, &'a Tensor); 8] {
        [
            ("gamma", self.gamma),
            ("beta", self.beta),
            ("running_mean", self.running_mean),
            ("running_var", self.running_var),
            ("saved_mean", self.saved_mean),
            ("saved_inv_std", self.saved_inv_std),
            ("dgamma", self.dgamma),
            ("dbeta", self.dbeta),
        ]
    }

    /// The bindings of the tensors an op reads or writes (`names`), each checked to hold
    /// one value per channel.
    fn bindings(
        &self,
        op: &str,
        shape: BatchNormShape,
        names: &[&str],
    ) -> Result<Vec<(&'static str, &'a dyn Bindable)>> {
        let used = self.all().into_iter().filter(|(name, _)| names.contains(name));
        used.map(|(name, tensor)| {
            expect_shape(op, name, tensor, &[shape.channels])?;
            Ok((name, tensor as &dyn Bindable))
        })
        .collect()
    }
}

/// Fails on empty shapes, and on more channels than the per-channel dispatches (one
/// workgroup per channel) can launch in one grid dimension.
fn expect_dispatchable(gpu: &Gpu, op: &str, shape: BatchNormShape) -> Result<()> {
    if shape.is_empty() {
        return Err(GpuError::shape(format!("{op}: shape {shape:?} has no elements")));
    }
    let limit = gpu.limits.max_compute_workgroups_per_dimension as usize;
    if shape.channels > limit {
        return Err(GpuError::shape(format!(
            "{op}: {} channels, above this adapter's {limit} workgroups per grid dimension",
            shape.channels
        )));
    }
    Ok(())
}

/// Training forward: two dispatches, statistics then normalisation, to record in order.
/// Writes `y`, `saved_mean`, `saved_inv_std`; updates `running_mean` and `running_var`.
/// Needs at least two values per channel (batch * spatial >= 2), as PyTorch does: the
/// unbiased variance of one value is undefined. With a [`Residual`] (x's shape), `y` is
/// the normalised x plus it. [`backward`] then takes the sum's gradient as dy, with `relu`
/// off (its ReLU gate is the normalised x's, not the sum's).
pub fn forward_train(
    gpu: &Gpu,
    shape: BatchNormShape,
    options: BatchNormOptions,
    x: &Tensor,
    layer: &BatchNormTensors,
    residual: Option<Residual>,
    y: &Tensor,
) -> Result<Vec<Dispatch>> {
    const OP: &str = "batchnorm forward_train";
    let mut bindings = layer.bindings(OP, shape, &["gamma", "beta", "saved_mean", "saved_inv_std"])?;
    let measure = residual.and_then(|r| r.measure);
    let params = params(gpu, shape, options, site_of(measure));
    bindings.push(("params", &params));
    bindings.extend(normalizing_bindings(OP, shape, x, residual.map(|r| r.value), y)?);
    let entries = match bind_measure(OP, measure, &mut bindings)? {
        true => ("normalize_measuring", "normalize_measuring_vec4"),
        false => ("normalize", "normalize_vec4"),
    };
    let (normalize, threads) = per_plane_element(gpu, shape, options, residual.is_some(), entries)?;
    Ok(vec![statistics(gpu, shape, options, x, layer, None)?, gpu.dispatch_1d(&normalize, &bindings, threads)?])
}

/// The bindings of a normalising kernel's x, residual and y (each also as its vec4 view),
/// checked. Without a residual the kernels read none: x stands in for it, as a binding only.
fn normalizing_bindings<'a>(
    op: &str,
    shape: BatchNormShape,
    x: &'a Tensor,
    residual: Option<&'a Tensor>,
    y: &'a Tensor,
) -> Result<[(&'static str, &'a dyn Bindable); 6]> {
    expect_activation(op, "x", x, shape)?;
    expect_activation(op, "y", y, shape)?;
    if let Some(residual) = residual {
        expect_activation(op, "residual", residual, shape)?;
    }
    let r = residual.unwrap_or(x);
    Ok([("x", x), ("y", y), ("x4", x), ("y4", y), ("residual", r), ("residual4", r)])
}

/// The site whose running max a measuring kernel raises (`Params::site`; 0, unread, without).
fn site_of(measure: Option<Measure>) -> u32 {
    measure.map_or(0, |m| m.site)
}

/// Binds `measure`'s table as the measuring entry points' `max_abs_bits`, its site checked
/// against it; whether there is one (and a measuring entry point is to run).
fn bind_measure<'a>(
    op: &str,
    measure: Option<Measure<'a>>,
    bindings: &mut Vec<(&'static str, &'a dyn Bindable)>,
) -> Result<bool> {
    let Some(Measure { site, max_abs }) = measure else { return Ok(false) };
    expect_site_table(op, "max_abs", site, max_abs)?;
    bindings.push(("max_abs_bits", max_abs));
    Ok(true)
}

/// A per-element kernel of batchnorm.wgsl for `shape` with `options` (adding a residual or
/// not), and the threads it runs: the vec4 form where planes hold a multiple of four
/// values, with as many fours of a plane per thread as [`quads_per_thread`] says; else the
/// scalar form, a run of up to four values of a plane per thread.
fn per_plane_element(
    gpu: &Gpu,
    shape: BatchNormShape,
    options: BatchNormOptions,
    residual: bool,
    entries: (&'static str, &'static str),
) -> Result<(Arc<Kernel>, usize)> {
    let (entry, runs) = per_row_run(entries, shape.len(), shape.spatial, shape.spatial);
    let quads = quads_per_thread(shape);
    Ok((gpu.kernel("batchnorm", entry, &options.elementwise_constants(quads, residual))?, runs / quads))
}

/// Fours of one plane per thread of the vec4 forms (`QUADS`): 4, 2 or 1, the most whose
/// values a plane holds a whole number of times (1 where planes take the scalar forms).
fn quads_per_thread(shape: BatchNormShape) -> usize {
    [4, 2, 1].into_iter().find(|quads| shape.spatial.is_multiple_of(4 * quads)).unwrap_or(1)
}

/// The first dispatch of training forward on its own: the batch statistics of `x`, saved
/// and folded into the running statistics; with `measure`, also the running max |y| of
/// the site after the layer, for an activation that then reads x through [`Normalization`].
pub fn statistics(
    gpu: &Gpu,
    shape: BatchNormShape,
    options: BatchNormOptions,
    x: &Tensor,
    layer: &BatchNormTensors,
    measure: Option<Measure>,
) -> Result<Dispatch> {
    const OP: &str = "batchnorm statistics";
    expect_dispatchable(gpu, OP, shape)?;
    if shape.count() < 2 {
        return Err(GpuError::shape(format!(
            "{OP}: {shape:?} gives one value per channel; training needs batch * spatial >= 2 \
             for a variance (use forward_inference, or a larger batch)"
        )));
    }
    expect_activation(OP, "x", x, shape)?;
    let names = ["gamma", "beta", "running_mean", "running_var", "saved_mean", "saved_inv_std"];
    let mut bindings = layer.bindings(OP, shape, &names)?;
    let params = params(gpu, shape, options, site_of(measure));
    bindings.extend([("params", &params as &dyn Bindable), ("x", x), ("x4", x)]);
    let entry = match bind_measure(OP, measure, &mut bindings)? {
        true => "stats_measuring",
        false => "stats",
    };
    let kernel = gpu.kernel("batchnorm", entry, &[])?;
    gpu.dispatch(&kernel, &bindings, [dim(shape.channels), 1, 1])
}

/// Inference forward: y = gamma * (x - running_mean) / sqrt(running_var + eps) + beta,
/// plus `residual` if given (as [`forward_train`] adds a [`Residual`]). Reads only
/// `gamma`, `beta` and the running statistics of `layer`.
pub fn forward_inference(
    gpu: &Gpu,
    shape: BatchNormShape,
    options: BatchNormOptions,
    x: &Tensor,
    layer: &BatchNormTensors,
    residual: Option<&Tensor>,
    y: &Tensor,
) -> Result<Dispatch> {
    const OP: &str = "batchnorm forward_inference";
    expect_dispatchable(gpu, OP, shape)?;
    let mut bindings = layer.bindings(OP, shape, &["gamma", "beta", "running_mean", "running_var"])?;
    let params = params(gpu, shape, options, 0);
    bindings.push(("params", &params));
    bindings.extend(normalizing_bindings(OP, shape, x, residual, y)?);
    let entries = ("normalize_running", "normalize_running_vec4");
    let (kernel, threads) = per_plane_element(gpu, shape, options, residual.is_some(), entries)?;
    gpu.dispatch_1d(&kernel, &bindings, threads)
}

/// Backward of training forward, from the `saved_mean` and `saved_inv_std` it wrote:
/// two dispatches, per-channel sums then the input gradient, to record in order. Writes
/// dbeta = sum(dy), dgamma = sum(dy * xhat) and
/// dx = gamma * inv_std / M * (M * dy - dbeta - xhat * dgamma), xhat = (x - mean) * inv_std.
/// With `options.relu`, `dy` is the fused ReLU's output gradient, zeroed where
/// gamma * xhat + beta is not positive before use.
pub fn backward(
    gpu: &Gpu,
    shape: BatchNormShape,
    options: BatchNormOptions,
    x: &Tensor,
    dy: &Tensor,
    layer: &BatchNormTensors,
    dx: &Tensor,
) -> Result<Vec<Dispatch>> {
    const OP: &str = "batchnorm backward";
    expect_dispatchable(gpu, OP, shape)?;
    expect_activation(OP, "x", x, shape)?;
    expect_activation(OP, "dy", dy, shape)?;
    expect_activation(OP, "dx", dx, shape)?;
    let names = ["gamma", "beta", "saved_mean", "saved_inv_std", "dgamma", "dbeta"];
    let mut bindings = layer.bindings(OP, shape, &names)?;
    let params = params(gpu, shape, options, 0);
    let tensors: [(&str, &dyn Bindable); 6] = [("x", x), ("dy", dy), ("dx", dx), ("x4", x), ("dy4", dy), ("dx4", dx)];
    bindings.push(("params", &params));
    bindings.extend(tensors);
    let reduce = gpu.kernel("batchnorm", "reduce", &options.constants())?;
    let (input_grad, threads) = per_plane_element(gpu, shape, options, false, ("input_grad", "input_grad_vec4"))?;
    Ok(vec![
        gpu.dispatch(&reduce, &bindings, [dim(shape.channels), 1, 1])?,
        gpu.dispatch_1d(&input_grad, &bindings, threads)?,
    ])
}
