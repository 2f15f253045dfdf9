//! Bounds B from the max |x| that calibration ([`super::sites::Pann::calibrate`]) measured.

/// B = margin x the max |x| seen on training images. Measured (README, "Choosing the
/// margin"): on the quick study's vanilla small CNN, 2,000 held-out test images reach
/// 1.056 times the training maxima; margin 1.0 lets 4 to 8 of them overflow at alpha >= 7
/// (0.15 to 0.3 points of no-clamp accuracy), 1.1 none, while 1.2 already costs 0.5
/// points at alpha 7 and 1.5 a whole alpha (the cheapest within a point goes from 7 to 8).
pub const DEFAULT_MARGIN: f64 = 1.1;

/// Bounds B per site: `margin` times the measured max |x|, each site its own
/// (`per_site`) or all at the largest. Zero maxima (dead sites) get the smallest
/// positive bound so the kernel never divides by zero.
pub fn bounds(max_abs: &[f32], margin: f64, per_site: bool) -> Vec<f32> {
    let global = max_abs.iter().fold(0.0f32, |a, &b| a.max(b));
    max_abs
        .iter()
        .map(|&m| ((if per_site { m } else { global }) as f64 * margin) as f32)
        .map(|b| b.max(f32::MIN_POSITIVE))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_bounds_take_the_largest_site_and_the_margin() {
        assert_eq!(bounds(&[1.0, 4.0, 2.0], 1.5, false), vec![6.0; 3]);
        assert_eq!(bounds(&[1.0, 4.0, 0.0], 2.0, true), vec![2.0, 8.0, f32::MIN_POSITIVE]);
    }
}
