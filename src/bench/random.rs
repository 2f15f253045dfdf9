//! Random operands: benchmarks measure speed, so any values of the right range do.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::gpu::{Gpu, Result, Tensor};

/// The benchmark's fixed-seed source, so runs do the same work.
pub fn rng() -> StdRng {
    StdRng::seed_from_u64(0x5eed)
}

/// `len` values uniform in [-1, 1).
pub fn values(rng: &mut StdRng, len: usize) -> Vec<f32> {
    (0..len).map(|_| rng.random_range(-1.0..1.0)).collect()
}

/// A tensor of values uniform in [-1, 1).
pub fn tensor(gpu: &Gpu, rng: &mut StdRng, shape: &[usize]) -> Result<Tensor> {
    gpu.upload(shape, &values(rng, shape.iter().product()))
}
