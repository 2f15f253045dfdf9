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
    assert!(
        forward.kernel().expect("relu forward is a kernel").grid_1d(len)[1] > 1,
        "the grid must use its y dimension"
    );
    assert_close(&case, "y", &run_and_read(&[&forward], &y), &reference::relu::forward(&x_ref), EXACT);
}

#[test]
fn mismatched_shapes_are_rejected() {
    let x = gpu().zeros(&[4, 5]).unwrap();
    let y = gpu().zeros(&[5, 4]).unwrap();
    let error = ops::relu::forward(gpu(), &x, &y).err().expect("shape mismatch must fail");
    assert!(error.to_string().contains("[5, 4]"), "{error}");
}

/// The f16-storage probe computes ReLU exactly on halves (max is exact in any precision):
/// the output is the input's half where positive, zero elsewhere, bit for bit. Lengths not
/// whole fours leave the last halves unused.
#[test]
fn f16_storage_forward_is_exact() {
    if !gpu().has_f16() {
        eprintln!("skipped: {} has no SHADER_F16", gpu().adapter_name());
        return;
    }
    for len in [1, 2, 7, 130] {
        let mut case = Case::new(format!("relu f16 storage {len}"));
        let (values, _) = case.uniform(len, -1.0, 1.0);
        let halves: Vec<half::f16> = values.iter().map(|&v| half::f16::from_f32(v)).collect();
        let mut words = vec![0u32; ops::relu::f16_storage_words(len)];
        for (i, h) in halves.iter().enumerate() {
            words[i / 2] |= u32::from(h.to_bits()) << (16 * (i % 2));
        }
        let x = gpu().upload(&[words.len()], &words).unwrap();
        let y = poisoned(&[words.len()]);
        gpu().run([&ops::relu::forward_f16_storage(gpu(), &x, &y, len).unwrap()]).unwrap();
        let out: Vec<u32> = gpu().download(&y).unwrap();
        for (i, h) in halves.iter().enumerate() {
            let got = half::f16::from_bits((out[i / 2] >> (16 * (i % 2))) as u16);
            let want = if h.to_f32() > 0.0 { *h } else { half::f16::ZERO };
            assert_eq!(got.to_bits(), want.to_bits(), "{}: element {i} of {h}", case.context());
        }
    }
}
