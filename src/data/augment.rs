//! Training-time augmentation on u8 CHW images: random crop after zero padding and random
//! horizontal flip, the standard CIFAR recipe. Padding is with 0 before normalisation, as
//! torchvision's `RandomCrop(32, padding=4)` pads the raw image.

use serde::{Deserialize, Serialize};

use super::rng::SplitMix64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Augment {
    /// Pad by this many zero pixels on each side, then crop back to the original size at a
    /// random offset; 0 turns cropping off.
    pub crop_padding: usize,
    /// Mirror left-right with probability 1/2.
    pub flip: bool,
}

impl Augment {
    pub const NONE: Augment = Augment { crop_padding: 0, flip: false };
    /// 4-pixel padding and flips.
    pub const CIFAR: Augment = Augment { crop_padding: 4, flip: true };

    pub fn is_none(&self) -> bool {
        *self == Augment::NONE
    }

    /// Writes the augmented `src` into `dst` (same shape), drawing from `rng`.
    pub fn apply(&self, src: &[u8], shape: [usize; 3], rng: &mut SplitMix64, dst: &mut [u8]) {
        let p = self.crop_padding as isize;
        let (dy, dx) = if p > 0 {
            (rng.below(2 * p as usize + 1) as isize - p, rng.below(2 * p as usize + 1) as isize - p)
        } else {
            (0, 0)
        };
        shift(src, shape, dy, dx, dst);
        if self.flip && rng.coin() {
            flip_horizontal(dst, shape);
        }
    }
}

/// `dst[c][y][x] = src[c][y + dy][x + dx]`, 0 outside `src`: a crop of the zero-padded
/// image whose top-left corner is at `(dy, dx)` relative to the original.
pub fn shift(src: &[u8], [channels, height, width]: [usize; 3], dy: isize, dx: isize, dst: &mut [u8]) {
    let plane = height * width;
    for c in 0..channels {
        for y in 0..height {
            let row = &mut dst[c * plane + y * width..c * plane + (y + 1) * width];
            let sy = y as isize + dy;
            if sy < 0 || sy >= height as isize {
                row.fill(0);
                continue;
            }
            let src_row = &src[c * plane + sy as usize * width..c * plane + (sy as usize + 1) * width];
            for (x, out) in row.iter_mut().enumerate() {
                let sx = x as isize + dx;
                *out = if sx < 0 || sx >= width as isize { 0 } else { src_row[sx as usize] };
            }
        }
    }
}

/// Mirrors every row in place.
pub fn flip_horizontal(image: &mut [u8], [_, _, width]: [usize; 3]) {
    for row in image.chunks_exact_mut(width) {
        row.reverse();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(shape: [usize; 3]) -> Vec<u8> {
        (0..shape.iter().product::<usize>()).map(|i| (i % 251 + 1) as u8).collect()
    }

    #[test]
    fn flip_twice_is_identity_and_flip_mirrors() {
        let shape = [3, 5, 7];
        let original = ramp(shape);
        let mut image = original.clone();
        flip_horizontal(&mut image, shape);
        assert_ne!(image, original);
        assert_eq!(image[0], original[6]);
        assert_eq!(image[7 * 5 + 6], original[7 * 5]); // channel 1, row 0, last column
        flip_horizontal(&mut image, shape);
        assert_eq!(image, original);
    }

    #[test]
    fn crop_keeps_shape_and_shifts_content() {
        let shape = [2, 6, 8];
        let src = ramp(shape);
        let mut dst = vec![255u8; src.len()];
        shift(&src, shape, 2, -3, &mut dst);
        for c in 0..2 {
            for y in 0..6 {
                for x in 0..8 {
                    let (sy, sx) = (y as isize + 2, x as isize - 3);
                    let expected = if (0..6).contains(&sy) && (0..8).contains(&sx) {
                        src[c * 48 + sy as usize * 8 + sx as usize]
                    } else {
                        0
                    };
                    assert_eq!(dst[c * 48 + y * 8 + x], expected, "c{c} y{y} x{x}");
                }
            }
        }
        shift(&src, shape, 0, 0, &mut dst);
        assert_eq!(dst, src);
    }

    #[test]
    fn random_crop_is_seeded_and_bounded() {
        let shape = [3, 32, 32];
        let src = ramp(shape);
        let run = |seed| {
            let mut rng = SplitMix64::new(seed);
            (0..20)
                .map(|_| {
                    let mut dst = vec![0u8; src.len()];
                    Augment::CIFAR.apply(&src, shape, &mut rng, &mut dst);
                    dst
                })
                .collect::<Vec<_>>()
        };
        let (a, b) = (run(3), run(3));
        assert_eq!(a, b);
        assert!(a.iter().any(|d| d != &src), "20 draws all left the image unchanged");
        // At most 4 padded rows: every output keeps row 4..28 inside the source.
        for d in &a {
            let zeros = d.iter().filter(|&&v| v == 0).count();
            assert!(zeros <= 3 * (32 * 32 - 24 * 24), "{zeros} zero pixels");
        }
        let mut dst = vec![0u8; src.len()];
        Augment::NONE.apply(&src, shape, &mut SplitMix64::new(1), &mut dst);
        assert_eq!(dst, src);
    }
}
