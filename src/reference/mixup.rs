//! Mixup on the CPU in f64, on row-major [N, row_len] data.

/// out[n] = lambda x[n] + (1 - lambda) x[perm[n]] for rows of `row_len` elements.
pub fn mix(x: &[f64], row_len: usize, perm: &[u32], lambda: f64) -> Vec<f64> {
    let mut out = Vec::with_capacity(x.len());
    for (n, &p) in perm.iter().enumerate() {
        let (row, other) = (&x[n * row_len..(n + 1) * row_len], &x[p as usize * row_len..(p as usize + 1) * row_len]);
        out.extend(row.iter().zip(other).map(|(a, b)| lambda * a + (1.0 - lambda) * b));
    }
    out
}
