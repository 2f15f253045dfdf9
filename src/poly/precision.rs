//! ReLU approximation at precision alpha, and its measured error.
//!
//! ReLU_alpha(u) = u (1 + p(u)) / 2 on u = x / B in [-1, 1]; precision alpha means
//! sup |ReLU_alpha(u) - ReLU(u)| <= 2^-alpha. The error at u is |u| |p(u) - sign(u)| / 2
//! (identical at u and -u, p being odd), so with sign error d on eps <= |u| <= 1:
//!
//! - on eps <= |u| <= 1 it is at most d / 2: we require d <= 2^(1 - alpha);
//! - on |u| < eps it is |u| (1 - |p(u)|) / 2 < eps / 2, because each minimax component is
//!   monotone on [0, a_i] (all its critical points are alternation points inside
//!   [a_i, b_i]), so 0 <= sign(u) p(u) <= 1 - d there. The crude bound
//!   |u| (1 + |p|) / 2 <= eps would force eps <= 2^-alpha.
//!
//! eps = 2^(1 - alpha) therefore always suffices, but |u| (1 - |p(u)|) / 2 is far below
//! eps / 2 when p rises steeply near 0 (its maximum is about 1 / (8 p'(0))), so the
//! degree search ([`super::degrees`]) also tries larger eps and keeps a choice only if
//! the dense measurement below confirms 2^-alpha. The measurement is what we trust.

use std::sync::OnceLock;

use super::composite::CompositeSign;
use super::degrees::{plan, ALPHAS};
use super::PolyError;

/// A ReLU approximation for one precision alpha, with its verified error.
#[derive(Debug, Clone, PartialEq)]
pub struct ReluApprox {
    alpha: u32,
    sign: CompositeSign,
    measured_error: f64,
}

impl ReluApprox {
    /// Fit the composite for `alpha` from the degree table and measure its error.
    pub fn generate(alpha: u32) -> Result<Self, PolyError> {
        let plan = plan(alpha)?;
        let sign = CompositeSign::fit(plan.eps, &plan.degrees)?;
        let measured_error = measure_relu_error(&sign);
        Ok(Self { alpha, sign, measured_error })
    }

    /// The approximation for `alpha`, generated once per process.
    pub fn get(alpha: u32) -> Result<&'static ReluApprox, PolyError> {
        static ALL: OnceLock<Vec<Result<ReluApprox, PolyError>>> = OnceLock::new();
        let all = ALL.get_or_init(|| ALPHAS.map(Self::generate).collect());
        match all.get(alpha.wrapping_sub(*ALPHAS.start()) as usize) {
            Some(r) => r.as_ref().map_err(Clone::clone),
            None => Err(PolyError::AlphaOutOfRange(alpha)),
        }
    }

    pub fn alpha(&self) -> u32 {
        self.alpha
    }

    /// The composite sign polynomial p.
    pub fn sign(&self) -> &CompositeSign {
        &self.sign
    }

    /// Measured sup |ReLU_alpha(u) - ReLU(u)| over u in [-1, 1] (dense f64 grid).
    pub fn measured_error(&self) -> f64 {
        self.measured_error
    }

    pub fn measured_log2_error(&self) -> f64 {
        self.measured_error.log2()
    }

    /// p(u) ~= sign(u).
    pub fn sign_approx(&self, u: f64) -> f64 {
        self.sign.eval(u)
    }

    /// ReLU_alpha(u) = u (1 + p(u)) / 2 for u = x / B; ReLU(x) ~= B * relu_approx(x / B).
    pub fn relu_approx(&self, u: f64) -> f64 {
        relu_from_sign(u, self.sign.eval(u))
    }

    /// d/du ReLU_alpha(u) = (1 + p(u)) / 2 + u p'(u) / 2, also d/dx of B ReLU_alpha(x / B).
    pub fn relu_derivative(&self, u: f64) -> f64 {
        0.5 * (1.0 + self.sign.eval(u)) + 0.5 * u * self.sign.derivative(u)
    }
}

fn relu_from_sign(u: f64, p: f64) -> f64 {
    0.5 * u * (1.0 + p)
}

/// sup over [-1, 1] of |u (1 + p(u)) / 2 - ReLU(u)|, measured on a uniform grid of
/// 2^16 + 1 points, 64 log-spaced points per octave from 2^-24 to 1 (the transition)
/// and 4096 points over [0, min(4 eps, 1)], all with both signs; every local maximum
/// of the grid is then refined by golden-section search between its neighbours, since
/// a grid alone reads a smooth peak low by O((spacing / width)^2).
pub fn measure_relu_error(p: &CompositeSign) -> f64 {
    let err = |u: f64| (relu_from_sign(u, p.eval(u)) - u.max(0.0)).abs();
    let uniform = (0..=1 << 16).map(|i| -1.0 + i as f64 / 32768.0);
    let log_spaced = (0..=24 * 64).map(|i| 2f64.powf(-(i as f64) / 64.0));
    let transition = (4.0 * p.eps()).min(1.0);
    let near_eps = (0..=4096).map(move |i| transition * i as f64 / 4096.0);
    let mut grid: Vec<f64> = uniform.chain(log_spaced.chain(near_eps).flat_map(|u| [u, -u])).collect();
    grid.sort_by(f64::total_cmp);
    grid.dedup();
    let values: Vec<f64> = grid.iter().map(|&u| err(u)).collect();
    let grid_sup = values.iter().copied().fold(0.0, f64::max);
    let mut sup = grid_sup;
    for i in 1..grid.len() - 1 {
        // The sup is the transition peak below eps (resolved by the near-eps spacing
        // eps / 1024) or sits at u = +-1, where every component is at an end of its fit
        // interval and the error is the last Remez error exactly. The composite's other
        // oscillations (up to prod (d_i + 1) / 2, finer than the uniform grid at alpha
        // >= 16) cannot exceed that, so only peaks near the top need refining.
        let peak = values[i] >= values[i - 1] && values[i] >= values[i + 1];
        if peak && values[i] >= 0.9 * grid_sup {
            sup = sup.max(golden_max(&err, grid[i - 1], grid[i + 1]));
        }
    }
    sup
}

/// Maximum of a function unimodal on [lo, hi], by golden-section search.
fn golden_max(f: &impl Fn(f64) -> f64, mut lo: f64, mut hi: f64) -> f64 {
    let g = (5f64.sqrt() - 1.0) / 2.0;
    for _ in 0..40 {
        let (x1, x2) = (hi - g * (hi - lo), lo + g * (hi - lo));
        if f(x1) > f(x2) {
            hi = x2;
        } else {
            lo = x1;
        }
    }
    f(0.5 * (lo + hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_alpha_meets_its_precision() {
        for alpha in ALPHAS {
            let r = ReluApprox::get(alpha).unwrap_or_else(|e| panic!("alpha {alpha}: {e}"));
            assert!(r.measured_error() <= 2f64.powi(-(alpha as i32)), "alpha {alpha}: 2^{}", r.measured_log2_error());
            // Away from the transition the error is the Remez bound d / 2 * |u|.
            assert!(r.sign().sign_error() <= 2f64.powi(1 - alpha as i32));
        }
    }

    #[test]
    fn generation_is_deterministic() {
        for alpha in [4, 13, 20] {
            let a = ReluApprox::generate(alpha).unwrap();
            let b = ReluApprox::generate(alpha).unwrap();
            assert_eq!(a, b);
            assert_eq!(&a, ReluApprox::get(alpha).unwrap());
        }
    }

    #[test]
    fn out_of_range_alpha_is_rejected() {
        assert_eq!(ReluApprox::get(3), Err(PolyError::AlphaOutOfRange(3)));
        assert_eq!(ReluApprox::get(21), Err(PolyError::AlphaOutOfRange(21)));
    }

    #[test]
    fn relu_derivative_matches_finite_difference() {
        let r = ReluApprox::get(9).unwrap();
        let h = 1e-7;
        for i in 0..=400 {
            let u = -0.999 + 1.998 * i as f64 / 400.0;
            let fd = (r.relu_approx(u + h) - r.relu_approx(u - h)) / (2.0 * h);
            // Truncation h^2 |f'''| / 6 with |f'''| ~ p'' ~ (1/eps)^2 ~ 1e7 at most: 2e-8;
            // rounding u / h ~ 1e-9. 1e-6 relative to 1 + |f'| covers both.
            assert!((r.relu_derivative(u) - fd).abs() < 1e-6 * (1.0 + fd.abs()), "u = {u}");
        }
    }
}
