//! Homomorphic evaluation cost of a composite ReLU approximation.
//!
//! Depth of a degree-d component: ceil(log2(d + 1)). The ReLU adds one level for the
//! final product x * (1 + p(x)) / 2 (the scalar 1/2 is free).
//!
//! Non-scalar multiplications of a degree-d odd component, evaluated by odd
//! baby-step giant-step in the Chebyshev basis (as HE libraries do), with
//! m = ceil(log2(d + 1)) and baby-step size k = 2^l, 1 <= l <= m:
//!
//! - baby steps T_2, T_4, ..., T_{k/2} (l - 1 squarings, T_2j = 2 T_j^2 - 1) and the odd
//!   T_3, T_5, ..., T_{k-1} (k/2 - 1 products, T_{i+j} = 2 T_i T_j - T_{|i-j|});
//! - giant steps T_k, T_2k, ..., T_{2^(m-1)}: m - l squarings;
//! - the polynomial splits into ceil((d + 1) / k) odd blocks of degree < k (scalar
//!   combinations of baby steps, free), recombined by p = q T_{2^j} + r along a binary
//!   tree: one product per merge, ceil((d + 1) / k) - 1 in all.
//!
//! mults(d) = min over l of (l - 1) + (k/2 - 1) + (m - l) + ceil((d + 1) / k) - 1.
//! The ReLU adds one product for x * (1 + p).
//!
//! This is the model the degree search ([`super::degrees`]) minimises, depth first. No
//! evaluator reaches both its depth and its multiplications (the BSGS block
//! combinations are scalar products, which cost a level in CKKS): what evaluators pay is
//! [`EvaluatorCosts`], which is what sturdy reports.

/// Multiplicative depth of one component of odd degree `degree`.
pub fn component_depth(degree: usize) -> u32 {
    (degree + 1).next_power_of_two().trailing_zeros()
}

/// Non-scalar multiplications of one component (formula in the module doc).
pub fn component_mults(degree: usize) -> u32 {
    let m = component_depth(degree);
    (1..=m)
        .map(|l| {
            let k = 1usize << l;
            (l - 1) + (k as u32 / 2 - 1) + (m - l) + (degree + 1).div_ceil(k) as u32 - 1
        })
        .min()
        .expect("degree >= 1 has depth >= 1")
}

/// What an encrypted evaluator pays for one ReLU: the levels it consumes and its
/// ciphertext-ciphertext products. Each evaluator reaches its own pair; none reaches both
/// the least depth and the least products.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EvaluatorCost {
    pub depth: u32,
    pub products: u32,
}

/// The two evaluators sturdy prices, on the HE-ready form (`poly::he`: every component on
/// [-1, 1], the 1/2 folded in), each ReLU's final product u q(u) included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EvaluatorCosts {
    /// Depth ceil(log2(d + 1)) per component: the power-of-two T_2, T_4, ... by squaring
    /// (m - 1 products), then every odd T_k (k > 1) by one product T_k = 2 T_a T_b - T_|a-b|
    /// with its coefficient folded into the shallower factor ((d - 1) / 2 products).
    pub depth_optimal: EvaluatorCost,
    /// OpenFHE 1.6's `EvalChebyshevSeries` on [-1, 1] (its `ckksrns-advancedshe.cpp`):
    /// below degree 5 the linear method (T_2 ... T_d, d - 1 products, ceil(log2 d) + 1
    /// levels with the scalar products), else Paterson-Stockmeyer with its own (k, m)
    /// (`ComputeDegreesPS`): ceil(log2 k) + m levels, k + 2m + 2^(m-1) - 4 products.
    /// Measured with OpenFHE: degree 3 takes 3 levels, 5 to 13 take 4 (7: 4), 15 to 27
    /// take 5, 31 takes 6 and 63 takes 7.
    pub openfhe: EvaluatorCost,
}

impl EvaluatorCosts {
    pub fn of(degrees: &[usize]) -> Self {
        let sum = |cost: fn(usize) -> EvaluatorCost| {
            let parts: Vec<EvaluatorCost> = degrees.iter().map(|&d| cost(d)).collect();
            // The final product with u: one level, one product.
            EvaluatorCost {
                depth: parts.iter().map(|c| c.depth).sum::<u32>() + 1,
                products: parts.iter().map(|c| c.products).sum::<u32>() + 1,
            }
        };
        EvaluatorCosts { depth_optimal: sum(depth_optimal_component), openfhe: sum(openfhe_component) }
    }
}

fn depth_optimal_component(degree: usize) -> EvaluatorCost {
    let m = component_depth(degree);
    EvaluatorCost { depth: m, products: m - 1 + (degree as u32 - 1) / 2 }
}

/// OpenFHE's Paterson-Stockmeyer parameter m for a degree (`PopulateParameterPS`, up to
/// the degrees sturdy uses); k = floor(n / (2^m - 1)) + 1.
fn openfhe_ps_m(degree: usize) -> u32 {
    match degree {
        1..=2 => 1,
        3..=11 | 14..=17 => 2,
        12..=13 | 18..=55 | 60..=76 => 3,
        _ => 4,
    }
}

fn openfhe_component(degree: usize) -> EvaluatorCost {
    let log2_ceil = |n: usize| n.next_power_of_two().trailing_zeros();
    if degree < 5 {
        return EvaluatorCost { depth: log2_ceil(degree) + 1, products: degree as u32 - 1 };
    }
    let m = openfhe_ps_m(degree);
    let k = degree / ((1 << m) - 1) + 1;
    EvaluatorCost { depth: log2_ceil(k) + m, products: k as u32 + 2 * m + (1 << (m - 1)) - 4 }
}

/// Cost of one ReLU x (1 + p(x / B)) / 2 with the given component degrees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReluCost {
    /// Sum of component depths plus 1 for the product with x.
    pub depth: u32,
    /// Sum of component multiplications plus 1 for the product with x.
    pub mults: u32,
    /// Degree of p: the product of component degrees.
    pub total_degree: u64,
}

impl ReluCost {
    pub fn of(degrees: &[usize]) -> Self {
        Self {
            depth: degrees.iter().map(|&d| component_depth(d)).sum::<u32>() + 1,
            mults: degrees.iter().map(|&d| component_mults(d)).sum::<u32>() + 1,
            total_degree: degrees.iter().map(|&d| d as u64).product(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depths() {
        let expect = [(1, 1), (3, 2), (5, 3), (7, 3), (9, 4), (15, 4), (17, 5), (31, 5)];
        for (d, depth) in expect {
            assert_eq!(component_depth(d), depth, "degree {d}");
        }
    }

    #[test]
    fn mults_match_hand_counts() {
        // d = 3: T_2 = 2x^2 - 1, T_3 = 2 T_2 T_1 - T_1: 2.
        assert_eq!(component_mults(3), 2);
        // d = 5 (l = 2): T_2, T_3, giant T_4, then (c1 T1 + c3 T3) + T_4 (c5' T1): 4.
        assert_eq!(component_mults(5), 4);
        // d = 7 (l = 2): T_2, T_3, T_4, one merge q T_4 + r: 4.
        assert_eq!(component_mults(7), 4);
        // d = 15 (l = 2): T_2, T_3; giants T_4, T_8; 4 blocks, 3 merges: 7.
        assert_eq!(component_mults(15), 7);
        // d = 31 (l = 3): T_2, T_4, T_3, T_5, T_7; giants T_8, T_16; 4 blocks, 3 merges: 10.
        assert_eq!(component_mults(31), 10);
        // d = 1: t itself, no product.
        assert_eq!(component_mults(1), 0);
    }

    #[test]
    fn evaluator_costs_match_openfhe_and_the_depth_optimal_schedule() {
        // Levels measured with OpenFHE 1.6.1 on [-1, 1] (module doc of EvaluatorCosts).
        for (degree, levels) in [(1, 1), (3, 3), (5, 3), (7, 4), (9, 4), (13, 4), (15, 5), (27, 5), (31, 6), (63, 7)] {
            assert_eq!(openfhe_component(degree).depth, levels, "degree {degree}");
        }
        // alpha 7 (7, 7) and 9 (15, 15): OpenFHE 9 and 11 levels with the scales folded,
        // the depth-optimal schedule 7 and 9 levels for 11 and 21 products.
        let (a7, a9) = (EvaluatorCosts::of(&[7, 7]), EvaluatorCosts::of(&[15, 15]));
        assert_eq!((a7.openfhe.depth, a9.openfhe.depth), (9, 11));
        assert_eq!(
            (a7.depth_optimal, a9.depth_optimal),
            (EvaluatorCost { depth: 7, products: 11 }, EvaluatorCost { depth: 9, products: 21 })
        );
        // Paterson-Stockmeyer for degree 7: k = 3, m = 2: T_2, T_3 (2), T_6 (1), T_9 (1), one merge.
        assert_eq!(openfhe_component(7).products, 5);
    }

    #[test]
    fn relu_cost_adds_the_final_product() {
        let c = ReluCost::of(&[15, 15, 27]);
        assert_eq!(c.depth, 4 + 4 + 5 + 1);
        assert_eq!(c.mults, 7 + 7 + 10 + 1);
        assert_eq!(c.total_degree, 15 * 15 * 27);
    }
}
