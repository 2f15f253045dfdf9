use sturdy::{ops, reference};

use crate::harness::*;

// ReLU is exact in f32: one comparison and a copy, no rounding.
const EXACT: f64 = 0.0;

#[test]
fn forward_and_backward_match_reference() {
    for shape in [vec![1], vec![5, 3, 7, 5], vec![64], vec![65], vec![2, 16, 9, 9]] {
        let mut case = Case::new(format!("relu {shape:?}"));
        let (x, x_ref) = case.tensor(&shape, -1.0, 1.0);
        let (dy, dy_ref) = case.tensor(&shape, -1.0, 1.0);
        let (y, dx) = (poisoned(&shape), poisoned(&shape));
        let forward = ops::relu::forward(gpu(), &x, &y).unwrap();
        let backward = ops::relu::backward(gpu(), &x, &dy, &dx).unwrap();
        gpu().run([&forward, &backward]).unwrap();
        assert_close(&case, "y", &read(&y), &reference::relu::forward(&x_ref), EXACT);
        assert_close(&case, "dx", &read(&dx), &reference::relu::backward(&x_ref, &dy_ref), EXACT);
    }
}

#[test]
fn grid_beyond_one_dimension_covers_every_element() {
    // 64 * 65535 elements fill the x dimension; one more workgroup spills into y.
    let len = 64 * 65535 + 100;
    let mut case = Case::new("relu 2-D grid");
    let (x, x_ref) = case.tensor(&[len], -1.0, 1.0);
    let y = poisoned(&[len]);
    let forward = ops::relu::forward(gpu(), &x, &y).unwrap();
    assert!(forward.kernel().grid_1d(len)[1] > 1, "the grid must use its y dimension");
    assert_close(&case, "y", &run_and_read(&[&forward], &y), &reference::relu::forward(&x_ref), EXACT);
}

#[test]
fn mismatched_shapes_are_rejected() {
    let x = gpu().zeros(&[4, 5]).unwrap();
    let y = gpu().zeros(&[5, 4]).unwrap();
    let error = ops::relu::forward(gpu(), &x, &y).err().expect("shape mismatch must fail");
    assert!(error.to_string().contains("[5, 4]"), "{error}");
}
