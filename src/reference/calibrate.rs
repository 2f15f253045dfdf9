//! The running max |x| of calibration.

/// max(running, max |x|); NaN if any x is NaN.
pub fn running_max_abs(running: f64, x: &[f64]) -> f64 {
    x.iter().fold(running, |m, &v| if m.is_nan() || v.is_nan() { f64::NAN } else { m.max(v.abs()) })
}
