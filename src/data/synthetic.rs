//! Writers of small datasets in the exact on-disk formats the loaders read (IDX plain and
//! gzip, CIFAR-10/100 binary as a folder or the official .tar.gz, a Tiny ImageNet tree of
//! JPEGs), for tests and for training-command tests when the real files are absent.
//!
//! Images are learnable: class `k` is a sinusoidal grating whose frequencies and per-channel
//! phases depend on `k`, plus uniform noise, so a small model separates the classes.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use flate2::write::GzEncoder;
use flate2::Compression;

use super::rng::SplitMix64;
use super::{cifar, idx, DataError, Dataset, DatasetKind, Split};

/// The in-memory truth of what a writer put on disk.
#[derive(Debug, Clone)]
pub struct Generated {
    pub train: Dataset,
    pub test: Dataset,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdxCompression {
    Gzip,
    Plain,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CifarLayout {
    /// `cifar-10-batches-bin/` or `cifar-100-binary/` extracted.
    Folder,
    /// The official `cifar-10-binary.tar.gz` or `cifar-100-binary.tar.gz`.
    TarGz,
}

/// Peak deviation of the grating from mid-grey (128), leaving room for the noise.
const PATTERN_AMPLITUDE: f32 = 80.0;
/// Uniform noise added to each pixel, in `-NOISE..=NOISE`.
const NOISE: i32 = 24;

/// The coarse label the synthetic CIFAR-100 writer pairs with a fine label: 20 groups of 5.
pub fn synthetic_coarse(fine: u32) -> u32 {
    fine / 5
}

/// One image of class `k` in CHW bytes.
pub fn class_image(k: usize, [channels, height, width]: [usize; 3], rng: &mut SplitMix64) -> Vec<u8> {
    let fx = (1 + k % 4) as f32;
    let fy = ((k / 4) % 5) as f32;
    let colour = (k / 20) as f32;
    let mut out = Vec::with_capacity(channels * height * width);
    for c in 0..channels {
        // Colour groups differ in the phase between channels (group 0 is grey).
        let phase = 0.7 * c as f32 * colour;
        for y in 0..height {
            for x in 0..width {
                let t = std::f32::consts::TAU * (fx * x as f32 / width as f32 + fy * y as f32 / height as f32) + phase;
                let noise = rng.below((2 * NOISE + 1) as usize) as i32 - NOISE;
                let v = 128.0 + PATTERN_AMPLITUDE * t.sin() + noise as f32;
                out.push(v.round().clamp(0.0, 255.0) as u8);
            }
        }
    }
    out
}

/// `n` random-labelled class images.
pub fn generate(name: &str, split: Split, shape: [usize; 3], classes: usize, n: usize, seed: u64) -> Dataset {
    let mut rng = SplitMix64::new(seed);
    let mut images = Vec::with_capacity(n * shape.iter().product::<usize>());
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let k = rng.below(classes);
        labels.push(k as u32);
        images.extend(class_image(k, shape, &mut rng));
    }
    Dataset {
        name: name.to_string(),
        split,
        channels: shape[0],
        height: shape[1],
        width: shape[2],
        classes,
        images,
        labels,
    }
}

fn generate_pair(kind: DatasetKind, n_train: usize, n_test: usize, seed: u64) -> Generated {
    let (shape, classes) = kind.shape();
    Generated {
        train: generate(kind.name(), Split::Train, shape, classes, n_train, seed),
        test: generate(kind.name(), Split::Test, shape, classes, n_test, seed ^ 0x7e57),
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), DataError> {
    std::fs::write(path, bytes).map_err(|e| io_err(path, e))
}

fn io_err(path: &Path, e: std::io::Error) -> DataError {
    DataError::Io { path: path.to_path_buf(), source: e, fix: "check the directory is writable".to_string() }
}

fn create_dir(path: &Path) -> Result<(), DataError> {
    std::fs::create_dir_all(path).map_err(|e| io_err(path, e))
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(bytes).expect("writing to a Vec cannot fail");
    enc.finish().expect("writing to a Vec cannot fail")
}

/// MNIST-shaped (1x28x28, 10 classes) IDX files in `dir`, named as Debian and Zalando ship
/// them (`.gz`) or as they are once gunzipped.
pub fn write_idx_like(
    dir: &Path,
    n_train: usize,
    n_test: usize,
    seed: u64,
    compression: IdxCompression,
) -> Result<Generated, DataError> {
    create_dir(dir)?;
    let generated = generate_pair(DatasetKind::FashionMnist, n_train, n_test, seed);
    for set in [&generated.train, &generated.test] {
        let (images_name, labels_name) = idx::file_names(set.split);
        let mut images = Vec::with_capacity(16 + set.images.len());
        for word in [idx::IMAGES_MAGIC, set.len() as u32, set.height as u32, set.width as u32] {
            images.extend(word.to_be_bytes());
        }
        images.extend(&set.images);
        let mut labels = Vec::with_capacity(8 + set.len());
        for word in [idx::LABELS_MAGIC, set.len() as u32] {
            labels.extend(word.to_be_bytes());
        }
        labels.extend(set.labels.iter().map(|&l| l as u8));
        for (name, bytes) in [(images_name, images), (labels_name, labels)] {
            match compression {
                IdxCompression::Plain => write_file(&dir.join(name), &bytes)?,
                IdxCompression::Gzip => write_file(&dir.join(format!("{name}.gz")), &gzip(&bytes))?,
            }
        }
    }
    Ok(generated)
}

/// Fashion-MNIST as Debian's package installs it: four gzipped IDX files in `dir`.
pub fn write_fashion_mnist_like(dir: &Path, n_train: usize, n_test: usize, seed: u64) -> Result<Generated, DataError> {
    write_idx_like(dir, n_train, n_test, seed, IdxCompression::Gzip)
}

/// CIFAR-10 binary files in `dir`: the training images (at least 5) spread evenly and in
/// order over the five `data_batch_*.bin` files, the test images in `test_batch.bin`. The
/// loader rejects empty record files (a failed download), so ask for at least one test image.
pub fn write_cifar10_like(
    dir: &Path,
    n_train: usize,
    n_test: usize,
    seed: u64,
    layout: CifarLayout,
) -> Result<Generated, DataError> {
    let generated = generate_pair(DatasetKind::Cifar10, n_train, n_test, seed);
    let record = |set: &Dataset, i: usize| {
        let mut r = vec![set.labels[i] as u8];
        r.extend(set.image(i));
        r
    };
    let mut files = Vec::new();
    let batches = cifar::CIFAR10_TRAIN_FILES.len();
    if n_train < batches {
        return Err(DataError::Format {
            path: dir.to_path_buf(),
            detail: format!("synthetic CIFAR-10 needs at least {batches} training images, one per batch file"),
            fix: "ask for more training images".to_string(),
        });
    }
    for (b, name) in cifar::CIFAR10_TRAIN_FILES.iter().enumerate() {
        let range = b * n_train / batches..(b + 1) * n_train / batches;
        files.push((name.to_string(), range.flat_map(|i| record(&generated.train, i)).collect::<Vec<u8>>()));
    }
    files.push((cifar::CIFAR10_TEST_FILE.to_string(), (0..n_test).flat_map(|i| record(&generated.test, i)).collect()));
    files.push((
        "batches.meta.txt".to_string(),
        (0..10).map(|k| format!("class{k}\n")).collect::<String>().into_bytes(),
    ));
    write_cifar(dir, cifar::CIFAR10_FOLDER, cifar::CIFAR10_TARBALL, files, layout)?;
    Ok(generated)
}

/// CIFAR-100 binary files in `dir` (`train.bin`, `test.bin`); the coarse label of each
/// record is [`synthetic_coarse`] of its fine label. The returned datasets hold fine labels.
pub fn write_cifar100_like(
    dir: &Path,
    n_train: usize,
    n_test: usize,
    seed: u64,
    layout: CifarLayout,
) -> Result<Generated, DataError> {
    let generated = generate_pair(DatasetKind::Cifar100, n_train, n_test, seed);
    let records = |set: &Dataset| -> Vec<u8> {
        (0..set.len())
            .flat_map(|i| {
                let mut r = vec![synthetic_coarse(set.labels[i]) as u8, set.labels[i] as u8];
                r.extend(set.image(i));
                r
            })
            .collect()
    };
    let files = vec![
        (cifar::CIFAR100_TRAIN_FILE.to_string(), records(&generated.train)),
        (cifar::CIFAR100_TEST_FILE.to_string(), records(&generated.test)),
    ];
    write_cifar(dir, cifar::CIFAR100_FOLDER, cifar::CIFAR100_TARBALL, files, layout)?;
    Ok(generated)
}

fn write_cifar(
    dir: &Path,
    folder: &str,
    tarball: &str,
    files: Vec<(String, Vec<u8>)>,
    layout: CifarLayout,
) -> Result<(), DataError> {
    match layout {
        CifarLayout::Folder => {
            create_dir(&dir.join(folder))?;
            for (name, bytes) in files {
                write_file(&dir.join(folder).join(name), &bytes)?;
            }
        }
        CifarLayout::TarGz => {
            create_dir(dir)?;
            let path = dir.join(tarball);
            let file = File::create(&path).map_err(|e| io_err(&path, e))?;
            let mut builder = tar::Builder::new(GzEncoder::new(file, Compression::fast()));
            for (name, bytes) in files {
                let mut header = tar::Header::new_gnu();
                header.set_size(bytes.len() as u64);
                header.set_mode(0o644);
                header.set_cksum();
                builder
                    .append_data(&mut header, format!("{folder}/{name}"), &bytes[..])
                    .map_err(|e| io_err(&path, e))?;
            }
            let encoder = builder.into_inner().map_err(|e| io_err(&path, e))?;
            encoder.finish().map_err(|e| io_err(&path, e))?;
        }
    }
    Ok(())
}

/// JPEG quality of the synthetic Tiny ImageNet: high, so loaded pixels stay close to the
/// generated ones (tests compare them with a tolerance).
const JPEG_QUALITY: u8 = 95;

/// A `tiny-imagenet-200/` tree in `dir` with `classes` classes (wnids `n00000000`, ...),
/// `train_per_class` and `val_per_class` 64x64 JPEGs each, and `val/val_annotations.txt`.
/// The first training image of class 0 is written as a grayscale JPEG, as some real ones are;
/// its generated truth is that grey in all three channels.
pub fn write_tiny_imagenet_like(
    dir: &Path,
    classes: usize,
    train_per_class: usize,
    val_per_class: usize,
    seed: u64,
) -> Result<Generated, DataError> {
    let root = dir.join(super::tiny_imagenet::FOLDER);
    let shape = [3, 64, 64];
    let wnids: Vec<String> = (0..classes).map(|k| format!("n{k:08}")).collect();
    let mut rng = SplitMix64::new(seed);
    let empty = |split| Dataset {
        name: DatasetKind::TinyImageNet.name().to_string(),
        split,
        channels: 3,
        height: 64,
        width: 64,
        classes,
        images: Vec::new(),
        labels: Vec::new(),
    };
    let (mut train, mut test) = (empty(Split::Train), empty(Split::Test));

    create_dir(&root)?;
    write_file(&root.join("wnids.txt"), wnids.iter().map(|w| format!("{w}\n")).collect::<String>().as_bytes())?;
    for (k, wnid) in wnids.iter().enumerate() {
        let images_dir = root.join("train").join(wnid).join("images");
        create_dir(&images_dir)?;
        for i in 0..train_per_class {
            let mut pixels = class_image(k, shape, &mut rng);
            let grey = k == 0 && i == 0;
            if grey {
                let plane = pixels[..64 * 64].to_vec();
                pixels = plane.repeat(3);
            }
            write_jpeg(&images_dir.join(format!("{wnid}_{i}.JPEG")), &pixels, grey)?;
            train.images.extend(&pixels);
            train.labels.push(k as u32);
        }
    }
    let val_images = root.join("val").join("images");
    create_dir(&val_images)?;
    let mut annotations = String::new();
    for i in 0..classes * val_per_class {
        let k = rng.below(classes);
        let pixels = class_image(k, shape, &mut rng);
        let name = format!("val_{i}.JPEG");
        write_jpeg(&val_images.join(&name), &pixels, false)?;
        // The real file also gives a bounding box: x0, y0, x1, y1.
        annotations.push_str(&format!("{name}\t{}\t0\t0\t63\t63\n", wnids[k]));
        test.images.extend(&pixels);
        test.labels.push(k as u32);
    }
    write_file(&root.join("val").join("val_annotations.txt"), annotations.as_bytes())?;
    Ok(Generated { train, test })
}

/// Writes CHW pixels (3x64x64) as a JPEG, RGB or (if `grey`) one channel.
fn write_jpeg(path: &Path, chw: &[u8], grey: bool) -> Result<(), DataError> {
    let plane = chw.len() / 3;
    let file = File::create(path).map_err(|e| io_err(path, e))?;
    let mut encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(std::io::BufWriter::new(file), JPEG_QUALITY);
    let result = if grey {
        encoder.encode(&chw[..plane], 64, 64, image::ExtendedColorType::L8)
    } else {
        let hwc: Vec<u8> = (0..plane).flat_map(|p| [chw[p], chw[plane + p], chw[2 * plane + p]]).collect();
        encoder.encode(&hwc, 64, 64, image::ExtendedColorType::Rgb8)
    };
    result.map_err(|e| io_err(path, std::io::Error::other(e)))
}

/// A scratch folder holding Fashion-MNIST-format files in `fashion-mnist/` (for tests),
/// and that folder.
pub fn fashion_mnist_scratch(tag: &str, n_train: usize, n_test: usize, seed: u64) -> (ScratchDir, PathBuf) {
    let scratch = ScratchDir::new(tag);
    let data = scratch.path().join("fashion-mnist");
    write_fashion_mnist_like(&data, n_train, n_test, seed).unwrap_or_else(|e| panic!("{}: {e}", data.display()));
    (scratch, data)
}

/// A fresh directory under the system temp dir, removed (with its contents) on drop.
#[derive(Debug)]
pub struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    /// Panics if the directory cannot be created: meant for tests.
    pub fn new(tag: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let name = format!("sturdy-{tag}-{}-{}-{nanos}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        ScratchDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Test accuracy of a nearest-class-mean classifier fitted on the training split.
    fn nearest_mean_accuracy(g: &Generated) -> f64 {
        let (n, k) = (g.train.image_len(), g.train.classes);
        let mut sums = vec![vec![0f64; n]; k];
        for (i, &l) in g.train.labels.iter().enumerate() {
            for (s, &v) in sums[l as usize].iter_mut().zip(g.train.image(i)) {
                *s += v as f64;
            }
        }
        let counts = g.train.class_counts();
        let correct = (0..g.test.len())
            .filter(|&i| {
                let distance = |c: usize| -> f64 {
                    let m = counts[c].max(1) as f64;
                    sums[c].iter().zip(g.test.image(i)).map(|(s, &v)| (s / m - v as f64).powi(2)).sum()
                };
                let best = (0..k).min_by(|&a, &b| distance(a).total_cmp(&distance(b))).unwrap();
                best as u32 == g.test.labels[i]
            })
            .count();
        correct as f64 / g.test.len() as f64
    }

    #[test]
    fn generated_classes_are_learnable() {
        for (kind, n_train) in
            [(DatasetKind::FashionMnist, 500), (DatasetKind::Cifar10, 500), (DatasetKind::Cifar100, 3000)]
        {
            let g = generate_pair(kind, n_train, 200, 1);
            assert!(g.train.class_counts().iter().all(|&c| c > 0), "{kind}: a class never drawn");
            let accuracy = nearest_mean_accuracy(&g);
            assert!(accuracy > 0.95, "{kind}: nearest-mean accuracy {accuracy}");
        }
    }

    #[test]
    fn same_seed_same_files_content() {
        let a = generate_pair(DatasetKind::Cifar100, 20, 5, 8);
        let b = generate_pair(DatasetKind::Cifar100, 20, 5, 8);
        assert_eq!((&a.train, &a.test), (&b.train, &b.test));
        assert_ne!(generate_pair(DatasetKind::Cifar100, 20, 5, 9).train, b.train);
    }
}
