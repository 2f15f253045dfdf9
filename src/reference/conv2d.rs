//! 2-D convolution, NCHW, as nested loops over the definition
//! y[n,o,oh,ow] = b[o] + sum_{c,kh,kw} w[o,c,kh,kw] * x[n,c,oh*S+kh-P, ow*S+kw-P].

use crate::ops::conv2d::Conv2dShape;

/// Calls `f(x_index, w_index, y_index)` for every (input, weight, output) triple that
/// meets in the sum above, skipping taps that land in the zero padding.
fn for_each_tap(s: &Conv2dShape, mut f: impl FnMut(usize, usize, usize)) {
    let (oh_len, ow_len) = (s.output_height(), s.output_width());
    for n in 0..s.batch {
        for o in 0..s.out_channels {
            for oh in 0..oh_len {
                for ow in 0..ow_len {
                    let y_index = ((n * s.out_channels + o) * oh_len + oh) * ow_len + ow;
                    for c in 0..s.in_channels {
                        for kh in 0..s.kernel {
                            for kw in 0..s.kernel {
                                let ih = (oh * s.stride + kh).checked_sub(s.padding).filter(|&i| i < s.height);
                                let iw = (ow * s.stride + kw).checked_sub(s.padding).filter(|&i| i < s.width);
                                if let (Some(ih), Some(iw)) = (ih, iw) {
                                    let x_index = ((n * s.in_channels + c) * s.height + ih) * s.width + iw;
                                    let w_index = ((o * s.in_channels + c) * s.kernel + kh) * s.kernel + kw;
                                    f(x_index, w_index, y_index);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn output_len(s: &Conv2dShape) -> usize {
    s.output_shape().iter().product()
}

pub fn forward(s: &Conv2dShape, x: &[f64], w: &[f64], b: Option<&[f64]>) -> Vec<f64> {
    let plane = s.output_height() * s.output_width();
    let mut y: Vec<f64> = (0..output_len(s)).map(|i| b.map_or(0.0, |b| b[(i / plane) % s.out_channels])).collect();
    for_each_tap(s, |xi, wi, yi| y[yi] += w[wi] * x[xi]);
    y
}

pub fn backward_input(s: &Conv2dShape, w: &[f64], dy: &[f64]) -> Vec<f64> {
    let mut dx = vec![0.0; s.input_shape().iter().product()];
    for_each_tap(s, |xi, wi, yi| dx[xi] += w[wi] * dy[yi]);
    dx
}

pub fn backward_weight(s: &Conv2dShape, x: &[f64], dy: &[f64]) -> Vec<f64> {
    let mut dw = vec![0.0; s.weight_shape().iter().product()];
    for_each_tap(s, |xi, wi, yi| dw[wi] += x[xi] * dy[yi]);
    dw
}

pub fn backward_bias(s: &Conv2dShape, dy: &[f64]) -> Vec<f64> {
    let plane = s.output_height() * s.output_width();
    let mut db = vec![0.0; s.out_channels];
    for (i, g) in dy.iter().enumerate() {
        db[(i / plane) % s.out_channels] += g;
    }
    db
}
