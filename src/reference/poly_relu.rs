//! The polynomial ReLU and max pooling with the kernel's overflow policy, in f64 on top
//! of `poly`.

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

/// Flat indices into x of each 2x2 stride-2 window (a, b; c, d) of an NCHW input with
/// `dims` = [N, C, H, W], in output order (floor on odd sizes).
fn windows([n, c, h, w]: [usize; 4]) -> Vec<[usize; 4]> {
    let mut windows = Vec::new();
    for p in 0..n * c {
        for row in 0..h / 2 {
            for col in 0..w / 2 {
                let top = p * h * w + 2 * row * w + 2 * col;
                windows.push([top, top + 1, top + w, top + w + 1]);
            }
        }
    }
    windows
}

/// `poly::max::max_approx` from the sign polynomial `sign` with the difference clamped to
/// [-scale, scale], as the kernel does when |a - b| > scale.
fn clamped_max(sign: &impl Fn(f64) -> f64, a: f64, b: f64, scale: f64) -> f64 {
    let d = (a - b).clamp(-scale, scale);
    0.5 * ((a + b) + d * sign(d / scale))
}

/// The PANN's 2x2 max pooling: max_alpha(max_alpha(a, b, D1), max_alpha(c, d, D1), D2) per
/// window, with `scales` = [D1, D2] (`ops::poly_relu::max_pool_scales`).
pub fn max_pool_forward(approx: &ReluApprox, scales: [f64; 2], dims: [usize; 4], x: &[f64]) -> Vec<f64> {
    max_pool_forward_with(|u| approx.sign_approx(u), scales, dims, x)
}

/// [`max_pool_forward`] with the sign polynomial given as a function (an export's, say).
pub fn max_pool_forward_with(
    sign: impl Fn(f64) -> f64,
    [first, second]: [f64; 2],
    dims: [usize; 4],
    x: &[f64],
) -> Vec<f64> {
    windows(dims)
        .into_iter()
        .map(|[a, b, c, d]| {
            let upper = clamped_max(&sign, x[a], x[b], first);
            let lower = clamped_max(&sign, x[c], x[d], first);
            clamped_max(&sign, upper, lower, second)
        })
        .collect()
}

/// How many differences the max pooling counts as overflows: |a - b| or |c - d| above D1,
/// |upper - lower| above D2 (computed by [`max_pool_forward`]'s polynomial), or NaN.
pub fn max_pool_overflow_count(approx: &ReluApprox, [first, second]: [f64; 2], dims: [usize; 4], x: &[f64]) -> u32 {
    let outside = |a: f64, b: f64, scale: f64| u32::from((a - b).is_nan() || (a - b).abs() > scale);
    windows(dims)
        .into_iter()
        .map(|[a, b, c, d]| {
            let sign = |u| approx.sign_approx(u);
            let upper = clamped_max(&sign, x[a], x[b], first);
            let lower = clamped_max(&sign, x[c], x[d], first);
            outside(x[a], x[b], first) + outside(x[c], x[d], first) + outside(upper, lower, second)
        })
        .sum()
}
