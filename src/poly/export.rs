//! Export of a ReLU approximation for an HE pipeline.
//!
//! Schema (JSON through serde), format tag `"sturdy-relu-poly/1"`:
//!
//! ```text
//! {
//!   "format": "sturdy-relu-poly/1",
//!   "alpha": 13,                   // precision: sup |error| <= 2^-alpha on u in [-1, 1]
//!   "eps": 0.00157...,             // p_1 was fitted to sign on [-1, -eps] U [eps, 1]
//!   "convention": "...",           // inputs are divided by B: ReLU(x) ~= x (1 + p(x / B)) / 2
//!   "measured_error": 9.6e-5,      // measured sup |u (1 + p(u)) / 2 - ReLU(u)|, u in [-1, 1]
//!   "measured_log2_error": -13.35,
//!   "sign_error": 1.1e-4,          // sup |p(u) - sign(u)| on eps <= |u| <= 1 (Remez)
//!   "depth": 14,                   // multiplicative depth, incl. the product with x
//!   "nonscalar_mults": 25,         // odd BSGS count (see poly::cost), incl. that product
//!   "total_degree": 6975,
//!   "components": [                // p = components[k-1] o ... o components[0]
//!     {
//!       "degree": 15,
//!       "radius": 1.0,             // input domain [-r, r]; Chebyshev variable t = y / r
//!       "fit_interval": [eps, 1.0],// where the component was fitted to 1
//!       "error": 0.97,             // its minimax error there
//!       "chebyshev": [c_0, ..., c_d],  // p_i(y) = sum_k c_k T_k(y / r) (even c_k = 0)
//!       "power": [a_0, ..., a_d]       // p_i(y) = sum_k a_k y^k (in y, not t)
//!     }
//!   ]
//! }
//! ```
//!
//! Prefer the Chebyshev coefficients: the power ones reach 1e5 with alternating signs
//! and lose all precision in f32 Horner evaluation at alpha >= 12 (PANN.md).

use serde::{Deserialize, Serialize};

use super::composite::Component;
use super::cost::ReluCost;
use super::precision::ReluApprox;

pub const FORMAT: &str = "sturdy-relu-poly/1";
pub const CONVENTION: &str = "inputs are divided by B before p: ReLU(x) ~= x * (1 + p(x / B)) / 2";

/// The exported ReLU approximation (schema in the module doc).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReluExport {
    pub format: String,
    pub alpha: u32,
    pub eps: f64,
    pub convention: String,
    pub measured_error: f64,
    pub measured_log2_error: f64,
    pub sign_error: f64,
    pub depth: u32,
    pub nonscalar_mults: u32,
    pub total_degree: u64,
    pub components: Vec<ComponentExport>,
}

/// One component p_i of the composite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentExport {
    pub degree: usize,
    pub radius: f64,
    pub fit_interval: [f64; 2],
    pub error: f64,
    pub chebyshev: Vec<f64>,
    pub power: Vec<f64>,
}

impl From<&ReluApprox> for ReluExport {
    fn from(r: &ReluApprox) -> Self {
        let sign = r.sign();
        let cost = ReluCost::of(&sign.degrees());
        Self {
            format: FORMAT.to_string(),
            alpha: r.alpha(),
            eps: sign.eps(),
            convention: CONVENTION.to_string(),
            measured_error: r.measured_error(),
            measured_log2_error: r.measured_log2_error(),
            sign_error: sign.sign_error(),
            depth: cost.depth,
            nonscalar_mults: cost.mults,
            total_degree: cost.total_degree,
            components: sign.components().iter().map(ComponentExport::from).collect(),
        }
    }
}

impl From<&Component> for ComponentExport {
    fn from(c: &Component) -> Self {
        Self {
            degree: c.degree(),
            radius: c.radius(),
            fit_interval: c.fit_interval(),
            error: c.error(),
            chebyshev: c.series().coeffs().to_vec(),
            power: c.power_coeffs(),
        }
    }
}

impl ReluExport {
    /// p(u) from the exported Chebyshev coefficients alone (f64 Clenshaw).
    pub fn eval_sign(&self, u: f64) -> f64 {
        self.components.iter().fold(u, |y, c| super::chebyshev::clenshaw(&c.chebyshev, y / c.radius))
    }

    /// p(u) from the exported power coefficients alone (f64 Horner).
    pub fn eval_sign_power(&self, u: f64) -> f64 {
        self.components.iter().fold(u, |y, c| super::chebyshev::horner(&c.power, y))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip() {
        let e = ReluExport::from(ReluApprox::get(13).unwrap());
        let json = serde_json::to_string(&e).unwrap();
        let back: ReluExport = serde_json::from_str(&json).unwrap();
        // serde_json writes shortest round-trip decimals, but without its
        // `float_roundtrip` feature it parses them to within a couple of ulps only.
        let close = |a: f64, b: f64| (a - b).abs() <= 4.0 * f64::EPSILON * a.abs();
        assert_eq!((back.alpha, back.depth, back.nonscalar_mults), (13, 14, e.nonscalar_mults));
        assert_eq!(back.format, FORMAT);
        assert!(close(back.eps, e.eps) && close(back.measured_error, e.measured_error));
        assert_eq!(back.components.len(), e.components.len());
        for (b, c) in back.components.iter().zip(&e.components) {
            assert_eq!(b.degree, c.degree);
            assert!(close(b.radius, c.radius));
            assert!(b.chebyshev.iter().zip(&c.chebyshev).all(|(x, y)| close(*x, *y)));
            assert!(b.power.iter().zip(&c.power).all(|(x, y)| close(*x, *y)));
        }
    }

    #[test]
    fn exported_coefficients_reproduce_the_polynomial() {
        for alpha in [4, 9, 13, 20] {
            let r = ReluApprox::get(alpha).unwrap();
            let e = ReluExport::from(r);
            for i in 0..=2000 {
                let u = -1.0 + i as f64 / 1000.0;
                // Full vs odd Clenshaw on the same coefficients: a few ulps per component,
                // amplified by later components' slopes near +-1 (< 10): 1e-12.
                assert!((e.eval_sign(u) - r.sign_approx(u)).abs() < 1e-12, "alpha {alpha}, u {u}");
                // Power basis in f64: coefficients up to ~1e5 cancel, losing ~1e5 u per
                // component, i.e. ~1e-10; the composition amplifies it by < 100.
                assert!((e.eval_sign_power(u) - r.sign_approx(u)).abs() < 1e-7, "alpha {alpha}, u {u}");
            }
        }
    }
}
