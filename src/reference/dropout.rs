//! Dropout of `ops::dropout` on the CPU: the same mask, bit for bit, from the same hash.

use super::noisy_relu::{draw, stream_key};
use crate::ops::dropout::{drop_below, keep_scale};

/// Whether each of `len` elements is kept at (seed, step) in `stream` with `rate`.
pub fn mask(seed: u64, step: u32, stream: u32, rate: f64, len: usize) -> Vec<bool> {
    let key = stream_key(seed, step, stream);
    (0..len).map(|i| draw(key, i as u32) >= drop_below(rate)).collect()
}

/// x (or dy, for backward: the same map) times mask / (1 - rate).
pub fn apply(mask: &[bool], rate: f64, x: &[f64]) -> Vec<f64> {
    let scale = keep_scale(rate) as f64;
    x.iter().zip(mask).map(|(&v, &kept)| if kept { v * scale } else { 0.0 }).collect()
}
