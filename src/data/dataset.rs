use std::fmt;

/// Which part of a dataset. Tiny ImageNet's labelled held-out part is its `val/` folder
/// (its `test/` images have no labels), so `Test` reads `val/` there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    Train,
    Test,
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Split::Train => "train",
            Split::Test => "test",
        })
    }
}

/// One split of a dataset, in memory. Pixels stay u8 (a quarter of the memory of f32) in
/// NCHW order: image `i` is `channels` planes of `height * width` bytes. They become f32 and
/// are normalised when a batch is assembled.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// e.g. "fashion-mnist"; checkpoints record it.
    pub name: String,
    pub split: Split,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub classes: usize,
    /// `len() * channels * height * width` bytes.
    pub images: Vec<u8>,
    /// One label per image, each `< classes`.
    pub labels: Vec<u32>,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Bytes (values) per image: `channels * height * width`.
    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// `[channels, height, width]`.
    pub fn shape(&self) -> [usize; 3] {
        [self.channels, self.height, self.width]
    }

    /// Image `i` as CHW bytes.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.image_len();
        &self.images[i * n..(i + 1) * n]
    }

    /// The first `n` items (all of them if there are fewer), for quick runs.
    pub fn truncated(mut self, n: usize) -> Dataset {
        let n = n.min(self.len());
        self.images.truncate(n * self.image_len());
        self.labels.truncate(n);
        self
    }

    /// The last `n` items (all of them if there are fewer): a held-out split of a
    /// training set whose first items calibrate.
    pub fn last(&self, n: usize) -> Dataset {
        let start = self.len() - n.min(self.len());
        Dataset {
            images: self.images[start * self.image_len()..].to_vec(),
            labels: self.labels[start..].to_vec(),
            name: self.name.clone(),
            ..*self
        }
    }

    /// How many images carry each label.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes];
        for &l in &self.labels {
            if let Some(c) = counts.get_mut(l as usize) {
                *c += 1;
            }
        }
        counts
    }
}
