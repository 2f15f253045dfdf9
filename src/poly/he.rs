//! The HE-ready form of a ReLU approximation: what a CKKS evaluator runs when a site
//! receives u = x / B directly (the bound folded into the weights before it, see
//! `export::he`):
//!
//! ```text
//! ReLU(x) / B ~= u q(u),    q = q_k o ... o q_1,    each q_j a Chebyshev series on [-1, 1]
//! ```
//!
//! with q_j(t) = p_j(r_j t) / r_{j+1} for j < k (the next component's radius folded in, so
//! every component reads [-1, 1] and no evaluator spends a level mapping another interval
//! onto it) and q_k(t) = (1 + p_k(r_k t)) / 2 (the ReLU's 1 and 1/2 folded into the last).
//! The site's output is then ReLU(x) / B, which the next layer's weights scale back.
//!
//! Two conventions for c_0: `chebyshev` is sum_k c_k T_k(t) (numpy's, and `chebyshev` of
//! the plain components); OpenFHE's `EvalChebyshevSeries` computes c_0 / 2 + sum_k>0 c_k T_k,
//! so `chebyshev_openfhe` doubles c_0 (only the last component has one).
//!
//! Power-basis coefficients are given only where CKKS can use them: OpenFHE's `EvalPoly`
//! refuses (or loses) a polynomial whose coefficients are large, and the composite's grow
//! fast with the degree (`POWER_LIMIT`).

use serde::{Deserialize, Serialize};

use super::chebyshev::{clenshaw, ChebSeries};
use super::composite::CompositeSign;

pub const FORMULA: &str = "ReLU(x) / B ~= u * q(u), u = x / B, q = q_k o ... o q_1, each on [-1, 1]";
pub const CONVENTION: &str = "chebyshev: q_j(t) = sum_k c_k T_k(t), full c_0 (numpy's convention); \
                              chebyshev_openfhe: the same q_j for OpenFHE's EvalChebyshevSeries(ct, c, -1, 1), \
                              which halves c_0";

/// The largest power-basis coefficient (in absolute value) kept. Measured with OpenFHE
/// 1.6.1's `EvalPoly` (scale 2^50, 1024 points on [-1, 1]): the components of alpha <= 7
/// (coefficients up to 43) come out within 3e-9 of the polynomial, alpha 8's degree 15
/// (up to 983) only within 2e-4, and one of alpha 9's (up to 3.7e4) fails to decode.
pub const POWER_LIMIT: f64 = 1e2;

/// One component q_j, on [-1, 1].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeComponent {
    pub degree: usize,
    pub chebyshev: Vec<f64>,
    pub chebyshev_openfhe: Vec<f64>,
    /// q_j(t) = sum_k a_k t^k; absent where a coefficient exceeds [`POWER_LIMIT`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power: Option<Vec<f64>>,
}

/// The composite q = q_k o ... o q_1 (module doc).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeForm {
    pub formula: String,
    pub convention: String,
    pub components: Vec<HeComponent>,
    /// Why components have no `power` coefficients, where some have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_omitted: Option<String>,
}

impl From<&CompositeSign> for HeForm {
    fn from(sign: &CompositeSign) -> Self {
        let components = sign.components();
        let mut largest = 0.0f64;
        let he: Vec<HeComponent> = components
            .iter()
            .enumerate()
            .map(|(j, c)| {
                let mut coeffs = c.series().coeffs().to_vec();
                match components.get(j + 1) {
                    Some(next) => coeffs.iter_mut().for_each(|v| *v /= next.radius()),
                    None => {
                        coeffs[0] += 1.0;
                        coeffs.iter_mut().for_each(|v| *v /= 2.0);
                    }
                }
                let mut openfhe = coeffs.clone();
                openfhe[0] *= 2.0;
                let power = ChebSeries::new(1.0, coeffs.clone()).to_power();
                let big = power.iter().fold(0.0f64, |m, a| m.max(a.abs()));
                largest = largest.max(big);
                let power = (big <= POWER_LIMIT).then_some(power);
                HeComponent { degree: c.degree(), chebyshev: coeffs, chebyshev_openfhe: openfhe, power }
            })
            .collect();
        let power_omitted = he.iter().any(|c| c.power.is_none()).then(|| {
            format!(
                "power coefficients reach {largest:.1e} (above {POWER_LIMIT:.0e}): CKKS cannot evaluate them \
                 (OpenFHE's EvalPoly: \"approximation error is too high\"); use the Chebyshev series"
            )
        });
        HeForm { formula: FORMULA.into(), convention: CONVENTION.into(), components: he, power_omitted }
    }
}

impl HeForm {
    pub fn degrees(&self) -> Vec<usize> {
        self.components.iter().map(|c| c.degree).collect()
    }

    /// q(u), from the Chebyshev coefficients (f64 Clenshaw).
    pub fn q(&self, u: f64) -> f64 {
        self.components.iter().fold(u, |t, c| clenshaw(&c.chebyshev, t))
    }

    /// u q(u) ~= ReLU(u) for u in [-1, 1]: the site's output over B.
    pub fn relu_over_bound(&self, u: f64) -> f64 {
        u * self.q(u)
    }

    /// The schema checks of an export's reader; the error says what is wrong.
    pub fn validate(&self, degrees: &[usize]) -> Result<(), String> {
        let own: Vec<usize> = self.components.iter().map(|c| c.degree).collect();
        if own != degrees {
            return Err(format!("he components have degrees {own:?}, the plain ones {degrees:?}"));
        }
        for (j, c) in self.components.iter().enumerate() {
            let lists = [("chebyshev", Some(&c.chebyshev)), ("chebyshev_openfhe", Some(&c.chebyshev_openfhe))];
            for (name, coeffs) in lists.into_iter().chain([("power", c.power.as_ref())]) {
                let Some(coeffs) = coeffs else { continue };
                if coeffs.len() != c.degree + 1 || coeffs.iter().any(|v| !v.is_finite()) {
                    return Err(format!("he component {}: {name} needs {} finite coefficients", j + 1, c.degree + 1));
                }
            }
            let halved = c.chebyshev_openfhe[0] / 2.0 == c.chebyshev[0];
            if !halved || c.chebyshev_openfhe[1..] != c.chebyshev[1..] {
                return Err(format!("he component {}: chebyshev_openfhe is not chebyshev with c_0 doubled", j + 1));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::poly::chebyshev::horner;
    use crate::poly::degrees::ALPHAS;
    use crate::poly::ReluApprox;

    #[test]
    fn the_he_form_computes_the_relu_over_its_bound() {
        for alpha in ALPHAS {
            let approx = ReluApprox::get(alpha).unwrap();
            let he = HeForm::from(approx.sign());
            he.validate(&approx.sign().degrees()).unwrap();
            for i in 0..=2000 {
                let u = -1.0 + i as f64 / 1000.0;
                let plain = u * (1.0 + approx.sign_approx(u)) / 2.0;
                // Scaling a coefficient by 1/r or 1/2 rounds it once (2^-53 relative); the
                // Clenshaw sums of both forms round at most 2^-52 sum |c| < 2^-50 per
                // component, and the composite's slopes (below 2^10 on [-1, 1] up to
                // alpha 20) amplify that to far below 1e-10.
                assert!((he.relu_over_bound(u) - plain).abs() < 1e-10, "alpha {alpha}, u {u}");
            }
        }
    }

    #[test]
    fn the_last_component_carries_the_half_and_openfhe_the_doubled_c0() {
        let he = HeForm::from(ReluApprox::get(7).unwrap().sign());
        let last = he.components.last().unwrap();
        assert_eq!((last.chebyshev[0], last.chebyshev_openfhe[0]), (0.5, 1.0));
        assert!(he.components[..he.components.len() - 1].iter().all(|c| c.chebyshev[0] == 0.0));
        // q(1) ~= 1 and q(-1) ~= 0: the sign's (1 + p) / 2.
        assert!((he.q(1.0) - 1.0).abs() < 2f64.powi(-6) && he.q(-1.0).abs() < 2f64.powi(-6));
    }

    #[test]
    fn power_coefficients_are_kept_only_where_ckks_can_use_them() {
        let (low, high) =
            (HeForm::from(ReluApprox::get(7).unwrap().sign()), HeForm::from(ReluApprox::get(9).unwrap().sign()));
        assert!(low.power_omitted.is_none() && low.components.iter().all(|c| c.power.is_some()));
        assert!(high.power_omitted.as_deref().is_some_and(|r| r.contains("EvalPoly")), "{:?}", high.power_omitted);
        for c in &low.components {
            let power = c.power.as_ref().unwrap();
            for t in [-1.0, -0.3, 0.01, 0.7, 1.0] {
                // Horner on coefficients below 1e2 in magnitude: rounding below 2^-40.
                assert!((horner(power, t) - clenshaw(&c.chebyshev, t)).abs() < 1e-11, "t {t}");
            }
        }
    }
}
