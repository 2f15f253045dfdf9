//! What a site costs under encryption at a precision alpha, for the per-site search
//! ([`super::per_site`]) and the export. One enum arm per way of pricing; an encrypted-
//! inference runner's own measured cost per evaluation would be one more arm.

use serde::{Deserialize, Serialize};

use crate::nn::{Layer, Site, SiteKind};
use crate::poly::cost::EvaluatorCosts;
use crate::poly::ReluApprox;

/// How a site's cost is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum SiteCost {
    /// Ciphertext products of one evaluation of the polynomial by OpenFHE's
    /// `EvalChebyshevSeries` on the HE-ready form (`poly::cost::EvaluatorCosts`) times the
    /// site's evaluations per image ([`evaluations`]): the products of a packing with one
    /// value per slot.
    Mults,
    /// Levels OpenFHE's evaluation of the site's polynomial consumes, whatever its size:
    /// every site of these models lies on one path, so the sum is the network's depth.
    Depth,
}

/// Polynomial evaluations per image of a site: one per input element of a ReLU, three per
/// output of a 2x2 max pooling (two maxima of pairs, then their max). `output_elements` is
/// the site's output per image.
pub fn evaluations(kind: SiteKind, output_elements: usize) -> usize {
    match kind {
        SiteKind::Relu => output_elements,
        SiteKind::Max2x2 => 3 * output_elements,
    }
}

/// [`evaluations`] of a network's site, from its output shape (`[N, ...]`).
pub fn site_evaluations(site: &Site) -> usize {
    evaluations(site.kind, site.output().shape()[1..].iter().product())
}

impl SiteCost {
    /// The cost of a site of `evaluations` polynomial evaluations per image at `alpha`.
    pub fn of(self, alpha: u32, evaluations: usize) -> anyhow::Result<f64> {
        let cost = EvaluatorCosts::of(&ReluApprox::get(alpha)?.sign().degrees()).openfhe;
        Ok(match self {
            SiteCost::Mults => cost.products as f64 * evaluations as f64,
            SiteCost::Depth => cost.depth as f64,
        })
    }

    /// The most precise alpha below `alpha` in `alphas` that is cheaper than it: one step
    /// down. (Not simply alpha - 1: at alpha 16 several cheap components beat alpha 15's
    /// multiplications.)
    pub fn step_down(self, alpha: u32, alphas: impl IntoIterator<Item = u32>) -> anyhow::Result<Option<u32>> {
        let here = self.of(alpha, 1)?;
        let mut best = None;
        for lower in alphas.into_iter().filter(|&a| a < alpha) {
            if self.of(lower, 1)? < here && best.is_none_or(|b| lower > b) {
                best = Some(lower);
            }
        }
        Ok(best)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::poly::degrees::ALPHAS;

    #[test]
    fn sites_are_priced_by_size_or_by_depth() {
        // Alpha 7: degrees 7, 7: OpenFHE's 5 + 5 + 1 products, 4 + 4 + 1 levels.
        assert_eq!(SiteCost::Mults.of(7, 10).unwrap(), 110.0);
        assert_eq!(SiteCost::Depth.of(7, 10).unwrap(), 9.0);
        assert_eq!(evaluations(SiteKind::Max2x2, 4), 12);
    }

    #[test]
    fn a_step_down_is_the_next_cheaper_alpha() {
        assert_eq!(SiteCost::Mults.step_down(8, ALPHAS).unwrap(), Some(7));
        assert_eq!(SiteCost::Mults.step_down(4, ALPHAS).unwrap(), None);
        // 16 (32 products) is cheaper than 15 (34) but not 14 (31): its step down is 14.
        assert_eq!(SiteCost::Mults.step_down(16, ALPHAS).unwrap(), Some(14));
        assert_eq!(SiteCost::Depth.step_down(16, ALPHAS).unwrap(), Some(15));
    }
}
