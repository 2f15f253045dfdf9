//! Pooling over NCHW, in f64. `dims` is the input's `[N, C, H, W]`.

/// y[n, c] = mean of x[n, c, :, :].
pub fn global_average_forward(dims: [usize; 4], x: &[f64]) -> Vec<f64> {
    let [n, c, h, w] = dims;
    x.chunks(h * w).take(n * c).map(|plane| plane.iter().sum::<f64>() / (h * w) as f64).collect()
}

/// dx[n, c, h, w] = dy[n, c] / (H*W).
pub fn global_average_backward(dims: [usize; 4], dy: &[f64]) -> Vec<f64> {
    let [_, _, h, w] = dims;
    dy.iter().flat_map(|&g| std::iter::repeat_n(g / (h * w) as f64, h * w)).collect()
}

/// 2x2 stride-2 max pooling (floor on odd sizes): the maxima and, for each, the flat index
/// into x of the first maximum in row-major window order.
pub fn max_pool_forward(dims: [usize; 4], x: &[f64]) -> (Vec<f64>, Vec<usize>) {
    let [n, c, h, w] = dims;
    let mut argmax = Vec::new();
    for p in 0..n * c {
        for row in 0..h / 2 {
            for col in 0..w / 2 {
                let window =
                    [(0, 0), (0, 1), (1, 0), (1, 1)].map(|(dr, dc)| p * h * w + (2 * row + dr) * w + 2 * col + dc);
                let best = window.into_iter().reduce(|best, i| if x[i] > x[best] { i } else { best }).unwrap();
                argmax.push(best);
            }
        }
    }
    (argmax.iter().map(|&i| x[i]).collect(), argmax)
}

/// dx = dy at each window's (first) maximum of x, 0 elsewhere.
pub fn max_pool_backward(dims: [usize; 4], x: &[f64], dy: &[f64]) -> Vec<f64> {
    let (_, argmax) = max_pool_forward(dims, x);
    let mut dx = vec![0.0; x.len()];
    for (&i, &g) in argmax.iter().zip(dy) {
        dx[i] = g;
    }
    dx
}
