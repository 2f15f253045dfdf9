//! The IDX format of MNIST and Fashion-MNIST: a big-endian header (magic, then one u32 per
//! dimension) followed by raw u8 values. Each file may be plain or gzip-compressed.

use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

use super::{DataError, Dataset, DatasetKind, Split};

/// Magic of an IDX file of unsigned bytes with 3 dimensions (images: count, rows, columns).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic of an IDX file of unsigned bytes with 1 dimension (labels: count).
pub const LABELS_MAGIC: u32 = 0x0000_0801;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// MNIST and Fashion-MNIST both have ten classes.
const CLASSES: usize = 10;

/// The base file names (without `.gz`) of one split: images, labels.
pub fn file_names(split: Split) -> (&'static str, &'static str) {
    match split {
        Split::Train => ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
        Split::Test => ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
    }
}

/// Reads one split of MNIST or Fashion-MNIST from `dir`.
pub fn load(kind: DatasetKind, dir: &Path, split: Split) -> Result<Dataset, DataError> {
    let fix = kind.fetch_hint(dir);
    let (images_name, labels_name) = file_names(split);
    let images_path = locate(dir, images_name, &fix)?;
    let labels_path = locate(dir, labels_name, &fix)?;

    let image_bytes = read_maybe_gz(&images_path, &fix)?;
    let (count, height, width) = parse_images_header(&images_path, &image_bytes, &fix)?;
    let [_, expected_height, expected_width] = kind.shape().0;
    if (height, width) != (expected_height, expected_width) {
        return Err(DataError::Format {
            path: images_path,
            detail: format!("images are {height}x{width}, expected {expected_height}x{expected_width} for {kind}"),
            fix,
        });
    }
    let label_bytes = read_maybe_gz(&labels_path, &fix)?;
    let labels = parse_labels(&labels_path, &label_bytes, CLASSES, &fix)?;
    if labels.len() != count {
        return Err(DataError::CountMismatch { images_path, images: count, labels_path, labels: labels.len(), fix });
    }
    let mut images = image_bytes;
    images.drain(..16);
    Ok(Dataset { name: kind.name().to_string(), split, channels: 1, height, width, classes: CLASSES, images, labels })
}

/// `dir/name` or `dir/name.gz`, whichever exists.
fn locate(dir: &Path, name: &str, fix: &str) -> Result<PathBuf, DataError> {
    let plain = dir.join(name);
    let gz = dir.join(format!("{name}.gz"));
    if plain.is_file() {
        return Ok(plain);
    }
    if gz.is_file() {
        return Ok(gz);
    }
    Err(DataError::Missing { path: gz, expected: format!("{name} or {name}.gz, an IDX file"), fix: fix.to_string() })
}

/// The file's bytes, gunzipped if they start with the gzip magic (whatever the name says).
///
/// A gzip stream is decompressed only as far as its IDX header accounts for, plus one byte
/// (so that trailing data is still reported): neither a header claiming 2^31 images nor a
/// gzip bomb makes this hold more than the smaller of the claim and the real contents.
pub fn read_maybe_gz(path: &Path, fix: &str) -> Result<Vec<u8>, DataError> {
    let raw = std::fs::read(path).map_err(|e| DataError::io(path, e, "an IDX file", fix))?;
    if !raw.starts_with(&GZIP_MAGIC) {
        return Ok(raw);
    }
    let io = |e| DataError::io(path, e, "a gzip stream", fix);
    let mut decoder = MultiGzDecoder::new(&raw[..]);
    // The magic, whose last byte is the number of dimensions, then one u32 per dimension.
    let mut out = Vec::new();
    (&mut decoder).take(4).read_to_end(&mut out).map_err(io)?;
    let dims = out.get(3).map_or(0, |&d| d as u64);
    (&mut decoder).take(4 * dims).read_to_end(&mut out).map_err(io)?;
    // One byte per element: the product of the dimensions.
    let elements = (1..out.len() / 4).map(|w| header_u32(&out, w) as u64).fold(1, u64::saturating_mul);
    decoder.take(elements.saturating_add(1)).read_to_end(&mut out).map_err(io)?;
    Ok(out)
}

fn header_u32(bytes: &[u8], word: usize) -> u32 {
    u32::from_be_bytes(bytes[word * 4..word * 4 + 4].try_into().expect("4 bytes"))
}

/// Checks an images file and returns (count, rows, columns). The pixels follow 16 bytes in.
fn parse_images_header(path: &Path, bytes: &[u8], fix: &str) -> Result<(usize, usize, usize), DataError> {
    check_magic(path, bytes, IMAGES_MAGIC, "IDX images: unsigned bytes, 3 dimensions", fix)?;
    if bytes.len() < 16 {
        return Err(truncated(path, 16, bytes.len(), fix));
    }
    let (n, rows, cols) = (header_u32(bytes, 1) as usize, header_u32(bytes, 2) as usize, header_u32(bytes, 3) as usize);
    if rows == 0 || cols == 0 {
        return Err(DataError::Format {
            path: path.to_path_buf(),
            detail: format!("image size {rows}x{cols}, expected non-zero dimensions"),
            fix: fix.to_string(),
        });
    }
    let expected = n.checked_mul(rows * cols).and_then(|p| p.checked_add(16)).ok_or_else(|| DataError::Format {
        path: path.to_path_buf(),
        detail: format!("header claims {n} images of {rows}x{cols}, more than memory can hold"),
        fix: fix.to_string(),
    })?;
    check_length(path, bytes.len(), expected, fix)?;
    Ok((n, rows, cols))
}

/// Checks a labels file and returns its labels, each `< classes`.
fn parse_labels(path: &Path, bytes: &[u8], classes: usize, fix: &str) -> Result<Vec<u32>, DataError> {
    check_magic(path, bytes, LABELS_MAGIC, "IDX labels: unsigned bytes, 1 dimension", fix)?;
    if bytes.len() < 8 {
        return Err(truncated(path, 8, bytes.len(), fix));
    }
    let n = header_u32(bytes, 1) as usize;
    check_length(path, bytes.len(), n + 8, fix)?;
    let labels: Vec<u32> = bytes[8..].iter().map(|&b| b as u32).collect();
    if let Some((index, &label)) = labels.iter().enumerate().find(|(_, &l)| l as usize >= classes) {
        return Err(DataError::LabelOutOfRange {
            path: path.to_path_buf(),
            index,
            label,
            classes,
            fix: fix.to_string(),
        });
    }
    Ok(labels)
}

fn check_magic(path: &Path, bytes: &[u8], expected: u32, what: &str, fix: &str) -> Result<(), DataError> {
    if bytes.len() < 4 {
        return Err(truncated(path, 4, bytes.len(), fix));
    }
    let found = header_u32(bytes, 0);
    if found != expected {
        return Err(DataError::BadMagic {
            path: path.to_path_buf(),
            expected,
            found,
            what: what.to_string(),
            fix: fix.to_string(),
        });
    }
    Ok(())
}

fn check_length(path: &Path, found: usize, expected: usize, fix: &str) -> Result<(), DataError> {
    if found < expected {
        return Err(truncated(path, expected, found, fix));
    }
    if found > expected {
        return Err(DataError::Format {
            path: path.to_path_buf(),
            detail: format!("{} bytes after the {expected} the header accounts for", found - expected),
            fix: fix.to_string(),
        });
    }
    Ok(())
}

fn truncated(path: &Path, expected: usize, found: usize, fix: &str) -> DataError {
    DataError::Truncated {
        path: path.to_path_buf(),
        expected: expected as u64,
        found: found as u64,
        fix: fix.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::synthetic::{self, IdxCompression, ScratchDir};
    use super::*;

    fn write(dir: &Path, compression: IdxCompression) -> synthetic::Generated {
        synthetic::write_idx_like(dir, 50, 20, 3, compression).unwrap()
    }

    #[test]
    fn round_trip_gzip_and_plain() {
        for compression in [IdxCompression::Gzip, IdxCompression::Plain] {
            let scratch = ScratchDir::new("idx-rt");
            let generated = write(scratch.path(), compression);
            let train = load(DatasetKind::FashionMnist, scratch.path(), Split::Train).unwrap();
            let test = load(DatasetKind::FashionMnist, scratch.path(), Split::Test).unwrap();
            assert_eq!(train, generated.train);
            assert_eq!(test, generated.test);
            assert_eq!((train.len(), test.len(), train.shape(), train.classes), (50, 20, [1, 28, 28], 10));
        }
    }

    #[test]
    fn gzip_detected_by_magic_not_name() {
        let scratch = ScratchDir::new("idx-magic");
        let generated = write(scratch.path(), IdxCompression::Gzip);
        for (a, b) in [
            ("train-images-idx3-ubyte.gz", "train-images-idx3-ubyte"),
            ("train-labels-idx1-ubyte.gz", "train-labels-idx1-ubyte"),
        ] {
            std::fs::rename(scratch.path().join(a), scratch.path().join(b)).unwrap();
        }
        assert_eq!(load(DatasetKind::Mnist, scratch.path(), Split::Train).unwrap().images, generated.train.images);
    }

    #[test]
    fn truncated_file_is_an_error() {
        let scratch = ScratchDir::new("idx-trunc");
        write(scratch.path(), IdxCompression::Plain);
        let path = scratch.path().join("train-images-idx3-ubyte");
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
        match load(DatasetKind::FashionMnist, scratch.path(), Split::Train) {
            Err(DataError::Truncated { path: p, expected, found, .. }) => {
                assert_eq!(p, path);
                assert_eq!(expected, bytes.len() as u64);
                assert_eq!(found, bytes.len() as u64 - 100);
            }
            other => panic!("expected a truncation error, got {other:?}"),
        }
        // A gzip stream cut short is an error too, not a panic or a short dataset.
        let scratch = ScratchDir::new("idx-trunc-gz");
        write(scratch.path(), IdxCompression::Gzip);
        let path = scratch.path().join("t10k-images-idx3-ubyte.gz");
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let err = load(DatasetKind::FashionMnist, scratch.path(), Split::Test).unwrap_err();
        assert!(err.to_string().contains("t10k-images-idx3-ubyte.gz"), "{err}");
    }

    #[test]
    fn wrong_magic_is_an_error() {
        let scratch = ScratchDir::new("idx-badmagic");
        write(scratch.path(), IdxCompression::Plain);
        // Swap the roles: a labels file where the images file should be.
        let images = scratch.path().join("train-images-idx3-ubyte");
        std::fs::copy(scratch.path().join("train-labels-idx1-ubyte"), &images).unwrap();
        match load(DatasetKind::FashionMnist, scratch.path(), Split::Train) {
            Err(DataError::BadMagic { path, expected, found, .. }) => {
                assert_eq!((path, expected, found), (images, IMAGES_MAGIC, LABELS_MAGIC));
            }
            other => panic!("expected a magic error, got {other:?}"),
        }
    }

    #[test]
    fn label_out_of_range_is_an_error() {
        let scratch = ScratchDir::new("idx-label");
        write(scratch.path(), IdxCompression::Plain);
        let path = scratch.path().join("t10k-labels-idx1-ubyte");
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[8 + 7] = 10;
        std::fs::write(&path, &bytes).unwrap();
        match load(DatasetKind::FashionMnist, scratch.path(), Split::Test) {
            Err(DataError::LabelOutOfRange { index, label, classes, .. }) => {
                assert_eq!((index, label, classes), (7, 10, 10))
            }
            other => panic!("expected a label error, got {other:?}"),
        }
    }

    #[test]
    fn wrong_image_size_is_an_error() {
        let scratch = ScratchDir::new("idx-size");
        write(scratch.path(), IdxCompression::Plain);
        // 14x56 holds as many bytes as 28x28: only the dimension check can catch it.
        let path = scratch.path().join("t10k-images-idx3-ubyte");
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[8..16].copy_from_slice(&[0, 0, 0, 14, 0, 0, 0, 56]);
        std::fs::write(&path, &bytes).unwrap();
        let msg = load(DatasetKind::Mnist, scratch.path(), Split::Test).unwrap_err().to_string();
        assert!(msg.contains("14x56") && msg.contains("28x28") && msg.contains("t10k-images-idx3-ubyte"), "{msg}");
    }

    #[test]
    fn count_mismatch_is_an_error() {
        let scratch = ScratchDir::new("idx-count");
        write(scratch.path(), IdxCompression::Plain);
        // Train labels (50) beside test images (20).
        std::fs::copy(scratch.path().join("train-labels-idx1-ubyte"), scratch.path().join("t10k-labels-idx1-ubyte"))
            .unwrap();
        match load(DatasetKind::FashionMnist, scratch.path(), Split::Test) {
            Err(DataError::CountMismatch { images, labels, .. }) => assert_eq!((images, labels), (20, 50)),
            other => panic!("expected a count mismatch, got {other:?}"),
        }
    }

    #[test]
    fn missing_file_names_the_file_and_the_fix() {
        let scratch = ScratchDir::new("idx-missing");
        let err = load(DatasetKind::FashionMnist, scratch.path(), Split::Train).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, DataError::Missing { .. }));
        assert!(msg.contains("train-images-idx3-ubyte"), "{msg}");
        assert!(msg.contains("datasets/fetch"), "{msg}");
    }

    #[test]
    fn real_fashion_mnist_when_installed() {
        let dir = Path::new(super::super::kind::DEBIAN_FASHION_MNIST_DIR);
        if !dir.is_dir() {
            eprintln!("note: {} absent (run datasets/fetch); real Fashion-MNIST test skipped", dir.display());
            return;
        }
        let start = std::time::Instant::now();
        let train = load(DatasetKind::FashionMnist, dir, Split::Train).unwrap();
        let test = load(DatasetKind::FashionMnist, dir, Split::Test).unwrap();
        eprintln!("real Fashion-MNIST loaded in {:.2} s", start.elapsed().as_secs_f64());
        assert_eq!((train.len(), test.len()), (60_000, 10_000));
        assert_eq!((train.shape(), train.classes), ([1, 28, 28], 10));
        // Fashion-MNIST is balanced: 6000 and 1000 images per class.
        assert_eq!(train.class_counts(), vec![6000; 10]);
        assert_eq!(test.class_counts(), vec![1000; 10]);
    }
}
