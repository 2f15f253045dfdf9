use sturdy::{ops, reference};

use crate::harness::*;

/// Odd lengths take the scalar kernel; 72 and 300 (multiples of 4, 300 not of the
/// workgroup's 64 x 4) its vec4 form.
const SHAPES: [&[usize]; 5] = [&[1], &[5, 3, 7, 5], &[129], &[2, 4, 3, 3], &[300]];

#[test]
fn forward_matches_reference() {
    for shape in SHAPES.map(|s| s.to_vec()) {
        let mut case = Case::new(format!("add {shape:?}"));
        let (a, a_ref) = case.tensor(&shape, -1.0, 1.0);
        let (b, b_ref) = case.tensor(&shape, -1.0, 1.0);
        let out = poisoned(&shape);
        let add = ops::add::forward(gpu(), &a, &b, &out).unwrap();
        // One f32 addition: one rounding per element.
        assert_close(
            &case,
            "out",
            &run_and_read(&[&add], &out),
            &reference::add::forward(&a_ref, &b_ref),
            F32_UNIT_ROUNDOFF,
        );
    }
}
