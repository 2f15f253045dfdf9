//! The polynomial ReLU with the kernel's overflow policy, in f64 on top of `poly`.

use crate::poly::ReluApprox;

/// y = B ReLU_alpha(clamp(x, -B, B) / B): the polynomial on the clamped input.
pub fn forward(approx: &ReluApprox, bound: f64, x: &[f64]) -> Vec<f64> {
    x.iter().map(|&v| bound * approx.relu_approx(v.clamp(-bound, bound) / bound)).collect()
}

/// dx = dy d/dx ReLU_alpha(x) where |x| <= B, else 0 (the clamp is flat there).
pub fn backward(approx: &ReluApprox, bound: f64, x: &[f64], dy: &[f64]) -> Vec<f64> {
    x.iter()
        .zip(dy)
        .map(|(&v, &g)| if v.abs() <= bound { g * approx.relu_derivative(v / bound) } else { 0.0 })
        .collect()
}

/// How many inputs the forward counts as overflows: |x| > B or NaN.
pub fn overflow_count(bound: f64, x: &[f64]) -> u32 {
    x.iter().filter(|v| v.is_nan() || v.abs() > bound).count() as u32
}
