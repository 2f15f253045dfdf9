//! max(a, b) from the composite sign polynomial.
//!
//! max(a, b) = b + ReLU(a - b), so with u = (a - b) / B and |a - b| <= B:
//! max(a, b) ~= ((a + b) + (a - b) p(u)) / 2 = b + B ReLU_alpha(u), whose error is
//! B |ReLU_alpha(u) - ReLU(u)| <= B * (measured ReLU error) ~ B 2^-alpha.

use super::precision::ReluApprox;

/// ((a + b) + (a - b) p((a - b) / bound)) / 2, for |a - b| <= bound.
pub fn max_approx(relu: &ReluApprox, a: f64, b: f64, bound: f64) -> f64 {
    let d = a - b;
    0.5 * ((a + b) + d * relu.sign_approx(d / bound))
}

/// Error bound of [`max_approx`] for |a - b| <= bound: bound times the measured
/// sup ReLU error of the approximation.
pub fn max_error_bound(relu: &ReluApprox, bound: f64) -> f64 {
    bound * relu.measured_error()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn max_within_bound() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for alpha in [6, 9, 13] {
            let relu = ReluApprox::get(alpha).unwrap();
            let bound = 40.0;
            let tol = max_error_bound(relu, bound);
            assert!(tol <= bound * 2f64.powi(-(alpha as i32)));
            for _ in 0..20_000 {
                let a: f64 = rng.random_range(-20.0..20.0);
                let b: f64 = rng.random_range(-20.0..20.0);
                let err = (max_approx(relu, a, b, bound) - a.max(b)).abs();
                // The measured sup refines every grid peak, so only the f64 rounding of
                // the formula (~40 * 1e-15) is allowed on top.
                assert!(err <= tol + 1e-12, "alpha {alpha}: max({a}, {b}) off by {err} > {tol}");
            }
        }
    }

    #[test]
    fn max_is_symmetric_and_exact_on_ties() {
        let relu = ReluApprox::get(9).unwrap();
        assert_eq!(max_approx(relu, 3.0, 3.0, 10.0), 3.0);
        // p is exactly odd, so swapping the arguments changes nothing.
        assert_eq!(max_approx(relu, 1.5, -2.0, 10.0), max_approx(relu, -2.0, 1.5, 10.0));
    }
}
