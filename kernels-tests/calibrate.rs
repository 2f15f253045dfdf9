//! The running max |x| of calibration, against its reference.

use rand::Rng;
use sturdy::ops::calibrate as op;
use sturdy::reference::calibrate as reference;

use crate::harness::*;

/// A site other than the first, so that indexing is tested.
const SITE: u32 = 1;

/// Running max |x| with odd sizes, including more elements than the capped grid covers
/// in one pass (1024 workgroups of 64), and a running value that already exceeds the batch.
#[test]
fn running_max_abs_is_exact_for_odd_sizes() {
    for len in [1, 63, 65, 1000 + 7, 200_003] {
        let mut case = Case::new(format!("running max |x| {len}"));
        let (x, x_ref) = case.tensor(&[len], -3.0, 3.0);
        let start: Vec<f32> = vec![case.rng.random_range(0.0..1.0), 0.0, case.rng.random_range(0.0..5.0)];
        let max_abs = gpu().upload(&[3], &start).unwrap();
        let dispatch = op::running_max_abs(gpu(), SITE, &x, &max_abs).unwrap();
        let got = run_and_read(&[&dispatch], &max_abs);
        let expected = reference::running_max_abs(0.0, &x_ref);
        assert_eq!(got[SITE as usize], expected, "{}", case.context());
        assert_eq!(got[0], start[0] as f64, "{}: other sites untouched", case.context());
        assert_eq!(got[2], start[2] as f64, "{}: other sites untouched", case.context());
        // A second, smaller batch leaves the running max in place; a larger one raises it.
        let small = gpu().upload(&[len], &vec![0.5f32; len]).unwrap();
        let large = gpu().upload(&[len], &vec![-7.25f32; len]).unwrap();
        let keep = op::running_max_abs(gpu(), SITE, &small, &max_abs).unwrap();
        assert_eq!(run_and_read(&[&keep], &max_abs)[SITE as usize], expected.max(0.5), "{}", case.context());
        let raise = op::running_max_abs(gpu(), SITE, &large, &max_abs).unwrap();
        assert_eq!(run_and_read(&[&raise], &max_abs)[SITE as usize], 7.25, "{}", case.context());
    }
}

#[test]
fn running_max_abs_propagates_nan() {
    let mut values = vec![1.0f32; 130];
    values[77] = f32::NAN;
    let x = gpu().upload(&[130], &values).unwrap();
    let max_abs = gpu().zeros(&[1]).unwrap();
    let dispatch = op::running_max_abs(gpu(), 0, &x, &max_abs).unwrap();
    assert!(run_and_read(&[&dispatch], &max_abs)[0].is_nan());
}

#[test]
fn a_site_outside_the_table_is_rejected() {
    let x = gpu().zeros(&[4, 5]).unwrap();
    let bound = gpu().zeros(&[2]).unwrap();
    let message = |r: sturdy::gpu::Result<sturdy::gpu::Dispatch>| r.err().expect("must fail").to_string();
    assert!(message(op::running_max_abs(gpu(), 2, &x, &bound)).contains("max_abs"));
}
