//! Activation sites: every ReLU of a network, named and numbered, so that training can
//! perturb it, calibration can measure it and a PANN can replace it by a polynomial.
//! Max-pooling layers register in the same tables (`super::Pool`): a PANN replaces their
//! max by the polynomial max, with a calibrated bound of their own.

use std::cell::RefCell;

use serde::{Deserialize, Serialize};

use super::describe::per_image;
use super::{Activation, Layer, Mode, Op};
use crate::gpu::{Dispatch, Gpu, GpuError, Recorder, Result, Tensor};
use crate::ops::noisy_relu::{self, Form, NoiseConfig};
use crate::ops::poly_relu::{self, PolyCoefficients};
use crate::ops::{calibrate, relu};

/// Size of the per-site tables (ResNet-110 has 109 sites).
pub const MAX_SITES: usize = 1024;

/// What a site computes in training mode.
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

/// Tables shared by the activation sites (and max poolings) of one network, indexed by
/// site number.
pub struct SiteTables {
    pub train: TrainActivation,
    /// Running max |x| per site: the bound B that noise and training through the
    /// polynomial scale with, and what calibration measures.
    pub max_abs: Tensor,
    /// B per site for PANN evaluation, written by calibration.
    pub bounds: Tensor,
    /// B per site for noise with a fixed bound (`TrainActivation::Noise { bound: Some(_) }`).
    fixed_noise_bounds: Tensor,
    /// The polynomial used in PANN mode (and in training for `Poly` and replay noise).
    pub coefficients: PolyCoefficients,
    /// Noise stream position: (seed, step), rewritten every step.
    pub noise_counter: Tensor,
    /// Names of the registered sites, by index.
    names: RefCell<Vec<String>>,
}

impl SiteTables {
    pub fn new(gpu: &Gpu, train: TrainActivation) -> Result<SiteTables> {
        let coefficients = PolyCoefficients::new(gpu)?;
        let training_alpha = match train {
            TrainActivation::Poly { alpha } => Some(alpha),
            TrainActivation::Noise { config, .. } if config.form == Form::Replay => Some(config.alpha_target),
            _ => None,
        };
        if let Some(alpha) = training_alpha {
            let approx = crate::poly::ReluApprox::get(alpha).map_err(|e| GpuError::shape(e.to_string()))?;
            coefficients.write(gpu, approx)?;
        }
        Ok(SiteTables {
            train,
            max_abs: gpu.zeros(&[MAX_SITES])?,
            bounds: gpu.zeros(&[MAX_SITES])?,
            fixed_noise_bounds: match train {
                TrainActivation::Noise { bound: Some(bound), .. } => gpu.upload(&[MAX_SITES], &[bound; MAX_SITES])?,
                _ => gpu.zeros(&[MAX_SITES])?,
            },
            coefficients,
            noise_counter: noisy_relu::counter(gpu)?,
            names: RefCell::new(Vec::new()),
        })
    }

    pub fn count(&self) -> usize {
        self.names.borrow().len()
    }

    /// Names of the registered sites (ReLUs and max poolings), in index order.
    pub fn names(&self) -> Vec<String> {
        self.names.borrow().clone()
    }

    /// The next site index, for the site called `name`.
    pub(super) fn register(&self, name: &str) -> Result<u32> {
        let mut names = self.names.borrow_mut();
        if names.len() >= MAX_SITES {
            return Err(GpuError::shape(format!("{name}: more than {MAX_SITES} activation sites")));
        }
        let index = names.len() as u32; // below MAX_SITES
        names.push(name.into());
        Ok(index)
    }
}

/// One ReLU of the network and its alternatives, all bound at construction.
pub struct ActivationSite {
    pub name: String,
    pub index: u32,
    output: Activation,
    /// Elements of this site that exceeded its bound in PANN mode (u32 [1]), accumulated
    /// until reset.
    pub overflow: Tensor,
    exact: Dispatch,
    train: Vec<Dispatch>,
    backward: Option<Dispatch>,
    measure: Dispatch,
    pann: Dispatch,
}

impl ActivationSite {
    pub fn new(gpu: &Gpu, name: &str, input: &Activation, tables: &SiteTables) -> Result<ActivationSite> {
        let index = tables.register(name)?;
        let output = Activation::new(gpu, input.shape())?;
        let (x, y) = (&input.value, &output.value);
        let overflow = gpu.zeros(&[1])?;
        let exact = relu::forward(gpu, x, y)?;
        let measure = calibrate::running_max_abs(gpu, index, x, &tables.max_abs)?;
        let pann = poly_relu::forward(gpu, &tables.coefficients, &tables.bounds, index, x, y, &overflow)?;
        let noise_site = noisy_relu::Site { index, counter: &tables.noise_counter, bound: &tables.max_abs };
        let train = match tables.train {
            TrainActivation::Exact => vec![relu::forward(gpu, x, y)?],
            TrainActivation::Poly { .. } => {
                let scratch = gpu.zeros(&[1])?;
                vec![
                    calibrate::running_max_abs(gpu, index, x, &tables.max_abs)?,
                    poly_relu::forward(gpu, &tables.coefficients, &tables.max_abs, index, x, y, &scratch)?,
                ]
            }
            TrainActivation::Noise { config, bound } => {
                // A fixed bound replaces the running max |x| as noise scale and polynomial range.
                let (mut dispatches, noise_bound) = match bound {
                    Some(_) => (Vec::new(), &tables.fixed_noise_bounds),
                    None => (vec![calibrate::running_max_abs(gpu, index, x, &tables.max_abs)?], &tables.max_abs),
                };
                let noise_site = noisy_relu::Site { bound: noise_bound, ..noise_site };
                let poly_value = if config.form == Form::Replay {
                    let value = gpu.zeros(x.shape())?;
                    let scratch = gpu.zeros(&[1])?;
                    let coefficients = &tables.coefficients;
                    dispatches.push(poly_relu::forward(gpu, coefficients, noise_bound, index, x, &value, &scratch)?);
                    Some(value)
                } else {
                    None
                };
                dispatches.push(noisy_relu::forward(gpu, &config, &noise_site, x, poly_value.as_ref(), y)?);
                dispatches
            }
        };
        let backward = match &input.grad {
            None => None,
            Some(dx) => Some(match tables.train {
                TrainActivation::Exact => relu::backward(gpu, x, output.grad(), dx)?,
                TrainActivation::Poly { .. } => {
                    poly_relu::backward(gpu, &tables.coefficients, &tables.max_abs, index, x, output.grad(), dx)?
                }
                TrainActivation::Noise { config, bound } => {
                    let bound = if bound.is_some() { &tables.fixed_noise_bounds } else { &tables.max_abs };
                    let noise_site = noisy_relu::Site { bound, ..noise_site };
                    noisy_relu::backward(gpu, &config, &noise_site, x, output.grad(), dx)?
                }
            }),
        };
        Ok(ActivationSite { name: name.into(), index, output, overflow, exact, train, backward, measure, pann })
    }
}

impl Layer for ActivationSite {
    fn output(&self) -> &Activation {
        &self.output
    }

    fn record_forward(&self, recorder: &mut Recorder, mode: Mode) {
        match mode {
            Mode::Train => recorder.record_all(&self.train),
            Mode::Eval => recorder.record(&self.exact),
            Mode::Calibrate => {
                recorder.record(&self.measure);
                recorder.record(&self.exact);
            }
            Mode::Pann => recorder.record(&self.pann),
        }
    }

    fn record_backward(&self, recorder: &mut Recorder) {
        recorder.record_all(&self.backward);
    }

    fn sites(&self) -> Vec<&ActivationSite> {
        vec![self]
    }

    fn describe(&self, input: &str) -> Vec<Op> {
        vec![Op::Relu {
            name: self.name.clone(),
            input: input.into(),
            site_index: self.index,
            bound: None,
            shape: per_image(self.output.shape()),
        }]
    }
}
