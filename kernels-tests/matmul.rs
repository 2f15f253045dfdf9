use sturdy::ops::gemm::Loader;
use sturdy::ops::matmul::{Matmul, MatmulShape};
use sturdy::reference;

use crate::harness::*;

/// Odd sizes around the blocks (texture: 8 rows x 32 columns, 16 x 16 for N <= 16, K in 4s; tiled: 64 x 64
/// and 128 x 32, K in 16s): single elements, partial blocks on every side, and more than one block;
/// N a multiple of 4 (12, 20, 64), whose rows the GEMM stores four columns at a time. The subgroup
/// loader's lanes share B in groups of 2 (row blocks 2 and 5, wide and narrow), 4 (17 wide, 12 narrow)
/// and 8 (38 wide, 33 narrow), padded to whole groups (src/ops/gemm.rs, `lane_group`).
fn shapes() -> Vec<MatmulShape> {
    [
        (1, 1, 1),
        (5, 7, 3),
        (33, 9, 17),
        (65, 19, 70),
        (3, 41, 130),
        (70, 130, 9),
        (131, 37, 33),
        (9, 13, 20),
        (37, 5, 64),
        (2, 3, 12),
        (300, 21, 45),
        (517, 10, 13),
        (190, 7, 11),
    ]
    .map(|(m, k, n)| MatmulShape { m, k, n })
    .to_vec()
}

fn norm(v: &[f64]) -> f64 {
    dot(v, v).sqrt()
}

/// Each element is a K-term sum of products: its error is at most sum_bound(K) times the
/// sum of |terms| (Higham, Thm 3.1, plus product and store roundings), which is the same
/// product on |A| and |B| (`magnitude`); by the triangle inequality the norm of the error
/// is at most sum_bound(K) * ||magnitude||. No safety factor: this is the worst case.
fn bound(k: usize, magnitude: &[f64], expected: &[f64]) -> f64 {
    sum_bound(k) * norm(magnitude) / norm(expected)
}

/// Writes random operands into `matmul`, runs it and checks `c` against the reference.
fn check_random(case: &mut Case, matmul: &Matmul, c: &sturdy::gpu::Tensor) {
    let MatmulShape { m, k, n } = matmul.shape();
    let (a, a_ref) = case.uniform(m * k, -1.0, 1.0);
    let (b, b_ref) = case.uniform(k * n, -1.0, 1.0);
    matmul.write_a(gpu(), &a).unwrap();
    matmul.write_b(gpu(), &b).unwrap();
    let expected = reference::matmul::matmul(&a_ref, &b_ref, m, k, n);
    let abs = |v: &[f64]| v.iter().map(|x| x.abs()).collect::<Vec<_>>();
    let magnitude = reference::matmul::matmul(&abs(&a_ref), &abs(&b_ref), m, k, n);
    let actual = run_and_read(&[matmul.dispatch()], c);
    assert_close(case, "c", &actual, &expected, bound(k, &magnitude, &expected));
}

#[test]
fn both_variants_match_reference() {
    for variant in Loader::available(gpu()) {
        for shape in shapes() {
            let MatmulShape { m, k, n } = shape;
            let mut case = Case::new(format!("matmul {} {m}x{k} * {k}x{n}", variant.name()));
            let c = poisoned(&[m, n]);
            let matmul = Matmul::new(gpu(), variant, shape, &c).unwrap();
            check_random(&mut case, &matmul, &c);
        }
    }
}

#[test]
fn rewritten_operands_are_read_by_the_same_dispatch() {
    let shape = MatmulShape { m: 9, k: 6, n: 11 };
    for variant in Loader::available(gpu()) {
        let mut case = Case::new(format!("matmul rewrite {}", variant.name()));
        let c = poisoned(&[shape.m, shape.n]);
        let matmul = Matmul::new(gpu(), variant, shape, &c).unwrap();
        for _ in 0..2 {
            check_random(&mut case, &matmul, &c);
        }
    }
}

#[test]
fn mismatched_shapes_are_rejected() {
    let shape = MatmulShape { m: 4, k: 3, n: 5 };
    let c = gpu().zeros(&[5, 4]).unwrap();
    let error = Matmul::new(gpu(), Loader::Texture, shape, &c).err().expect("c of the wrong shape must fail");
    assert!(error.to_string().contains("[4, 5]"), "{error}");
    let c = gpu().zeros(&[4, 5]).unwrap();
    let matmul = Matmul::new(gpu(), Loader::Tiled { thread_rows: 8 }, shape, &c).unwrap();
    let error = matmul.write_b(gpu(), &[0.0; 12]).expect_err("b of the wrong length must fail");
    assert!(error.to_string().contains("3 x 5"), "{error}");
}
