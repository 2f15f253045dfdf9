//! Polynomial approximations of ReLU and max for PANNs (pure f64 CPU code).
//!
//! ReLU(x) ~= x (1 + p(x / B)) / 2, where p = p_k o ... o p_1 is an odd composite
//! minimax approximation of sign on [-1, -eps] U [eps, 1] (Lee et al.). Each p_i is
//! held as a Chebyshev series on its own input domain [-r_i, r_i], which keeps the
//! coefficients small and the evaluation stable (see `../shared/PANN.md`).
//!
//! Pipeline: [`remez`] fits one component, [`composite`] chains them, [`degrees`]
//! chooses the component degrees per precision alpha under the [`cost`] model,
//! [`precision`] generates and verifies the approximation for an alpha, [`max`]
//! reuses it for max(a, b), and [`export`] writes it out for an HE pipeline.

pub mod chebyshev;
pub mod composite;
pub mod cost;
pub mod degrees;
pub mod export;
pub mod he;
pub mod max;
pub mod precision;
pub mod remez;

pub use composite::{Component, CompositeSign};
pub use precision::ReluApprox;

/// Failures of polynomial generation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PolyError {
    #[error("component degree {0} must be odd and in 1..=63")]
    InvalidDegree(usize),
    #[error("interval ratio a/b = {0} must lie in (0, 1)")]
    InvalidRatio(f64),
    #[error("Remez did not converge for degree {degree}, ratio {ratio:e}")]
    NoConvergence { degree: usize, ratio: f64 },
    #[error("precision alpha = {0} is outside the supported range 4..=20")]
    AlphaOutOfRange(u32),
    #[error("no degree sequence reaches precision alpha = {0} within the search bounds")]
    NoDegreeSequence(u32),
}
