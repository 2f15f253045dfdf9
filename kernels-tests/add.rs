use sturdy::{ops, reference};

use crate::harness::*;

#[test]
fn forward_matches_reference() {
    for shape in [vec![1], vec![5, 3, 7, 5], vec![129]] {
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
