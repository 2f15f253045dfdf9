//! Chebyshev series on a symmetric domain [-r, r], in the variable t = x / r.

/// The series sum_k c_k T_k(x / r) on [-r, r].
#[derive(Debug, Clone, PartialEq)]
pub struct ChebSeries {
    radius: f64,
    coeffs: Vec<f64>,
}

impl ChebSeries {
    /// `coeffs[k]` multiplies T_k(x / radius).
    pub fn new(radius: f64, coeffs: Vec<f64>) -> Self {
        assert!(radius > 0.0, "radius must be positive, got {radius}");
        assert!(!coeffs.is_empty(), "a series needs at least one coefficient");
        Self { radius, coeffs }
    }

    /// Odd series: `odd[j]` multiplies T_{2j+1}(x / radius).
    pub fn from_odd(radius: f64, odd: &[f64]) -> Self {
        let mut coeffs = vec![0.0; 2 * odd.len()];
        for (j, &c) in odd.iter().enumerate() {
            coeffs[2 * j + 1] = c;
        }
        Self::new(radius, coeffs)
    }

    pub fn radius(&self) -> f64 {
        self.radius
    }

    /// All coefficients, index k for T_k (even ones are zero for an odd series).
    pub fn coeffs(&self) -> &[f64] {
        &self.coeffs
    }

    pub fn degree(&self) -> usize {
        self.coeffs.len() - 1
    }

    /// Coefficients of T_1, T_3, T_5, ...
    pub fn odd_coeffs(&self) -> Vec<f64> {
        self.coeffs.iter().skip(1).step_by(2).copied().collect()
    }

    pub fn eval(&self, x: f64) -> f64 {
        clenshaw(&self.coeffs, x / self.radius)
    }

    /// d/dx of the series, as a series on the same domain.
    pub fn derivative(&self) -> ChebSeries {
        let n = self.degree();
        if n == 0 {
            return Self::new(self.radius, vec![0.0]);
        }
        // Standard recurrence d_{k-1} = d_{k+1} + 2k c_k, with d_0 halved; 1/r is the
        // chain rule for t = x / r.
        let mut d = vec![0.0; n];
        for k in (1..=n).rev() {
            let above = if k + 1 < n { d[k + 1] } else { 0.0 };
            d[k - 1] = above + 2.0 * k as f64 * self.coeffs[k];
        }
        d[0] *= 0.5;
        d.iter_mut().for_each(|c| *c /= self.radius);
        Self::new(self.radius, d)
    }

    /// Power-basis coefficients in x (not t): `a[k]` multiplies x^k.
    pub fn to_power(&self) -> Vec<f64> {
        let n = self.coeffs.len();
        let mut acc = vec![0.0; n];
        // T_{k-1} and T_k in the power basis of t.
        let mut prev = vec![0.0; n];
        let mut cur = vec![0.0; n];
        cur[0] = 1.0;
        for (k, &c) in self.coeffs.iter().enumerate() {
            if k == 1 {
                prev = std::mem::replace(&mut cur, vec![0.0; n]);
                cur[1] = 1.0;
            } else if k > 1 {
                let mut next = vec![0.0; n];
                for i in 0..k {
                    next[i + 1] += 2.0 * cur[i];
                    next[i] -= prev[i];
                }
                prev = std::mem::replace(&mut cur, next);
            }
            acc.iter_mut().zip(&cur).for_each(|(a, t)| *a += c * t);
        }
        let mut scale = 1.0;
        for a in acc.iter_mut() {
            *a *= scale;
            scale /= self.radius;
        }
        acc
    }
}

/// sum_k c_k T_k(t) by the Clenshaw recurrence.
pub fn clenshaw(c: &[f64], t: f64) -> f64 {
    let (mut b1, mut b2) = (0.0, 0.0);
    for &ck in c[1..].iter().rev() {
        let b0 = ck + 2.0 * t * b1 - b2;
        b2 = b1;
        b1 = b0;
    }
    c[0] + t * b1 - b2
}

/// sum_j odd[j] T_{2j+1}(t), by Clenshaw in u = T_2(t) = 2t^2 - 1: half the work of
/// the full recurrence. T_{2j+3} = 2u T_{2j+1} - T_{2j-1} with T_{-1} = T_1 = t, so
/// the sum closes as t (b_0 - b_1).
pub fn clenshaw_odd(odd: &[f64], t: f64) -> f64 {
    let u = 2.0 * t * t - 1.0;
    let (mut b1, mut b2) = (0.0, 0.0);
    for &c in odd.iter().rev() {
        let b0 = c + 2.0 * u * b1 - b2;
        b2 = b1;
        b1 = b0;
    }
    t * (b1 - b2)
}

/// sum_k a_k x^k by Horner's scheme (the naive export basis).
pub fn horner(a: &[f64], x: f64) -> f64 {
    a.iter().rev().fold(0.0, |acc, &c| acc * x + c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t_direct(k: usize, t: f64) -> f64 {
        (k as f64 * t.acos()).cos()
    }

    fn sample() -> ChebSeries {
        // Coefficients of the size met in sign approximations (|c| < 2).
        let c = (0..16).map(|k| ((k * 7 % 11) as f64 - 5.0) / 4.0).collect();
        ChebSeries::new(1.75, c)
    }

    fn grid() -> impl Iterator<Item = f64> {
        (0..=200).map(|i| -1.75 + 3.5 * i as f64 / 200.0)
    }

    #[test]
    fn clenshaw_matches_direct_sum() {
        let s = sample();
        for x in grid() {
            let t = x / s.radius();
            let direct: f64 = s.coeffs().iter().enumerate().map(|(k, c)| c * t_direct(k, t)).sum();
            // Both sums have O(n u sum|c|) rounding, sum|c| < 25: 1e-12 is ~100x that.
            assert!((s.eval(x) - direct).abs() < 1e-12, "x = {x}");
        }
    }

    #[test]
    fn odd_clenshaw_matches_full() {
        let odd = [1.2, -0.4, 0.3, -0.1, 0.05];
        let s = ChebSeries::from_odd(1.0, &odd);
        assert_eq!(s.odd_coeffs(), odd.to_vec());
        for x in grid().map(|x| x / 1.75) {
            assert!((s.eval(x) - clenshaw_odd(&odd, x)).abs() < 1e-14, "x = {x}");
        }
    }

    #[test]
    fn derivative_matches_finite_difference() {
        let s = sample();
        let d = s.derivative();
        let h = 1e-5;
        for x in grid().filter(|x| x.abs() < 1.74) {
            let fd = (s.eval(x + h) - s.eval(x - h)) / (2.0 * h);
            // Central difference error h^2 |f'''| / 6 with |f'''| <= sum|c| k^6 / r^3
            // ~ 1e7 here, plus rounding u |f| / h ~ 1e-10: 1e-3 covers both.
            assert!((d.eval(x) - fd).abs() < 1e-3 * (1.0 + fd.abs()), "x = {x}");
        }
    }

    #[test]
    fn power_basis_round_trip() {
        let s = sample();
        let a = s.to_power();
        assert_eq!(a.len(), s.coeffs().len());
        for x in grid() {
            // Horner's rounding is bounded by n u sum |a_k| |x|^k.
            let scale: f64 = a.iter().enumerate().map(|(k, c)| c.abs() * x.abs().powi(k as i32)).sum();
            let tol = 16.0 * 16.0 * f64::EPSILON * scale + 1e-13;
            assert!((horner(&a, x) - s.eval(x)).abs() < tol, "x = {x}");
        }
    }

    #[test]
    fn power_basis_of_t3_is_exact() {
        // T_3(x/2) = 4 (x/2)^3 - 3 (x/2) = x^3 / 2 - 3x / 2.
        let a = ChebSeries::new(2.0, vec![0.0, 0.0, 0.0, 1.0]).to_power();
        assert_eq!(a, vec![0.0, -1.5, 0.0, 0.5]);
    }
}
