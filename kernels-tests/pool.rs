use sturdy::gpu::Tensor;
use sturdy::{ops, reference};

use crate::harness::*;

// Max pooling compares and copies f32 values: no rounding, the results are exact.
const EXACT: f64 = 0.0;
// WGSL allows 2.5 ULP (up to 5 unit roundoffs) for an f32 division.
const DIVISION: f64 = 5.0 * F32_UNIT_ROUNDOFF;
// Finite differences of a loss that is linear near x (global average everywhere, max
// pooling away from ties) have no truncation error, only rounding: about 1e-16 * |L| / h,
// below 1e-10 for |L| < 1e2 and h = 1e-4 used here; allow 1e-9.
const STEP: f64 = 1e-4;
const FINITE_DIFFERENCE: f64 = 1e-9;

/// [N, C, H, W]: odd sizes (7x5 -> 3x2 and 9x9 -> 4x4 drop a row and column), batch 1 and
/// 5, a plane above 64 values (13x11), the smallest pooled input (2x2).
const SHAPES: [[usize; 4]; 5] = [[5, 3, 7, 5], [1, 1, 2, 2], [2, 3, 9, 9], [1, 2, 13, 11], [3, 4, 2, 3]];

fn poisoned_u32(shape: &[usize]) -> Tensor {
    gpu().upload(shape, &vec![u32::MAX; shape.iter().product()]).unwrap()
}

/// Distinct values: a random permutation of 0..len, times 0.01 (exact gaps far above STEP).
fn distinct(case: &mut Case, shape: &[usize]) -> (Tensor, Vec<f64>) {
    use rand::seq::SliceRandom;
    let mut values: Vec<f32> = (0..shape.iter().product::<usize>()).map(|i| i as f32 * 0.01 - 1.0).collect();
    values.shuffle(&mut case.rng);
    (gpu().upload(shape, &values).unwrap(), values.iter().map(|&v| v as f64).collect())
}

#[test]
fn global_average_matches_reference() {
    for dims in SHAPES.into_iter().chain([[3, 4, 1, 1]]) {
        let [n, c, h, w] = dims;
        let mut case = Case::new(format!("global average pool {dims:?}"));
        let (x, x_ref) = case.tensor(&dims, -1.0, 1.0);
        let (dy, dy_ref) = case.tensor(&[n, c], -1.0, 1.0);
        let (y, dx) = (poisoned(&[n, c]), poisoned(&dims));
        let forward = ops::pool::global_average_forward(gpu(), &x, &y).unwrap();
        let backward = ops::pool::global_average_backward(gpu(), &dy, &dx).unwrap();
        gpu().run([&forward, &backward]).unwrap();
        // Relative to sum |x| per plane rather than |mean|: the sum of H*W terms errs by
        // sum_bound(H*W) * sum |x| (Higham). For x uniform in [-1, 1) the norm of the means
        // may be far below the mean of |x|, so scale by ||mean |x|| / ||mean||.
        let y_ref = reference::pool::global_average_forward(dims, &x_ref);
        let abs_ref = reference::pool::global_average_forward(dims, &x_ref.iter().map(|v| v.abs()).collect::<Vec<_>>());
        let norm = |v: &[f64]| dot(v, v).sqrt();
        let bound = sum_bound(h * w) * norm(&abs_ref) / norm(&y_ref) + DIVISION;
        assert_close(&case, "y", &read(&y), &y_ref, bound);
        // One division per element.
        assert_close(&case, "dx", &read(&dx), &reference::pool::global_average_backward(dims, &dy_ref), DIVISION);
    }
}

#[test]
fn global_average_backward_matches_finite_differences() {
    for dims in [[2, 3, 7, 5], [3, 2, 1, 1]] {
        let [n, c, _, _] = dims;
        let mut case = Case::new(format!("global average pool gradient check {dims:?}"));
        let (_, x_ref) = case.uniform(dims.iter().product(), -1.0, 1.0);
        let (r, r_ref) = case.tensor(&[n, c], -1.0, 1.0);
        let dx = poisoned(&dims);
        let backward = ops::pool::global_average_backward(gpu(), &r, &dx).unwrap();
        let numeric =
            numerical_gradient(|x| dot(&reference::pool::global_average_forward(dims, x), &r_ref), &x_ref, STEP);
        assert_close(&case, "dx", &run_and_read(&[&backward], &dx), &numeric, DIVISION + FINITE_DIFFERENCE);
    }
}

#[test]
fn max_pool_matches_reference() {
    for dims in SHAPES {
        let out = ops::pool::max_pool_output_shape(&dims).unwrap();
        assert_eq!(out, [dims[0], dims[1], dims[2] / 2, dims[3] / 2]);
        // Random values, and values from {0, 1, 2} so that windows tie often.
        for ties in [false, true] {
            let mut case = Case::new(format!("max pool {dims:?} ties {ties}"));
            let (x, x_ref) = if ties {
                let values: Vec<f32> =
                    (0..dims.iter().product()).map(|_| rand::Rng::random_range(&mut case.rng, 0..3) as f32).collect();
                let wide = values.iter().map(|&v| v as f64).collect::<Vec<_>>();
                (gpu().upload(&dims, &values).unwrap(), wide)
            } else {
                case.tensor(&dims, -1.0, 1.0)
            };
            let (dy, dy_ref) = case.tensor(&out, -1.0, 1.0);
            let (y, argmax, dx) = (poisoned(&out), poisoned_u32(&out), poisoned(&dims));
            let forward = ops::pool::max_pool_forward(gpu(), &x, &y, &argmax).unwrap();
            let backward = ops::pool::max_pool_backward(gpu(), &argmax, &dy, &dx).unwrap();
            gpu().run([&forward, &backward]).unwrap();
            let (y_ref, argmax_ref) = reference::pool::max_pool_forward(dims, &x_ref);
            assert_close(&case, "y", &read(&y), &y_ref, EXACT);
            let argmax_gpu: Vec<usize> =
                gpu().download::<u32>(&argmax).unwrap().into_iter().map(|i| i as usize).collect();
            assert_eq!(argmax_gpu, argmax_ref, "{}: argmax", case.context());
            assert_close(&case, "dx", &read(&dx), &reference::pool::max_pool_backward(dims, &x_ref, &dy_ref), EXACT);
        }
    }
}

#[test]
fn max_pool_ties_pick_the_first_in_row_major_order() {
    // One 2x4 plane holding two windows: [[1, 5], [5, 5]] and [[2, 2], [3, 3]]:
    // the maxima are at window positions 1 (top-right) and 2 (bottom-left).
    let x = gpu().upload(&[1, 1, 2, 4], &[1.0f32, 5.0, 2.0, 2.0, 5.0, 5.0, 3.0, 3.0]).unwrap();
    let (y, argmax) = (poisoned(&[1, 1, 1, 2]), poisoned_u32(&[1, 1, 1, 2]));
    let forward = ops::pool::max_pool_forward(gpu(), &x, &y, &argmax).unwrap();
    gpu().run([&forward]).unwrap();
    assert_eq!(gpu().download::<u32>(&argmax).unwrap(), [1, 6]);
    assert_eq!(gpu().download::<f32>(&y).unwrap(), [5.0, 3.0]);
}

#[test]
fn max_pool_backward_matches_finite_differences() {
    for dims in [[1, 2, 5, 7], [2, 1, 4, 4]] {
        let out = ops::pool::max_pool_output_shape(&dims).unwrap();
        let mut case = Case::new(format!("max pool gradient check {dims:?}"));
        let (x, x_ref) = distinct(&mut case, &dims);
        let (r, r_ref) = case.tensor(&out, -1.0, 1.0);
        let (y, argmax, dx) = (poisoned(&out), poisoned_u32(&out), poisoned(&dims));
        let forward = ops::pool::max_pool_forward(gpu(), &x, &y, &argmax).unwrap();
        let backward = ops::pool::max_pool_backward(gpu(), &argmax, &r, &dx).unwrap();
        gpu().run([&forward, &backward]).unwrap();
        let numeric = numerical_gradient(|x| dot(&reference::pool::max_pool_forward(dims, x).0, &r_ref), &x_ref, STEP);
        assert_close(&case, "dx", &read(&dx), &numeric, EXACT + FINITE_DIFFERENCE);
    }
}

#[test]
fn stale_gradients_are_overwritten() {
    // dx holds values from an earlier step: backward writes every element, the dropped
    // odd row and column and the non-maxima included.
    let dims = [1, 1, 3, 3];
    let mut case = Case::new("max pool overwrites dx");
    let (x, x_ref) = distinct(&mut case, &dims);
    let (dy, dy_ref) = case.tensor(&[1, 1, 1, 1], -1.0, 1.0);
    let (y, argmax) = (poisoned(&[1, 1, 1, 1]), poisoned_u32(&[1, 1, 1, 1]));
    let dx = gpu().upload(&dims, &[7.0f32; 9]).unwrap();
    let forward = ops::pool::max_pool_forward(gpu(), &x, &y, &argmax).unwrap();
    let backward = ops::pool::max_pool_backward(gpu(), &argmax, &dy, &dx).unwrap();
    gpu().run([&forward, &backward]).unwrap();
    assert_close(&case, "dx", &read(&dx), &reference::pool::max_pool_backward(dims, &x_ref, &dy_ref), EXACT);
}

#[test]
fn bad_shapes_are_rejected() {
    let x = gpu().zeros(&[2, 3, 7, 5]).unwrap();
    let message = |r: sturdy::gpu::Result<sturdy::gpu::Dispatch>| r.err().expect("bad shape must fail").to_string();

    let error = message(ops::pool::global_average_forward(gpu(), &x, &gpu().zeros(&[2, 4]).unwrap()));
    assert!(error.contains("global average pool forward: y has shape [2, 4], expected [2, 3]"), "{error}");
    let error =
        message(ops::pool::global_average_forward(gpu(), &gpu().zeros(&[6, 35]).unwrap(), &gpu().zeros(&[6]).unwrap()));
    assert!(error.contains("x has shape [6, 35], expected [N, C, H, W]"), "{error}");
    let error = message(ops::pool::global_average_backward(gpu(), &gpu().zeros(&[3, 2]).unwrap(), &x));
    assert!(error.contains("dy has shape [3, 2], expected [2, 3]"), "{error}");

    let (y, argmax) = (gpu().zeros(&[2, 3, 3, 2]).unwrap(), gpu().zeros(&[2, 3, 3, 2]).unwrap());
    let ceil = gpu().zeros(&[2, 3, 4, 3]).unwrap();
    let error = message(ops::pool::max_pool_forward(gpu(), &x, &ceil, &argmax));
    assert!(error.contains("max pool forward: y has shape [2, 3, 4, 3], expected [2, 3, 3, 2]"), "{error}");
    let error = message(ops::pool::max_pool_backward(gpu(), &ceil, &y, &x));
    assert!(error.contains("max pool backward: argmax has shape [2, 3, 4, 3]"), "{error}");
    let tiny = gpu().zeros(&[1, 1, 1, 4]).unwrap();
    let error = message(ops::pool::max_pool_forward(gpu(), &tiny, &y, &argmax));
    assert!(error.contains("H >= 2 and W >= 2"), "{error}");
}
