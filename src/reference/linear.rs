//! y = x W^T + b with x [N, in], W [out, in], b [out], row-major.

pub fn forward(x: &[f64], w: &[f64], b: &[f64], in_features: usize) -> Vec<f64> {
    let out_features = b.len();
    x.chunks(in_features)
        .flat_map(|x_row| (0..out_features).map(move |o| b[o] + dot(x_row, &w[o * in_features..][..in_features])))
        .collect()
}

/// dx[n, i] = sum_o dy[n, o] w[o, i].
pub fn backward_input(w: &[f64], dy: &[f64], in_features: usize) -> Vec<f64> {
    let out_features = w.len() / in_features;
    dy.chunks(out_features)
        .flat_map(|dy_row| {
            (0..in_features).map(move |i| (0..out_features).map(|o| dy_row[o] * w[o * in_features + i]).sum())
        })
        .collect()
}

/// dw[o, i] = sum_n dy[n, o] x[n, i].
pub fn backward_weight(x: &[f64], dy: &[f64], in_features: usize, out_features: usize) -> Vec<f64> {
    let batch = x.len() / in_features;
    let mut dw = vec![0.0; out_features * in_features];
    for n in 0..batch {
        for o in 0..out_features {
            for i in 0..in_features {
                dw[o * in_features + i] += dy[n * out_features + o] * x[n * in_features + i];
            }
        }
    }
    dw
}

/// db[o] = sum_n dy[n, o].
pub fn backward_bias(dy: &[f64], out_features: usize) -> Vec<f64> {
    (0..out_features).map(|o| dy.iter().skip(o).step_by(out_features).sum()).collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
