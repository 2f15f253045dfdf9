use rand::Rng;
use rand_distr::{Distribution, Normal, Uniform};

use super::Purpose;
use crate::gpu::{Gpu, Result, Tensor};

/// A trainable tensor, with its gradient and optimiser velocity when training.
pub struct Param {
    pub name: String,
    pub value: Tensor,
    /// None in a network built for inference.
    pub training: Option<TrainingState>,
    /// A batch-norm scale or shift: a group of its own for weight decay.
    pub is_norm: bool,
}

pub struct TrainingState {
    pub grad: Tensor,
    pub velocity: Tensor,
}

impl Param {
    pub fn new(
        gpu: &Gpu,
        name: impl Into<String>,
        shape: &[usize],
        init: &[f32],
        is_norm: bool,
        purpose: Purpose,
    ) -> Result<Param> {
        let training = match purpose {
            Purpose::Training => Some(TrainingState { grad: gpu.zeros(shape)?, velocity: gpu.zeros(shape)? }),
            Purpose::Inference => None,
        };
        Ok(Param { name: name.into(), value: gpu.upload(shape, init)?, training, is_norm })
    }

    pub fn constant(
        gpu: &Gpu,
        name: impl Into<String>,
        shape: &[usize],
        value: f32,
        is_norm: bool,
        purpose: Purpose,
    ) -> Result<Param> {
        Param::new(gpu, name, shape, &vec![value; shape.iter().product()], is_norm, purpose)
    }

    /// The gradient of a training network's parameter.
    pub fn grad(&self) -> &Tensor {
        &self.training.as_ref().expect("a network built for inference has no gradients").grad
    }
}

/// He et al.'s initialisation for layers followed by ReLU: N(0, 2 / fan_in).
pub fn kaiming_normal(rng: &mut impl Rng, len: usize, fan_in: usize) -> Vec<f32> {
    let normal = Normal::new(0.0, (2.0 / fan_in as f64).sqrt()).expect("finite positive std");
    (0..len).map(|_| normal.sample(rng) as f32).collect()
}

/// PyTorch's default for linear layers: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
pub fn fan_in_uniform(rng: &mut impl Rng, len: usize, fan_in: usize) -> Vec<f32> {
    let bound = 1.0 / (fan_in as f32).sqrt();
    let uniform = Uniform::new_inclusive(-bound, bound).expect("finite bound");
    (0..len).map(|_| uniform.sample(rng)).collect()
}
