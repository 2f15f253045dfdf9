//! Sites: every function of a network that a PANN replaces by a polynomial (each ReLU and
//! each 2x2 max pooling), named and numbered in one table, so that training can perturb
//! it, calibration can measure it and a PANN can approximate it with a bound of its own.

use std::cell::RefCell;

use serde::{Deserialize, Serialize};

use super::describe::{per_image, per_image_chw};
use super::{Activation, Layer, Mode, Op, Purpose};
use crate::gpu::{Dispatch, Gpu, GpuError, Recorder, Result, Tensor};
use crate::ops::batchnorm::{ActivationInput, Normalization};
use crate::ops::calibrate::Measure;
use crate::ops::noisy_relu::{self, Form, NoiseConfig};
use crate::ops::poly_relu::{self, PolyCoefficients};
use crate::ops::{calibrate, pool, relu};

/// Size of the per-site tables (ResNet-110 has 109 sites).
pub const MAX_SITES: usize = 1024;

/// What a ReLU site computes in training mode.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrainActivation {
    Exact,
    /// ReLU plus noise imitating the error of the polynomial it will become, scaled by
    /// each site's running max |x|, or by `bound` for every site when given.
    Noise {
        config: NoiseConfig,
        bound: Option<f32>,
    },
    /// Through the polynomial of precision alpha, with its exact derivative backward.
    Poly {
        alpha: u32,
    },
}

/// The function a site computes exactly, and how a PANN approximates it from the
/// composite sign polynomial p and the site's bound B.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SiteKind {
    /// ReLU(x) ~= x (1 + p(x / B)) / 2 (`ops::poly_relu::forward`).
    Relu,
    /// 2x2 stride-2 max pooling, each max(a, b) ~= ((a + b) + (a - b) p((a - b) / D)) / 2
    /// with D from B (`ops::poly_relu::max_pool_forward`).
    Max2x2,
}

/// The tables of a training network only.
struct TrainingTables {
    activation: TrainActivation,
    /// B per site for noise with a fixed bound (`TrainActivation::Noise { bound: Some(_) }`).
    fixed_noise_bounds: Tensor,
    /// Noise stream position: (seed, step), rewritten every step.
    noise_counter: Tensor,
}

/// Tables shared by the sites of one network, indexed by site number.
pub struct SiteTables {
    /// Running max |x| per site: the bound B that noise and training through the
    /// polynomial scale with, and what calibration measures.
    pub max_abs: Tensor,
    /// B per site for PANN evaluation, written by calibration.
    pub bounds: Tensor,
    /// The polynomial used in PANN mode (and in training for `Poly` and replay noise).
    pub coefficients: PolyCoefficients,
    /// None in a network built for inference.
    training: Option<TrainingTables>,
    /// Names of the registered sites, by index.
    names: RefCell<Vec<String>>,
}

impl SiteTables {
    /// Tables for a training network whose ReLU sites compute `train` in training mode,
    /// or (None) for an inference network.
    pub fn new(gpu: &Gpu, train: Option<TrainActivation>) -> Result<SiteTables> {
        let coefficients = PolyCoefficients::new(gpu, MAX_SITES)?;
        let training_alpha = match train {
            Some(TrainActivation::Poly { alpha }) => Some(alpha),
            Some(TrainActivation::Noise { config, .. }) if config.form == Form::Replay => Some(config.alpha_target),
            _ => None,
        };
        if let Some(alpha) = training_alpha {
            let approx = crate::poly::ReluApprox::get(alpha).map_err(|e| GpuError::shape(e.to_string()))?;
            coefficients.write(gpu, approx)?;
        }
        let training = match train {
            None => None,
            Some(activation) => Some(TrainingTables {
                activation,
                fixed_noise_bounds: match activation {
                    TrainActivation::Noise { bound: Some(bound), .. } => {
                        gpu.upload(&[MAX_SITES], &[bound; MAX_SITES])?
                    }
                    _ => gpu.zeros(&[MAX_SITES])?,
                },
                noise_counter: noisy_relu::counter(gpu)?,
            }),
        };
        Ok(SiteTables {
            max_abs: gpu.zeros(&[MAX_SITES])?,
            bounds: gpu.zeros(&[MAX_SITES])?,
            coefficients,
            training,
            names: RefCell::new(Vec::new()),
        })
    }

    pub fn purpose(&self) -> Purpose {
        match self.training {
            Some(_) => Purpose::Training,
            None => Purpose::Inference,
        }
    }

    /// The (seed, step) counter that training rewrites every step, which noise and dropout
    /// masks are drawn from; None in an inference network.
    pub fn random_counter(&self) -> Option<&Tensor> {
        self.training.as_ref().map(|t| &t.noise_counter)
    }

    pub fn count(&self) -> usize {
        self.names.borrow().len()
    }

    /// Names of the registered sites (ReLUs and max poolings), in index order.
    pub fn names(&self) -> Vec<String> {
        self.names.borrow().clone()
    }

    /// The next site index, for the site called `name`.
    fn register(&self, name: &str) -> Result<u32> {
        let mut names = self.names.borrow_mut();
        if names.len() >= MAX_SITES {
            return Err(GpuError::shape(format!("{name}: more than {MAX_SITES} sites")));
        }
        let index = names.len() as u32; // below MAX_SITES
        names.push(name.into());
        Ok(index)
    }
}

/// One site and its four functions, all bound at construction: exact (the backbone),
/// measure (calibration: the running max |x| of its input, then exact), approximate (the
/// PANN: the polynomial with the site's bound, counting inputs beyond it) and perturb
/// (training mode: noise or the polynomial; max pooling is not perturbed yet).
pub struct Site {
    pub name: String,
    pub index: u32,
    pub kind: SiteKind,
    input_shape: Vec<usize>,
    output: Activation,
    /// Inputs (ReLU) or window differences (max) beyond their bound in PANN mode (u32 `[1]`),
    /// accumulated until reset.
    pub overflow: Tensor,
    exact: Dispatch,
    measure: Dispatch,
    approximate: Dispatch,
    /// Training mode's measure of the input, before `perturb` (activations that scale with
    /// the running max |x|); a producer of the input may do it instead
    /// ([`Site::producer_measure`]).
    perturb_measure: Option<Dispatch>,
    /// Empty where training mode computes the exact function.
    perturb: Vec<Dispatch>,
    backward: Vec<Dispatch>,
}

/// What each kind of site builds on its own.
struct KindDispatches {
    exact: Dispatch,
    approximate: Dispatch,
    training: TrainingPasses,
}

/// A site's training-mode passes: its input's measure (where the activation scales with the
/// running max |x| and reads a plain input), its forward and its backward.
#[derive(Default)]
struct TrainingPasses {
    measure: Option<Dispatch>,
    forward: Vec<Dispatch>,
    backward: Vec<Dispatch>,
}

impl Site {
    /// A ReLU; in training mode it computes the tables' [`TrainActivation`].
    pub fn relu(gpu: &Gpu, name: &str, input: &Activation, tables: &SiteTables) -> Result<Site> {
        let output = Activation::new(gpu, input.shape(), tables.purpose())?;
        Site::register(gpu, name, SiteKind::Relu, input, output, tables, |index, output, overflow| {
            let (x, y) = (&input.value, &output.value);
            let training = match tables.training.as_ref() {
                Some(training) => relu_training(gpu, index, x.into(), input.grad.as_ref(), output, tables, training)?,
                None => TrainingPasses::default(),
            };
            Ok(KindDispatches {
                exact: relu::forward(gpu, x, y)?,
                approximate: poly_relu::forward(gpu, &tables.coefficients, &tables.bounds, index, x, y, overflow)?,
                training,
            })
        })
    }

    /// 2x2 stride-2 max pooling (floor on odd sizes).
    pub fn max_2x2(gpu: &Gpu, name: &str, input: &Activation, tables: &SiteTables) -> Result<Site> {
        let shape = pool::max_pool_output_shape(input.shape())?;
        let output = Activation::new(gpu, &shape, tables.purpose())?;
        Site::register(gpu, name, SiteKind::Max2x2, input, output, tables, |index, output, overflow| {
            let (x, y) = (&input.value, &output.value);
            // Arg-max positions: the exact kernel writes them, backward reads them; the
            // dispatches keep the buffer alive.
            let argmax = gpu.zeros(&shape)?;
            let backward = match tables.purpose() {
                Purpose::Training => {
                    vec![pool::max_pool_backward(gpu, &argmax, output.grad(), input.input_grad(name)?)?]
                }
                Purpose::Inference => Vec::new(),
            };
            let coefficients = &tables.coefficients;
            Ok(KindDispatches {
                exact: pool::max_pool_forward(gpu, x, y, &argmax)?,
                approximate: poly_relu::max_pool_forward(gpu, coefficients, &tables.bounds, index, x, y, overflow)?,
                training: TrainingPasses { backward, ..Default::default() },
            })
        })
    }

    /// Registers the site in `tables` and builds what every kind shares (its overflow
    /// counter and measuring dispatch) around what `kind_dispatches` builds.
    fn register(
        gpu: &Gpu,
        name: &str,
        kind: SiteKind,
        input: &Activation,
        output: Activation,
        tables: &SiteTables,
        kind_dispatches: impl FnOnce(u32, &Activation, &Tensor) -> Result<KindDispatches>,
    ) -> Result<Site> {
        let index = tables.register(name)?;
        let overflow = gpu.zeros(&[1])?;
        let measure = calibrate::running_max_abs(gpu, index, &input.value, &tables.max_abs)?;
        let KindDispatches { exact, approximate, training } = kind_dispatches(index, &output, &overflow)?;
        let input_shape = input.shape().to_vec();
        Ok(Site {
            name: name.into(),
            index,
            kind,
            input_shape,
            output,
            overflow,
            exact,
            measure,
            approximate,
            perturb_measure: training.measure,
            perturb: training.forward,
            backward: training.backward,
        })
    }
}

/// A ReLU site's training-mode passes, the backward into `dx` (none without: the
/// network's input has no gradient), reading `x`. A plain input is measured first where
/// the activation scales with the running max |x|; a normalised one is measured by the
/// batch norm's statistics ([`TrainActivation::measures`]).
fn relu_training(
    gpu: &Gpu,
    index: u32,
    x: ActivationInput,
    dx: Option<&Tensor>,
    output: &Activation,
    tables: &SiteTables,
    training: &TrainingTables,
) -> Result<TrainingPasses> {
    let y = &output.value;
    let noise_site = noisy_relu::Site { index, counter: &training.noise_counter, bound: &tables.max_abs };
    let coefficients = &tables.coefficients;
    let measure = match (training.activation.measures(), x.normalization) {
        (true, None) => Some(calibrate::running_max_abs(gpu, index, x.x, &tables.max_abs)?),
        _ => None,
    };
    let mut perturb = Vec::new();
    match training.activation {
        TrainActivation::Exact => {}
        TrainActivation::Poly { .. } => {
            let scratch = gpu.zeros(&[1])?;
            perturb.push(poly_relu::forward(gpu, coefficients, &tables.max_abs, index, x, y, &scratch)?);
        }
        TrainActivation::Noise { config, bound } => {
            // A fixed bound replaces the running max |x| as noise scale and polynomial range.
            let noise_bound = if bound.is_some() { &training.fixed_noise_bounds } else { &tables.max_abs };
            let noise_site = noisy_relu::Site { bound: noise_bound, ..noise_site };
            let poly_value = if config.form == Form::Replay {
                let value = gpu.zeros(x.x.shape())?;
                let scratch = gpu.zeros(&[1])?;
                perturb.push(poly_relu::forward(gpu, coefficients, noise_bound, index, x, &value, &scratch)?);
                Some(value)
            } else {
                None
            };
            perturb.push(noisy_relu::forward(gpu, &config, &noise_site, x, poly_value.as_ref(), y)?);
        }
    };
    let Some(dx) = dx else { return Ok(TrainingPasses { measure, forward: perturb, backward: Vec::new() }) };
    let dy = output.grad();
    let backward = match training.activation {
        // y > 0 exactly where x > 0: reading the output lets a fused forward (BnRelu, a
        // residual sum with its ReLU) skip writing the input.
        TrainActivation::Exact => relu::backward(gpu, y, dy, dx)?,
        TrainActivation::Poly { .. } => poly_relu::backward(gpu, coefficients, &tables.max_abs, index, x, dy, dx)?,
        TrainActivation::Noise { config, bound } => {
            let bound = if bound.is_some() { &training.fixed_noise_bounds } else { &tables.max_abs };
            let noise_site = noisy_relu::Site { bound, ..noise_site };
            noisy_relu::backward(gpu, &config, &noise_site, x, dy, dx)?
        }
    };
    Ok(TrainingPasses { measure, forward: perturb, backward: vec![backward] })
}

/// A ReLU site's training passes computed from the input of the batch norm before it
/// ([`Site::normalized_training`]).
pub struct NormalizedTraining<'a> {
    /// To record after the batch norm's statistics.
    pub forward: Vec<Dispatch>,
    /// Into the batch norm's output gradient, before the batch norm's backward.
    pub backward: Vec<Dispatch>,
    /// What the batch norm's statistics must measure for the site.
    pub measure: Option<Measure<'a>>,
    /// Whether the backward is the ReLU's gate dy 1[y > 0] (exact ReLU, additive and
    /// replay noise), which the batch norm's own backward can apply instead.
    pub gate: bool,
}

impl Site {
    /// The training passes of this ReLU site (whose input is the output of a batch norm)
    /// reading the batch norm's input `x` through its `normalization` instead, so that the
    /// batch norm's output is never written; `dx` is that output's gradient. None in an
    /// inference network.
    pub fn normalized_training<'t>(
        &self,
        gpu: &Gpu,
        x: &Tensor,
        normalization: Normalization,
        dx: &Tensor,
        tables: &'t SiteTables,
    ) -> Result<Option<NormalizedTraining<'t>>> {
        let Some(training) = &tables.training else { return Ok(None) };
        let input = ActivationInput { x, normalization: Some(normalization) };
        let TrainingPasses { forward, backward, .. } =
            relu_training(gpu, self.index, input, Some(dx), &self.output, tables, training)?;
        let measure = training.activation.measures().then(|| self.measure_in(tables));
        Ok(Some(NormalizedTraining { forward, backward, measure, gate: training.activation.backward_is_gate() }))
    }
}

impl TrainActivation {
    /// Whether training scales with the site's running max |x|, measured every step.
    fn measures(&self) -> bool {
        matches!(self, TrainActivation::Poly { .. } | TrainActivation::Noise { bound: None, .. })
    }

    /// Whether the backward is the ReLU's gate dy 1[x > 0] (straight-through noise).
    fn backward_is_gate(&self) -> bool {
        match self {
            TrainActivation::Exact => true,
            TrainActivation::Noise { config, .. } => config.form != Form::Multiplicative,
            TrainActivation::Poly { .. } => false,
        }
    }
}

impl Site {
    /// Whether training mode computes the exact function (no noise, no polynomial).
    pub fn trains_exact(&self) -> bool {
        self.perturb.is_empty()
    }

    /// The running max |x| in `tables` (the site's own) that a kernel writing the site's
    /// input can raise as it writes, so that training skips the site's measuring pass
    /// ([`record_training_measured`](Self::record_training_measured)); None where
    /// training does not measure the input.
    pub fn producer_measure<'t>(&self, tables: &'t SiteTables) -> Option<Measure<'t>> {
        self.perturb_measure.as_ref().map(|_| self.measure_in(tables))
    }

    fn measure_in<'t>(&self, tables: &'t SiteTables) -> Measure<'t> {
        Measure { site: self.index, max_abs: &tables.max_abs }
    }

    /// Training mode's forward after a producer has measured the input for it.
    pub fn record_training_measured(&self, recorder: &mut Recorder) {
        recorder.record_all(&self.perturb);
    }
}

impl Layer for Site {
    fn output(&self) -> &Activation {
        &self.output
    }

    fn record_forward(&self, recorder: &mut Recorder, mode: Mode) {
        match mode {
            Mode::Train if !self.perturb.is_empty() => {
                recorder.record_all(&self.perturb_measure);
                recorder.record_all(&self.perturb);
            }
            Mode::Train | Mode::Eval => recorder.record(&self.exact),
            Mode::Calibrate => {
                recorder.record(&self.measure);
                recorder.record(&self.exact);
            }
            Mode::Pann => recorder.record(&self.approximate),
        }
    }

    fn record_backward(&self, recorder: &mut Recorder) {
        recorder.record_all(&self.backward);
    }

    fn sites(&self) -> Vec<&Site> {
        vec![self]
    }

    fn describe(&self, input: &str) -> Vec<Op> {
        let (name, input, site_index) = (self.name.clone(), input.to_string(), self.index);
        vec![match self.kind {
            SiteKind::Relu => Op::Relu { name, input, site_index, bound: None, shape: per_image(self.output.shape()) },
            SiteKind::Max2x2 => Op::MaxPool2x2 {
                name,
                input,
                input_shape: per_image_chw(&self.input_shape),
                output_shape: per_image_chw(self.output.shape()),
                site_index,
                bound: None,
            },
        }]
    }
}
