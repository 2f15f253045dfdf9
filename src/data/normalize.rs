use serde::{Deserialize, Serialize};

use super::Dataset;

/// Per-channel mean and standard deviation of the training pixels scaled to [0, 1]. A batch
/// value is `(pixel / 255 - mean[c]) / std[c]`. Computed once from the training split and
/// stored in checkpoints, so evaluation and later runs normalise identically.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

/// A channel whose standard deviation is below this (a constant channel) is divided by 1
/// instead: dividing by ~0 would turn rounding noise into huge inputs.
const MIN_STD: f64 = 1e-6;

impl Normalization {
    /// Exact statistics from a 256-bin histogram per channel (one pass over the bytes, no
    /// floating-point accumulation error).
    pub fn from_dataset(dataset: &Dataset) -> Self {
        let plane = dataset.height * dataset.width;
        let mut histograms = vec![[0u64; 256]; dataset.channels];
        for image in dataset.images.chunks_exact(dataset.image_len().max(1)) {
            for (c, values) in image.chunks_exact(plane).enumerate() {
                for &v in values {
                    histograms[c][v as usize] += 1;
                }
            }
        }
        let (mut mean, mut std) = (Vec::new(), Vec::new());
        for h in &histograms {
            let n = h.iter().sum::<u64>().max(1) as f64;
            let m = h.iter().enumerate().map(|(v, &k)| v as f64 * k as f64).sum::<f64>() / n;
            let var = h.iter().enumerate().map(|(v, &k)| (v as f64 - m).powi(2) * k as f64).sum::<f64>() / n;
            let s = var.sqrt() / 255.0;
            mean.push((m / 255.0) as f32);
            std.push(if s < MIN_STD { 1.0 } else { s as f32 });
        }
        Normalization { mean, std }
    }

    /// Scaling to [0, 1] only.
    pub fn identity(channels: usize) -> Self {
        Normalization { mean: vec![0.0; channels], std: vec![1.0; channels] }
    }

    pub fn channels(&self) -> usize {
        self.mean.len()
    }

    /// The normalised value of every byte, per channel: batch assembly is one lookup per pixel.
    pub fn lookup_tables(&self) -> Vec<[f32; 256]> {
        self.mean.iter().zip(&self.std).map(|(&m, &s)| std::array::from_fn(|v| (v as f32 / 255.0 - m) / s)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{synthetic, Split};
    use super::*;

    #[test]
    fn matches_a_direct_computation() {
        let set = synthetic::generate("t", Split::Train, [3, 8, 8], 10, 40, 2);
        let norm = Normalization::from_dataset(&set);
        for c in 0..3 {
            let values: Vec<f64> = (0..set.len())
                .flat_map(|i| set.image(i)[c * 64..(c + 1) * 64].to_vec())
                .map(|v| v as f64 / 255.0)
                .collect();
            let m = values.iter().sum::<f64>() / values.len() as f64;
            let s = (values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / values.len() as f64).sqrt();
            assert!((norm.mean[c] as f64 - m).abs() < 1e-6, "channel {c}: {} vs {m}", norm.mean[c]);
            assert!((norm.std[c] as f64 - s).abs() < 1e-6, "channel {c}: {} vs {s}", norm.std[c]);
        }
    }

    #[test]
    fn constant_channel_is_not_divided_by_zero() {
        let mut set = synthetic::generate("t", Split::Train, [1, 4, 4], 2, 3, 2);
        set.images.fill(7);
        let norm = Normalization::from_dataset(&set);
        assert_eq!(norm.std, vec![1.0]);
        assert!(norm.lookup_tables()[0].iter().all(|v| v.is_finite()));
    }

    #[test]
    fn serializes_for_checkpoints() {
        let norm = Normalization { mean: vec![0.25, 0.5], std: vec![0.125, 1.0] };
        let json = serde_json::to_string(&norm).unwrap();
        assert_eq!(serde_json::from_str::<Normalization>(&json).unwrap(), norm);
    }
}
