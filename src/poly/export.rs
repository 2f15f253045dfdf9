//! Export of a ReLU approximation for an HE pipeline.
//!
//! Schema (JSON through serde), format tag `"sturdy-relu-poly/2"`:
//!
//! ```text
//! {
//!   "format": "sturdy-relu-poly/2",
//!   "alpha": 13,                   // precision: sup |error| <= 2^-alpha on u in [-1, 1]
//!   "eps": 0.00157...,             // p_1 was fitted to sign on [-1, -eps] U [eps, 1]
//!   "convention": "...",           // inputs are divided by B: ReLU(x) ~= x (1 + p(x / B)) / 2
//!   "measured_error": 9.6e-5,      // measured sup |u (1 + p(u)) / 2 - ReLU(u)|, u in [-1, 1]
//!   "measured_log2_error": -13.35,
//!   "sign_error": 1.1e-4,          // sup |p(u) - sign(u)| on eps <= |u| <= 1 (Remez)
//!   "total_degree": 6975,
//!   "costs": {                     // per evaluator, on the he form, product with u included
//!     "depth_optimal": { "depth": 14, "products": ... },   // poly::cost::EvaluatorCosts
//!     "openfhe": { "depth": 17, "products": ... }          // EvalChebyshevSeries on [-1, 1]
//!   },
//!   "components": [                // p = components[k-1] o ... o components[0]
//!     {
//!       "degree": 15,
//!       "radius": 1.0,             // input domain [-r, r]; Chebyshev variable t = y / r
//!       "fit_interval": [eps, 1.0],// where the component was fitted to 1
//!       "error": 0.97,             // its minimax error there
//!       "chebyshev": [c_0, ..., c_d],  // p_i(y) = sum_k c_k T_k(y / r) (even c_k = 0)
//!       "power": [a_0, ..., a_d]       // p_i(y) = sum_k a_k y^k (in y, not t)
//!     }
//!   ],
//!   "he": {                        // the same composite for a CKKS evaluator (poly::he):
//!     "formula": "ReLU(x) / B ~= u * q(u), u = x / B, ...",   // each q_j on [-1, 1]
//!     "convention": "...",         // chebyshev: full c_0; chebyshev_openfhe: c_0 doubled
//!     "components": [ { "degree": 15, "chebyshev": [...], "chebyshev_openfhe": [...],
//!                       "power": [...] } ],   // power only where CKKS can use it
//!     "power_omitted": "..."       // why, where some component has no power
//!   }
//! }
//! ```
//!
//! Prefer the Chebyshev coefficients: the power ones reach 1e5 with alternating signs
//! and lose all precision in f32 Horner evaluation at alpha >= 12 (PANN.md).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::composite::Component;
use super::cost::{EvaluatorCosts, ReluCost};
use super::degrees::ALPHAS;
use super::he::HeForm;
use super::precision::ReluApprox;

pub const FORMAT: &str = "sturdy-relu-poly/2";
pub const CONVENTION: &str = "inputs are divided by B before p: ReLU(x) ~= x * (1 + p(x / B)) / 2";

/// The largest component degree the Remez fit produces (see `remez::sign_minimax`).
const MAX_DEGREE: usize = 63;
/// More components than any alpha in `ALPHAS` uses (at most 5), yet few enough that the
/// product of their degrees (at most 63^10 < 2^60) cannot overflow `total_degree`.
const MAX_COMPONENTS: usize = 10;

/// Why an exported approximation could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a {FORMAT} JSON file: {source}")]
    Json { path: PathBuf, source: serde_json::Error },
    #[error("{path} is not a valid {FORMAT} export: {problem}")]
    Invalid { path: PathBuf, problem: String },
}

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
    pub total_degree: u64,
    /// Depth and ciphertext products per evaluator, on the `he` form.
    pub costs: EvaluatorCosts,
    pub components: Vec<ComponentExport>,
    /// The same composite as an encrypted evaluator runs it (`poly::he`).
    pub he: HeForm,
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
            total_degree: cost.total_degree,
            costs: EvaluatorCosts::of(&sign.degrees()),
            components: sign.components().iter().map(ComponentExport::from).collect(),
            he: HeForm::from(sign),
        }
    }
}

impl ComponentExport {
    fn validate(&self) -> Result<(), String> {
        let d = self.degree;
        if d.is_multiple_of(2) || d > MAX_DEGREE {
            return Err(format!("degree {d} must be odd and at most {MAX_DEGREE}"));
        }
        for (name, coeffs) in [("chebyshev", &self.chebyshev), ("power", &self.power)] {
            if coeffs.len() != d + 1 {
                return Err(format!("{} {name} coefficients for degree {d}, expected {}", coeffs.len(), d + 1));
            }
            if let Some(k) = coeffs.iter().position(|c| !c.is_finite()) {
                return Err(format!("{name} coefficient {k} is {}", coeffs[k]));
            }
        }
        // The polynomial is odd: the exporter writes exact zeros in the even slots.
        if let Some(k) = self.chebyshev.iter().step_by(2).position(|&c| c != 0.0) {
            return Err(format!("chebyshev coefficient {} is {}, expected 0 (p is odd)", 2 * k, self.chebyshev[2 * k]));
        }
        if !(self.radius.is_finite() && self.radius > 0.0) {
            return Err(format!("radius {} must be finite and > 0", self.radius));
        }
        let [a, b] = self.fit_interval;
        if !(a > 0.0 && a < b && b <= self.radius) {
            return Err(format!("fit_interval [{a}, {b}] must satisfy 0 < a < b <= radius {}", self.radius));
        }
        if !(self.error.is_finite() && self.error >= 0.0) {
            return Err(format!("error {} must be finite and >= 0", self.error));
        }
        Ok(())
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
    /// Reads an export written by `sturdy approx --json` and checks its schema: format tag,
    /// alpha in [`ALPHAS`], odd degrees, coefficient counts, finite numbers, and cost
    /// figures consistent with the degrees.
    pub fn load(path: &Path) -> Result<ReluExport, ExportError> {
        let bytes = std::fs::read(path).map_err(|source| ExportError::Read { path: path.into(), source })?;
        let export: ReluExport =
            serde_json::from_slice(&bytes).map_err(|source| ExportError::Json { path: path.into(), source })?;
        export.validate().map_err(|problem| ExportError::Invalid { path: path.into(), problem })?;
        Ok(export)
    }

    /// The schema checks of [`ReluExport::load`]; the error says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.format != FORMAT {
            return Err(format!("format is {:?}, expected {FORMAT:?}", self.format));
        }
        if !ALPHAS.contains(&self.alpha) {
            return Err(format!("alpha {} is outside {}..={}", self.alpha, ALPHAS.start(), ALPHAS.end()));
        }
        if !(self.eps > 0.0 && self.eps < 1.0) {
            return Err(format!("eps {} must lie in (0, 1)", self.eps));
        }
        for (name, value) in [("measured_error", self.measured_error), ("sign_error", self.sign_error)] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(format!("{name} {value} must be finite and >= 0"));
            }
        }
        if !self.measured_log2_error.is_finite() {
            return Err(format!("measured_log2_error {} must be finite", self.measured_log2_error));
        }
        if self.components.is_empty() || self.components.len() > MAX_COMPONENTS {
            return Err(format!("{} components, expected 1..={MAX_COMPONENTS}", self.components.len()));
        }
        for (i, c) in self.components.iter().enumerate() {
            c.validate().map_err(|problem| format!("component {}: {problem}", i + 1))?;
        }
        let degrees: Vec<usize> = self.components.iter().map(|c| c.degree).collect();
        self.he.validate(&degrees)?;
        let costs = EvaluatorCosts::of(&degrees);
        if self.costs != costs {
            return Err(format!("costs are {:?}, but degrees {degrees:?} give {costs:?}", self.costs));
        }
        let total_degree = ReluCost::of(&degrees).total_degree;
        if self.total_degree != total_degree {
            return Err(format!("total_degree is {}, but degrees {degrees:?} give {total_degree}", self.total_degree));
        }
        Ok(())
    }

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
        assert_eq!((back.alpha, back.costs, back.total_degree), (13, e.costs, e.total_degree));
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
    fn every_alpha_exports_a_valid_file() {
        for alpha in ALPHAS {
            let e = ReluExport::from(ReluApprox::get(alpha).unwrap());
            assert_eq!(e.validate(), Ok(()), "alpha {alpha}");
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
