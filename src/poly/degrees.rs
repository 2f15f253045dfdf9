//! Choice of component degrees and eps per precision alpha.
//!
//! Search: minimise the ReLU's multiplicative depth, then its non-scalar
//! multiplications ([`super::cost`]), then the sign error. For a fixed eps this is an
//! exact dynamic programme over (depth budget, multiplication budget): the state after
//! some components is the ratio a/b of the next component's fit interval, the minimax
//! error for [a, b] depends on a/b only, and a larger ratio is never worse (a smaller
//! interval, a smaller error, a smaller next image), so each budget cell only keeps the
//! plan with the smallest error. Only degrees that are the highest of their (depth,
//! mults) class are candidates: a lower degree at the same cost is never better.
//!
//! eps is tried at 2^(1 - alpha + j / 16) for j = 0 and j in EPS_STEPS. j = 0 is safe
//! by the bound in [`super::precision`]; a larger eps is kept only if the transition
//! error max_{0 <= u <= eps} u (1 - p(u)) / 2 measured on a dense grid is <= 2^-alpha
//! (above eps the Remez bound d / 2 holds). The best eps balances the transition
//! against the sign error above it and sits 1.9 to 3.1 octaves up (we try 1.5 to 3.5); a grid coarser than
//! 1/16 octave misses it by enough to cost a level of depth at alpha = 8 and 9. The search takes seconds, so its result is committed in [`TABLE`]
//! and a test reruns it.

use std::collections::HashMap;
use std::ops::RangeInclusive;

use super::composite::CompositeSign;
use super::cost::{component_depth, component_mults, ReluCost};
use super::remez::sign_minimax;
use super::PolyError;

/// Supported precisions.
pub const ALPHAS: RangeInclusive<u32> = 4..=20;
const MAX_DEGREE: usize = 31;
/// Sixteenth-octave eps steps tried above 2^(1 - alpha) besides j = 0.
const EPS_STEPS: RangeInclusive<i32> = 24..=56;
/// 2^(j / 16), j = 0..16, as literals, so eps does not depend on the platform's powf.
const SIXTEENTH_OCTAVES: [f64; 16] = [
    1.0,
    1.0442737824274138,
    1.0905077326652577,
    1.1387886347566916,
    1.189207115002721,
    1.241857812073484,
    1.2968395546510096,
    1.3542555469368927,
    std::f64::consts::SQRT_2,
    1.4768261459394993,
    1.5422108254079407,
    1.6104903319492543,
    1.681792830507429,
    1.7562521603732995,
    1.8340080864093424,
    1.9152065613971474,
];
/// Grid points on [0, eps] for the transition error in the search.
const TRANSITION_POINTS: usize = 2048;
const MAX_COMPONENT_DEPTH: u32 = 40;
/// Margin under the sign-error target so a Remez error that is a sup only to 1e-9
/// relative (see remez.rs) cannot cross it.
const TARGET_MARGIN: f64 = 1.0 - 1e-6;

/// Degrees and eps for one alpha.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub eps: f64,
    pub degrees: Vec<usize>,
}

/// The committed result of [`search`]: (alpha, eps, degrees), alpha = 4..=20.
/// `search_reproduces_table` reruns the search (about 11 s on one core in release).
#[rustfmt::skip]
pub const TABLE: [(u32, f64, &[usize]); 17] = [
    (4, 0.4585020216023356, &[3]),
    (5, 0.2726269331663144, &[3, 3]),
    (6, 0.1552322265091855, &[3, 7]),
    (7, 0.08464097168355579, &[7, 7]),
    (8, 0.046150817060609355, &[7, 15]),
    (9, 0.025163911436707098, &[15, 15]),
    (10, 0.011048543456039806, &[7, 7, 15]),
    (11, 0.005768852132576169, &[7, 7, 31]),
    (12, 0.0030121305183748843, &[7, 15, 31]),
    (13, 0.0015727444647941936, &[15, 15, 31]),
    (14, 0.0008211879055212056, &[15, 31, 31]),
    (15, 0.00044775588047103087, &[31, 31, 31]),
    (16, 0.0002549496539129428, &[7, 7, 7, 7, 31]),
    (17, 0.00013311861971011446, &[7, 7, 7, 15, 31]),
    (18, 6.655930985505723e-5, &[7, 7, 15, 15, 31]),
    (19, 3.3279654927528616e-5, &[7, 15, 15, 15, 31]),
    (20, 1.6639827463764308e-5, &[15, 15, 15, 15, 31]),
];

/// The committed plan for `alpha`.
pub fn plan(alpha: u32) -> Result<Plan, PolyError> {
    TABLE
        .iter()
        .find(|row| row.0 == alpha)
        .map(|&(_, eps, degrees)| Plan { eps, degrees: degrees.to_vec() })
        .ok_or(PolyError::AlphaOutOfRange(alpha))
}

/// Lee et al.'s degrees for alpha = 4..=14 (PANN.md), for comparison.
pub const LEE: [(u32, &[usize]); 11] = [
    (4, &[5]),
    (5, &[13]),
    (6, &[3, 7]),
    (7, &[7, 7]),
    (8, &[7, 15]),
    (9, &[15, 15]),
    (10, &[7, 7, 13]),
    (11, &[7, 7, 27]),
    (12, &[7, 15, 27]),
    (13, &[15, 15, 27]),
    (14, &[15, 27, 29]),
];

/// Run the full search for `alpha` (slow: seconds in release for all alphas).
pub fn search(alpha: u32) -> Result<Plan, PolyError> {
    if !ALPHAS.contains(&alpha) {
        return Err(PolyError::AlphaOutOfRange(alpha));
    }
    let target = 2f64.powi(1 - alpha as i32);
    let mut memo = Memo::default();
    let mut best: Option<(ReluCost, f64, Plan)> = None;
    for j in std::iter::once(0).chain(EPS_STEPS) {
        let eps = 2f64.powi(1 - alpha as i32 + j / 16) * SIXTEENTH_OCTAVES[j as usize % 16];
        let Some(degrees) = cheapest(eps, target * TARGET_MARGIN, &mut memo) else {
            continue;
        };
        let sign = CompositeSign::fit(eps, &degrees)?;
        let error = transition_error(&sign).max(sign.sign_error() / 2.0);
        if error > target / 2.0 {
            continue;
        }
        let cost = ReluCost::of(&degrees);
        let better = best.as_ref().is_none_or(|(c, e, _)| {
            (cost.depth, cost.mults) < (c.depth, c.mults)
                || (cost.depth, cost.mults) == (c.depth, c.mults) && error < *e
        });
        if better {
            best = Some((cost, error, Plan { eps, degrees }));
        }
    }
    best.map(|b| b.2).ok_or(PolyError::NoDegreeSequence(alpha))
}

/// max over a grid on [0, eps] of u (1 - p(u)) / 2, the ReLU error below eps.
fn transition_error(sign: &CompositeSign) -> f64 {
    (0..=TRANSITION_POINTS)
        .map(|i| sign.eps() * i as f64 / TRANSITION_POINTS as f64)
        .map(|u| 0.5 * u * (1.0 - sign.eval(u)).abs())
        .fold(0.0, f64::max)
}

/// Highest degree of each (depth, mults) class.
fn candidates() -> Vec<usize> {
    let cost = |d: usize| (component_depth(d), component_mults(d));
    (3..=MAX_DEGREE).step_by(2).filter(|&d| (d + 2..=MAX_DEGREE).step_by(2).all(|e| cost(e) != cost(d))).collect()
}

/// Memoised minimax errors keyed by (degree, ratio bits).
#[derive(Default)]
struct Memo(HashMap<(usize, u64), Option<f64>>);

impl Memo {
    fn error(&mut self, degree: usize, ratio: f64) -> Option<f64> {
        *self.0.entry((degree, ratio.to_bits())).or_insert_with(|| sign_minimax(degree, ratio).ok().map(|m| m.error))
    }
}

/// A cell of the programme: the smallest sign error and its degrees.
type Cell = Option<(f64, Vec<usize>)>;

/// Cheapest degrees (depth, then mults, then error) reaching sign error `target` on
/// [eps, 1], or None if depth MAX_COMPONENT_DEPTH is not enough.
fn cheapest(eps: f64, target: f64, memo: &mut Memo) -> Option<Vec<usize>> {
    let cands = candidates();
    // Mults per level never exceed 2 (degree 3: 2 for depth 2; 31: 10 for depth 5), so
    // mult budget 2 s covers every sequence of component depth s.
    let width = 2 * MAX_COMPONENT_DEPTH as usize + 1;
    let mut rows: Vec<Vec<Cell>> = Vec::new();
    for s in 0..=MAX_COMPONENT_DEPTH as usize {
        let mut row: Vec<Cell> = Vec::with_capacity(width);
        for m in 0..width {
            let mut cell = if s > 0 { rows[s - 1][m].clone() } else { None };
            if m > 0 {
                cell = better(cell, row[m - 1].clone());
            }
            for &d in &cands {
                let (dd, dm) = (component_depth(d) as usize, component_mults(d) as usize);
                if dd > s || dm > m {
                    continue;
                }
                let prev = if dd == s { None } else { rows[s - dd][m - dm].clone() };
                cell = better(cell, extend(prev, d, eps, memo));
            }
            row.push(cell);
        }
        let reached = |c: &Cell| c.as_ref().is_some_and(|c| c.0 <= target);
        if let Some(m) = row.iter().position(reached) {
            return row[m].as_ref().map(|c| c.1.clone());
        }
        rows.push(row);
    }
    None
}

/// Append a degree-d component after `prev` (or start with it on [eps, 1]).
fn extend(prev: Cell, d: usize, eps: f64, memo: &mut Memo) -> Cell {
    let (ratio, mut degrees) = match prev {
        Some((e, degrees)) if (1.0 - e) / (1.0 + e) > eps => ((1.0 - e) / (1.0 + e), degrees),
        _ => (eps, Vec::new()),
    };
    let error = memo.error(d, ratio)?;
    degrees.push(d);
    Some((error, degrees))
}

fn better(a: Cell, b: Cell) -> Cell {
    match (&a, &b) {
        (Some(x), Some(y)) if y.0 < x.0 => b,
        (None, _) => b,
        _ => a,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_are_the_efficient_degrees() {
        assert_eq!(candidates(), vec![3, 7, 11, 15, 23, 31]);
    }

    #[test]
    fn no_deeper_than_lee() {
        for (alpha, lee) in LEE {
            let ours = plan(alpha).unwrap();
            assert!(ReluCost::of(&ours.degrees).depth <= ReluCost::of(lee).depth, "alpha {alpha}");
        }
    }

    #[test]
    fn table_is_in_order_and_complete() {
        assert!(TABLE.iter().map(|r| r.0).eq(ALPHAS));
        assert_eq!(plan(21), Err(PolyError::AlphaOutOfRange(21)));
    }

    #[test]
    fn search_reproduces_table() {
        // Split over threads: the search is single-threaded and takes ~11 s in all.
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).min(4);
        let alphas: Vec<u32> = ALPHAS.collect();
        std::thread::scope(|scope| {
            for part in alphas.chunks(alphas.len().div_ceil(threads)) {
                scope.spawn(move || {
                    for &alpha in part {
                        assert_eq!(search(alpha), plan(alpha), "alpha {alpha}");
                    }
                });
            }
        });
    }
}
