//! A small seeded generator (SplitMix64) for shuffling, augmentation and synthetic data.
//!
//! Written out rather than taken from `rand` so that the sequence is fixed by this file: a
//! run resumed from a checkpoint must draw the same epoch orders and crops as the original,
//! whatever version of `rand` the build resolves.

/// SplitMix64 (Steele, Lea and Flood, 2014): 64 bits of state, passes BigCrush, and any
/// seed (0 included) gives a good stream.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.state)
    }

    /// Uniform in `0..n` (n > 0). Multiply-high mapping: the bias is below n / 2^64,
    /// far under anything a shuffle of a dataset could show.
    pub fn below(&mut self, n: usize) -> usize {
        debug_assert!(n > 0);
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    /// Uniform in `[0, 1)` with 24 bits of resolution (an f32 mantissa).
    pub fn unit_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    pub fn coin(&mut self) -> bool {
        self.next_u64() >> 63 == 1
    }

    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

/// The SplitMix64 output function: a bijective mixer of 64 bits.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A seed for a sub-stream, e.g. `derive_seed(seed, &[EPOCH_STREAM, epoch])`. Streams that
/// differ in any part get unrelated seeds; the result depends on nothing else, so epoch `e`
/// of a resumed run sees the same seed as in the original run.
pub fn derive_seed(seed: u64, parts: &[u64]) -> u64 {
    parts.iter().fold(mix(seed), |acc, &p| mix(acc ^ mix(p.wrapping_add(0x9e37_79b9_7f4a_7c15))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffle_is_a_permutation_and_seeded() {
        let mut a: Vec<usize> = (0..1000).collect();
        let mut b = a.clone();
        SplitMix64::new(7).shuffle(&mut a);
        SplitMix64::new(7).shuffle(&mut b);
        assert_eq!(a, b);
        assert_ne!(a, (0..1000).collect::<Vec<_>>());
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn derived_seeds_differ() {
        assert_ne!(derive_seed(1, &[0, 0]), derive_seed(1, &[0, 1]));
        assert_ne!(derive_seed(1, &[0, 1]), derive_seed(2, &[0, 1]));
        assert_ne!(derive_seed(1, &[1, 0]), derive_seed(1, &[0, 1]));
    }
}
