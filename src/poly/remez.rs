//! Multi-interval Remez: the odd minimax polynomial of degree d for sign(x) on
//! [-b, -a] U [a, b].
//!
//! By oddness this is the best approximation of 1 on [a, b] by odd polynomials, and by
//! scaling it depends only on the ratio a/b: we work in t = x / b on [a/b, 1], in the
//! odd Chebyshev basis T_1, T_3, ..., T_d (bounded by 1 there, so the linear systems
//! stay well conditioned where the power basis would not). The odd polynomials form a
//! Haar system on [a, b] (a > 0), so the optimum equioscillates on (d + 3) / 2 points.

use super::chebyshev::clenshaw_odd;
use super::PolyError;

/// Stop when the true maximum error exceeds the levelled error on the reference by at
/// most this fraction. By de la Vallée Poussin the optimum lies between the two, so the
/// result is then within 1e-9 relative of the best possible error.
const REL_TOL: f64 = 1e-9;
/// Absolute floor of the same test: evaluating a series that is ~1 with coefficients
/// summing to < 4 rounds at ~1e-15, so gaps below 1e-13 are rounding noise (this is
/// what lets tiny errors, such as high degrees on narrow intervals, terminate).
const ABS_TOL: f64 = 1e-13;
const MAX_ITERATIONS: usize = 100;
/// Search points per gap between reference points, on top of a fixed geometric grid
/// that resolves the region near a when a/b is tiny.
const POINTS_PER_GAP: usize = 16;
const GEOMETRIC_POINTS: usize = 64;
const GOLDEN_STEPS: usize = 30;

/// An odd minimax approximation of 1 on [ratio, 1] (of sign on the symmetric pair).
#[derive(Debug, Clone, PartialEq)]
pub struct Minimax {
    /// Coefficients of T_1(t), T_3(t), ..., T_d(t), t = x / b.
    pub odd_coeffs: Vec<f64>,
    /// Max of |p(t) - 1| on [ratio, 1] over the dense search (refined extrema).
    pub error: f64,
    /// |levelled error| on the final reference: a lower bound on the optimum.
    pub levelled: f64,
    /// Final reference points (t), where the error equioscillates.
    pub reference: Vec<f64>,
}

/// Minimax odd polynomial of odd `degree` approximating 1 on [ratio, 1].
pub fn sign_minimax(degree: usize, ratio: f64) -> Result<Minimax, PolyError> {
    if degree.is_multiple_of(2) || degree > 63 {
        return Err(PolyError::InvalidDegree(degree));
    }
    if !(ratio > 0.0 && ratio < 1.0) {
        return Err(PolyError::InvalidRatio(ratio));
    }
    let n = degree.div_ceil(2);
    let mut reference = chebyshev_reference(ratio, n + 1);
    for _ in 0..MAX_ITERATIONS {
        let (odd_coeffs, levelled) = solve_reference(&reference);
        let extrema = alternating_extrema(&odd_coeffs, &reference, ratio);
        let error = extrema.iter().map(|e| e.1.abs()).fold(0.0, f64::max);
        if error - levelled.abs() <= REL_TOL * levelled.abs() + ABS_TOL {
            return Ok(Minimax { odd_coeffs, error, levelled: levelled.abs(), reference });
        }
        reference = extrema.iter().map(|e| e.0).collect();
    }
    Err(PolyError::NoConvergence { degree, ratio })
}

/// Extrema of T_{m-1} mapped to [ratio, 1]: m points including both ends.
fn chebyshev_reference(ratio: f64, m: usize) -> Vec<f64> {
    let n = (m - 1) as f64;
    (0..m).map(|i| ratio + (1.0 - ratio) * (1.0 - (std::f64::consts::PI * i as f64 / n).cos()) / 2.0).collect()
}

/// Solve p(t_i) + (-1)^i h = 1 for the odd coefficients and the levelled error h.
fn solve_reference(reference: &[f64]) -> (Vec<f64>, f64) {
    let m = reference.len();
    let n = m - 1;
    let mut a: Vec<Vec<f64>> = reference
        .iter()
        .enumerate()
        .map(|(i, &t)| {
            let mut row = odd_chebyshev(t, n);
            row.push(if i % 2 == 0 { 1.0 } else { -1.0 });
            row.push(1.0);
            row
        })
        .collect();
    let x = gauss_solve(&mut a);
    (x[..n].to_vec(), x[n])
}

/// T_1(t), T_3(t), ..., T_{2n-1}(t).
fn odd_chebyshev(t: f64, n: usize) -> Vec<f64> {
    let (mut prev, mut cur) = (1.0, t);
    let mut out = Vec::with_capacity(n);
    for k in 1..2 * n {
        if k % 2 == 1 {
            out.push(cur);
        }
        (prev, cur) = (cur, 2.0 * t * cur - prev);
    }
    out
}

/// Gaussian elimination with partial pivoting on an augmented m x (m+1) matrix.
fn gauss_solve(a: &mut [Vec<f64>]) -> Vec<f64> {
    let m = a.len();
    for col in 0..m {
        let pivot = (col..m).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs())).expect("non-empty column");
        a.swap(col, pivot);
        let (above, below) = a.split_at_mut(col + 1);
        let pivot_row = &above[col];
        for row in below {
            let f = row[col] / pivot_row[col];
            for (value, pivot) in row[col..].iter_mut().zip(&pivot_row[col..]) {
                *value -= f * pivot;
            }
        }
    }
    let mut x = vec![0.0; m];
    for row in (0..m).rev() {
        let s: f64 = (row + 1..m).map(|k| a[row][k] * x[k]).sum();
        x[row] = (a[row][m] - s) / a[row][row];
    }
    x
}

/// The new reference: (t, error) at n + 1 alternating extrema of p - 1, including the
/// global maximum of |p - 1| over [ratio, 1].
fn alternating_extrema(odd: &[f64], reference: &[f64], ratio: f64) -> Vec<(f64, f64)> {
    let err = |t: f64| clenshaw_odd(odd, t) - 1.0;
    let grid = search_grid(reference, ratio);
    let values: Vec<f64> = grid.iter().map(|&t| err(t)).collect();
    // One extremum per run of constant sign: alternating by construction, and since the
    // error alternates on the old reference (part of the grid) there are >= n + 1 runs.
    let mut extrema = Vec::new();
    let mut i = 0;
    while i < grid.len() {
        let sign = values[i] >= 0.0;
        let mut best = i;
        let mut j = i;
        while j < grid.len() && (values[j] >= 0.0) == sign {
            if values[j].abs() > values[best].abs() {
                best = j;
            }
            j += 1;
        }
        extrema.push(refine(&err, &grid, best, values[best]));
        i = j;
    }
    reduce(extrema, reference.len())
}

/// Reference points, POINTS_PER_GAP points in each gap, and a geometric grid from ratio
/// to 1, sorted and without duplicates.
fn search_grid(reference: &[f64], ratio: f64) -> Vec<f64> {
    let mut grid: Vec<f64> = reference.to_vec();
    for w in reference.windows(2) {
        let step = (w[1] - w[0]) / POINTS_PER_GAP as f64;
        grid.extend((1..POINTS_PER_GAP).map(|k| w[0] + step * k as f64));
    }
    let log_ratio = ratio.ln();
    grid.extend((0..=GEOMETRIC_POINTS).map(|k| (log_ratio * (1.0 - k as f64 / GEOMETRIC_POINTS as f64)).exp()));
    grid.iter_mut().for_each(|t| *t = t.clamp(ratio, 1.0));
    grid.sort_by(f64::total_cmp);
    grid.dedup();
    grid
}

/// Golden-section maximisation of |err| between the grid neighbours of an interior
/// grid extremum (ends of [ratio, 1] stay where they are).
fn refine(err: &impl Fn(f64) -> f64, grid: &[f64], i: usize, value: f64) -> (f64, f64) {
    if i == 0 || i + 1 == grid.len() {
        return (grid[i], value);
    }
    let s = value.signum();
    let g = (5f64.sqrt() - 1.0) / 2.0;
    let (mut lo, mut hi) = (grid[i - 1], grid[i + 1]);
    for _ in 0..GOLDEN_STEPS {
        let (x1, x2) = (hi - g * (hi - lo), lo + g * (hi - lo));
        if s * err(x1) > s * err(x2) {
            hi = x2;
        } else {
            lo = x1;
        }
    }
    let t = 0.5 * (lo + hi);
    let e = err(t);
    if s * e > s * value {
        (t, e)
    } else {
        (grid[i], value)
    }
}

/// Drop extrema until `m` alternating ones remain, never dropping the largest.
fn reduce(mut ext: Vec<(f64, f64)>, m: usize) -> Vec<(f64, f64)> {
    while ext.len() > m {
        let last = ext.len() - 1;
        let smallest = (0..ext.len()).min_by(|&i, &j| ext[i].1.abs().total_cmp(&ext[j].1.abs())).expect("non-empty");
        if ext.len() == m + 1 {
            // One too many: only dropping an end keeps the alternation.
            ext.remove(if ext[0].1.abs() < ext[last].1.abs() { 0 } else { last });
        } else if smallest == 0 || smallest == last {
            ext.remove(smallest);
        } else {
            // Removing an interior point leaves two same-sign neighbours: keep the larger.
            ext.remove(smallest);
            let keep_left = ext[smallest - 1].1.abs() >= ext[smallest].1.abs();
            ext.remove(if keep_left { smallest } else { smallest - 1 });
        }
    }
    ext
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEGREES: [usize; 6] = [3, 7, 11, 15, 23, 31];
    const RATIOS: [f64; 6] = [0.5, 0.125, 2e-3, 1.0 / 65536.0, 1.0 / 524288.0, 1.0 / 4194304.0];

    #[test]
    fn equioscillates_on_reference() {
        for &d in &DEGREES {
            for &r in &RATIOS {
                let m = sign_minimax(d, r).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(m.reference.len(), d.div_ceil(2) + 1);
                let errs: Vec<f64> = m.reference.iter().map(|&t| clenshaw_odd(&m.odd_coeffs, t) - 1.0).collect();
                for (i, e) in errs.iter().enumerate() {
                    // Signs alternate; magnitudes equal the levelled error up to the
                    // linear solve's rounding (~1e-15 relative to coefficients < 4),
                    // far inside the 1e-10 allowed.
                    assert!(e.signum() != errs[(i + 1) % errs.len()].signum() || i + 1 == errs.len());
                    assert!((e.abs() - m.levelled).abs() <= 1e-10 * m.levelled + 1e-13, "d={d} r={r}");
                }
                // Converged: the sup error matches the levelled error (REL_TOL, ABS_TOL).
                assert!(m.error - m.levelled <= REL_TOL * m.levelled + ABS_TOL);
                assert_eq!(m.reference[0], r);
                assert_eq!(*m.reference.last().unwrap(), 1.0);
            }
        }
    }

    #[test]
    fn all_degrees_converge_down_to_tiny_ratios() {
        for d in (3..=31).step_by(2) {
            for &r in &[0.9, 0.3, 1e-2, 2f64.powi(-10), 2f64.powi(-16), 2f64.powi(-22)] {
                let m = sign_minimax(d, r).unwrap_or_else(|e| panic!("{e}"));
                assert!(m.error > 0.0 && m.error < 1.0, "d={d} r={r} err={}", m.error);
            }
        }
    }

    #[test]
    fn error_decreases_with_degree_and_ratio() {
        let e = |d, r| sign_minimax(d, r).unwrap().error;
        assert!(e(7, 0.1) < e(5, 0.1) && e(5, 0.1) < e(3, 0.1));
        assert!(e(7, 0.2) < e(7, 0.1));
    }

    #[test]
    fn degree_one_is_closed_form() {
        // Best c t on [r, 1]: c = 2 / (1 + r), error (1 - r) / (1 + r).
        let m = sign_minimax(1, 0.25).unwrap();
        assert!((m.error - 0.6).abs() < 1e-12);
        assert!((m.odd_coeffs[0] - 1.6).abs() < 1e-12);
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(sign_minimax(4, 0.1), Err(PolyError::InvalidDegree(4)));
        assert_eq!(sign_minimax(3, 0.0), Err(PolyError::InvalidRatio(0.0)));
        assert_eq!(sign_minimax(3, 1.0), Err(PolyError::InvalidRatio(1.0)));
    }
}
