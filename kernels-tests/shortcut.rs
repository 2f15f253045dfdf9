use sturdy::{ops, reference};

use crate::harness::*;

// The shortcut copies f32 values or writes zeros: no rounding, the results are exact.
const EXACT: f64 = 0.0;
// Finite differences of a linear loss have no truncation error, only rounding: about
// 1e-16 * |L| / h, below 1e-10 for |L| < 1e2 and h = 1e-4 used here; allow 1e-9.
const STEP: f64 = 1e-4;
const FINITE_DIFFERENCE: f64 = 1e-9;

/// (input [N, C, H, W], output channels): the published doubling (16 -> 32), odd sizes (7x5
/// keeps rows 0, 2, 4, 6 and columns 0, 2, 4), an odd channel difference (3 -> 6: one
/// channel in front, two behind), no added channels, 1x1 planes, a plane above 64 values.
const CASES: [([usize; 4], usize); 8] = [
    ([2, 16, 8, 8], 32),
    ([2, 3, 3, 12], 6),
    ([1, 2, 5, 16], 4),
    ([3, 5, 7, 5], 10),
    ([2, 3, 5, 6], 6),
    ([1, 4, 3, 3], 4),
    ([4, 2, 1, 1], 4),
    ([1, 3, 17, 13], 7),
];

#[test]
fn shortcut_matches_reference() {
    for (dims, out_channels) in CASES {
        let mut case = Case::new(format!("option-A shortcut {dims:?} -> {out_channels} channels"));
        let out = ops::shortcut::output_shape(&dims, out_channels).unwrap();
        assert_eq!(out, [dims[0], out_channels, dims[2].div_ceil(2), dims[3].div_ceil(2)]);
        let (x, x_ref) = case.tensor(&dims, -1.0, 1.0);
        let (dy, dy_ref) = case.tensor(&out, -1.0, 1.0);
        let (y, dx) = (poisoned(&out), poisoned(&dims));
        let forward = ops::shortcut::forward(gpu(), &x, &y).unwrap();
        let backward = ops::shortcut::backward(gpu(), &dy, &dx).unwrap();
        gpu().run([&forward, &backward]).unwrap();
        assert_close(&case, "y", &read(&y), &reference::shortcut::forward(dims, out_channels, &x_ref), EXACT);
        assert_close(&case, "dx", &read(&dx), &reference::shortcut::backward(dims, out_channels, &dy_ref), EXACT);
    }
}

#[test]
fn shortcut_pads_as_pytorch_does() {
    // One 1-channel 3x3 image to 4 channels: F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, 1, 2))
    // keeps the corners 1, 3, 7, 9 in channel 1 and zeros channels 0, 2 and 3.
    let x = gpu().upload(&[1, 1, 3, 3], &[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]).unwrap();
    let y = poisoned(&[1, 4, 2, 2]);
    let forward = ops::shortcut::forward(gpu(), &x, &y).unwrap();
    let mut expected = vec![0.0; 16];
    expected[4..8].copy_from_slice(&[1.0, 3.0, 7.0, 9.0]);
    assert_eq!(run_and_read(&[&forward], &y), expected);
}

#[test]
fn shortcut_backward_matches_finite_differences() {
    for (dims, out_channels) in [([2, 3, 5, 6], 6), ([1, 2, 7, 3], 4)] {
        let mut case = Case::new(format!("option-A shortcut gradient check {dims:?} -> {out_channels}"));
        let out = ops::shortcut::output_shape(&dims, out_channels).unwrap();
        let (_, x_ref) = case.uniform(dims.iter().product(), -1.0, 1.0);
        let (r, r_ref) = case.tensor(&out, -1.0, 1.0);
        let dx = poisoned(&dims);
        let backward = ops::shortcut::backward(gpu(), &r, &dx).unwrap();
        let loss = |x: &[f64]| dot(&reference::shortcut::forward(dims, out_channels, x), &r_ref);
        let numeric = numerical_gradient(loss, &x_ref, STEP);
        assert_close(&case, "dx", &run_and_read(&[&backward], &dx), &numeric, EXACT + FINITE_DIFFERENCE);
    }
}

#[test]
fn bad_shapes_are_rejected() {
    let message = |r: sturdy::gpu::Result<sturdy::gpu::Dispatch>| r.err().expect("bad shape must fail").to_string();
    let x = gpu().zeros(&[2, 4, 7, 5]).unwrap();
    let error = message(ops::shortcut::forward(gpu(), &x, &gpu().zeros(&[2, 8, 3, 3]).unwrap()));
    assert!(error.contains("forward: the output has shape [2, 8, 3, 3], expected [2, 8, 4, 3]"), "{error}");
    let error = message(ops::shortcut::forward(gpu(), &x, &gpu().zeros(&[2, 2, 4, 3]).unwrap()));
    assert!(error.contains("it adds channels, it cannot remove them"), "{error}");
    let error = message(ops::shortcut::backward(gpu(), &gpu().zeros(&[2, 8]).unwrap(), &x));
    assert!(error.contains("backward: the output has shape [2, 8], expected [2, 8, 4, 3]"), "{error}");
}
