//! Composite sign approximation p = p_k o ... o p_1.
//!
//! p_1 is the minimax fit on [eps, 1]; it maps [eps, 1] into [1 - d_1, 1 + d_1], and
//! p_2 is fitted on exactly that image, and so on, so the composite error on
//! eps <= |x| <= 1 is the last component's minimax error d_k. Component i is stored on
//! the domain [-r_i, r_i] with r_1 = 1 and r_i = 1 + d_{i-1}, the upper end of the
//! previous image, so its Chebyshev variable t = x / r_i stays in [-1, 1] on [-1, 1].

use super::chebyshev::{clenshaw_odd, ChebSeries};
use super::remez::sign_minimax;
use super::PolyError;

/// One odd component p_i, fitted to 1 on `fit_interval` = [a_i, r_i].
#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    series: ChebSeries,
    fit_interval: [f64; 2],
    error: f64,
}

impl Component {
    pub fn degree(&self) -> usize {
        self.series.degree()
    }

    /// r_i: the component's input domain is [-r_i, r_i], its variable t = x / r_i.
    pub fn radius(&self) -> f64 {
        self.series.radius()
    }

    /// Full Chebyshev series in t (even coefficients are zero).
    pub fn series(&self) -> &ChebSeries {
        &self.series
    }

    /// Coefficients of T_1(t), T_3(t), ... (the only nonzero ones).
    pub fn odd_coeffs(&self) -> Vec<f64> {
        self.series.odd_coeffs()
    }

    /// Power-basis coefficients in x (index k multiplies x^k).
    pub fn power_coeffs(&self) -> Vec<f64> {
        self.series.to_power()
    }

    /// [a_i, r_i]: where p_i was fitted to 1.
    pub fn fit_interval(&self) -> [f64; 2] {
        self.fit_interval
    }

    /// Minimax error of p_i on its fit interval (= composite error after p_i).
    pub fn error(&self) -> f64 {
        self.error
    }

    fn eval(&self, odd: &[f64], y: f64) -> f64 {
        clenshaw_odd(odd, y / self.radius())
    }
}

/// p = p_k o ... o p_1, an odd approximation of sign on [-1, 1].
#[derive(Debug, Clone, PartialEq)]
pub struct CompositeSign {
    eps: f64,
    components: Vec<Component>,
    // Cached odd coefficients, so evaluation does not allocate.
    odd: Vec<Vec<f64>>,
    derivatives: Vec<ChebSeries>,
}

impl CompositeSign {
    /// Fit components of the given odd degrees, p_1 on [eps, 1].
    pub fn fit(eps: f64, degrees: &[usize]) -> Result<Self, PolyError> {
        let (mut lower, mut upper) = (eps, 1.0);
        let mut components = Vec::with_capacity(degrees.len());
        for &degree in degrees {
            let m = sign_minimax(degree, lower / upper)?;
            components.push(Component {
                series: ChebSeries::from_odd(upper, &m.odd_coeffs),
                fit_interval: [lower, upper],
                error: m.error,
            });
            (lower, upper) = (1.0 - m.error, 1.0 + m.error);
        }
        let odd = components.iter().map(Component::odd_coeffs).collect();
        let derivatives = components.iter().map(|c| c.series.derivative()).collect();
        Ok(Self { eps, components, odd, derivatives })
    }

    pub fn eps(&self) -> f64 {
        self.eps
    }

    pub fn components(&self) -> &[Component] {
        &self.components
    }

    pub fn degrees(&self) -> Vec<usize> {
        self.components.iter().map(Component::degree).collect()
    }

    /// sup |p(x) - sign(x)| on eps <= |x| <= 1, from the Remez of the last component.
    pub fn sign_error(&self) -> f64 {
        self.components.last().map_or(1.0, Component::error)
    }

    /// p(x), each component by odd Clenshaw in f64.
    pub fn eval(&self, x: f64) -> f64 {
        self.components.iter().zip(&self.odd).fold(x, |y, (c, odd)| c.eval(odd, y))
    }

    /// p'(x) by the chain rule: the product of p_i'(y_{i-1}).
    pub fn derivative(&self, x: f64) -> f64 {
        let mut y = x;
        let mut slope = 1.0;
        for ((c, odd), d) in self.components.iter().zip(&self.odd).zip(&self.derivatives) {
            slope *= d.eval(y);
            y = c.eval(odd, y);
        }
        slope
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lee et al.'s degrees for alpha = 13, at the eps where they meet 2^-13.
    fn lee_alpha_13() -> CompositeSign {
        CompositeSign::fit(2f64.powf(-9.125), &[15, 15, 27]).unwrap()
    }

    #[test]
    fn chained_domains_follow_the_images() {
        let p = lee_alpha_13();
        let c = p.components();
        assert_eq!(c[0].radius(), 1.0);
        for i in 1..c.len() {
            assert_eq!(c[i].radius(), 1.0 + c[i - 1].error());
            assert_eq!(c[i].fit_interval()[0], 1.0 - c[i - 1].error());
        }
    }

    #[test]
    fn composite_error_bounded_by_last_component() {
        let p = lee_alpha_13();
        let bound = p.sign_error();
        for i in 0..=100_000 {
            let x = p.eps() + (1.0 - p.eps()) * i as f64 / 100_000.0;
            // Each Remez error is a sup to 1e-9 relative; inner components' tiny excess
            // moves the next input by ~1e-9 d, changing the output by far less than 1e-6.
            let e = (p.eval(x) - 1.0).abs();
            assert!(e <= bound * (1.0 + 1e-6), "x = {x}: {e} > {bound}");
            assert_eq!(p.eval(-x), -p.eval(x));
        }
        assert!(bound < 2f64.powi(-12));
    }

    #[test]
    fn composite_is_monotone_below_eps() {
        // Used by the ReLU error bound: 0 <= p <= 1 on [0, eps].
        let p = lee_alpha_13();
        let mut prev = 0.0;
        for i in 0..=10_000 {
            let v = p.eval(p.eps() * i as f64 / 10_000.0);
            assert!(v >= prev && v <= 1.0);
            prev = v;
        }
    }

    #[test]
    fn derivative_matches_finite_difference() {
        let p = CompositeSign::fit(2f64.powi(-7), &[7, 7]).unwrap();
        let h = 1e-7;
        for i in 0..=400 {
            let x = -0.999 + 1.998 * i as f64 / 400.0;
            let fd = (p.eval(x + h) - p.eval(x - h)) / (2.0 * h);
            // h^2 |p'''| / 6 with |p'''| <= ~1e8 (slope ~ 1/eps over width ~eps) gives
            // ~2e-7, rounding u / h ~ 2e-9: 1e-5 relative to 1 + |p'| covers both.
            assert!((p.derivative(x) - fd).abs() < 1e-5 * (1.0 + fd.abs()), "x = {x}");
        }
    }

    #[test]
    fn fitting_is_deterministic() {
        assert_eq!(lee_alpha_13(), lee_alpha_13());
    }
}
