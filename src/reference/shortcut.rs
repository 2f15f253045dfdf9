//! The option-A residual shortcut in f64 (`ops::shortcut`). `dims` is the input's
//! `[N, C, H, W]`, `out_channels` the output's C'.

use crate::ops::shortcut::channels_before;

/// y[n, o, i, j] = x[n, o - before, 2i, 2j] where that channel exists, else 0.
pub fn forward(dims: [usize; 4], out_channels: usize, x: &[f64]) -> Vec<f64> {
    let [n, c, h, w] = dims;
    let before = channels_before(c, out_channels);
    let mut y = Vec::new();
    for image in 0..n {
        for o in 0..out_channels {
            for row in (0..h).step_by(2) {
                for col in (0..w).step_by(2) {
                    let value = match o.checked_sub(before).filter(|&channel| channel < c) {
                        Some(channel) => x[((image * c + channel) * h + row) * w + col],
                        None => 0.0,
                    };
                    y.push(value);
                }
            }
        }
    }
    y
}

/// dx = dy at the subsampled positions of x, 0 elsewhere.
pub fn backward(dims: [usize; 4], out_channels: usize, dy: &[f64]) -> Vec<f64> {
    let [n, c, h, w] = dims;
    let before = channels_before(c, out_channels);
    let (out_h, out_w) = (h.div_ceil(2), w.div_ceil(2));
    let mut dx = vec![0.0; n * c * h * w];
    for image in 0..n {
        for channel in 0..c {
            for row in (0..h).step_by(2) {
                for col in (0..w).step_by(2) {
                    let o = ((image * out_channels + channel + before) * out_h + row / 2) * out_w + col / 2;
                    dx[((image * c + channel) * h + row) * w + col] = dy[o];
                }
            }
        }
    }
    dx
}
