//! The CIFAR-10 and CIFAR-100 binary formats, read from the extracted folder or straight
//! from the official .tar.gz (streamed, nothing written to disk).
//!
//! A CIFAR-10 record is 1 label byte then 3072 pixel bytes (red, green, blue planes of
//! 32x32, row-major): already CHW. A CIFAR-100 record has a coarse then a fine label byte.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

use super::{DataError, Dataset, DatasetKind, Split};

pub const CIFAR10_FOLDER: &str = "cifar-10-batches-bin";
pub const CIFAR10_TARBALL: &str = "cifar-10-binary.tar.gz";
pub const CIFAR10_TRAIN_FILES: [&str; 5] =
    ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"];
pub const CIFAR10_TEST_FILE: &str = "test_batch.bin";

pub const CIFAR100_FOLDER: &str = "cifar-100-binary";
pub const CIFAR100_TARBALL: &str = "cifar-100-binary.tar.gz";
pub const CIFAR100_TRAIN_FILE: &str = "train.bin";
pub const CIFAR100_TEST_FILE: &str = "test.bin";

/// 3 planes of 32x32.
const PIXELS: usize = 3 * 32 * 32;
const CIFAR100_COARSE_CLASSES: usize = 20;
const CIFAR100_FINE_CLASSES: usize = 100;
/// The largest official record file is CIFAR-100's `train.bin`, 50000 records of 3074
/// bytes; an archive entry claiming more is not a CIFAR file (and is not allocated).
const MAX_RECORD_FILE: u64 = 50_000 * (2 + PIXELS as u64);

/// Which CIFAR-100 label to train on: the 100 fine classes (the usual benchmark) or the 20
/// superclasses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cifar100Labels {
    #[default]
    Fine,
    Coarse,
}

pub fn load_cifar10(dir: &Path, split: Split) -> Result<Dataset, DataError> {
    let names: &[&str] = match split {
        Split::Train => &CIFAR10_TRAIN_FILES,
        Split::Test => &[CIFAR10_TEST_FILE],
    };
    let layout = Layout { kind: DatasetKind::Cifar10, folder: CIFAR10_FOLDER, tarball: CIFAR10_TARBALL };
    // One label byte, checked against 10 classes.
    read_split(dir, split, &layout, names, &[10], 0)
}

pub fn load_cifar100(dir: &Path, split: Split, labels: Cifar100Labels) -> Result<Dataset, DataError> {
    let names: &[&str] = match split {
        Split::Train => &[CIFAR100_TRAIN_FILE],
        Split::Test => &[CIFAR100_TEST_FILE],
    };
    let layout = Layout { kind: DatasetKind::Cifar100, folder: CIFAR100_FOLDER, tarball: CIFAR100_TARBALL };
    let used = match labels {
        Cifar100Labels::Coarse => 0,
        Cifar100Labels::Fine => 1,
    };
    let mut set = read_split(dir, split, &layout, names, &[CIFAR100_COARSE_CLASSES, CIFAR100_FINE_CLASSES], used)?;
    if labels == Cifar100Labels::Coarse {
        set.name = format!("{}-coarse", set.name);
    }
    Ok(set)
}

struct Layout {
    kind: DatasetKind,
    folder: &'static str,
    tarball: &'static str,
}

/// Reads the record files `names`; each record has `label_classes.len()` label bytes (each
/// checked against its class count) and the label at `used` becomes the dataset's.
fn read_split(
    dir: &Path,
    split: Split,
    layout: &Layout,
    names: &[&str],
    label_classes: &[usize],
    used: usize,
) -> Result<Dataset, DataError> {
    let fix = layout.kind.fetch_hint(dir);
    let files = read_files(dir, layout, names, &fix)?;
    let record = label_classes.len() + PIXELS;
    let total: usize = files.iter().map(|(_, bytes)| bytes.len() / record).sum();
    let mut images = Vec::with_capacity(total * PIXELS);
    let mut labels = Vec::with_capacity(total);
    for (path, bytes) in &files {
        if bytes.is_empty() || bytes.len() % record != 0 {
            return Err(DataError::Truncated {
                path: path.clone(),
                expected: (bytes.len() / record + 1) as u64 * record as u64,
                found: bytes.len() as u64,
                fix: format!("(records are {record} bytes) {fix}"),
            });
        }
        for (index, r) in bytes.chunks_exact(record).enumerate() {
            for (&label, &classes) in r.iter().zip(label_classes) {
                if label as usize >= classes {
                    return Err(DataError::LabelOutOfRange {
                        path: path.clone(),
                        index,
                        label: label as u32,
                        classes,
                        fix,
                    });
                }
            }
            labels.push(r[used] as u32);
            images.extend_from_slice(&r[label_classes.len()..]);
        }
    }
    Ok(Dataset {
        name: layout.kind.name().to_string(),
        split,
        channels: 3,
        height: 32,
        width: 32,
        classes: label_classes[used],
        images,
        labels,
    })
}

/// The contents of `names`, from the extracted folder (`dir/<folder>/` or `dir` itself) if
/// the first file is there, else from `dir/<tarball>`. Errors name the missing file.
fn read_files(dir: &Path, layout: &Layout, names: &[&str], fix: &str) -> Result<Vec<(PathBuf, Vec<u8>)>, DataError> {
    let folder = [dir.join(layout.folder), dir.to_path_buf()].into_iter().find(|d| d.join(names[0]).is_file());
    if let Some(folder) = folder {
        return names
            .iter()
            .map(|name| {
                let path = folder.join(name);
                let expected = format!("a {} record file", layout.kind);
                std::fs::read(&path)
                    .map(|bytes| (path.clone(), bytes))
                    .map_err(|e| DataError::io(&path, e, &expected, fix))
            })
            .collect();
    }
    let tarball = dir.join(layout.tarball);
    if !tarball.is_file() {
        return Err(DataError::Missing {
            path: tarball,
            expected: format!("{} (or the extracted {}/{})", layout.tarball, layout.folder, names[0]),
            fix: fix.to_string(),
        });
    }
    read_from_tarball(&tarball, layout.folder, names, fix)
}

/// Streams the .tar.gz once, keeping the entries `<folder>/<name>`. Paths in errors read
/// `<tarball>/<folder>/<name>`.
fn read_from_tarball(
    tarball: &Path,
    folder: &str,
    names: &[&str],
    fix: &str,
) -> Result<Vec<(PathBuf, Vec<u8>)>, DataError> {
    let io = |e| DataError::io(tarball, e, "a gzip-compressed tar archive", fix);
    let file = File::open(tarball).map_err(io)?;
    let mut archive = tar::Archive::new(MultiGzDecoder::new(BufReader::new(file)));
    let mut found: Vec<Option<Vec<u8>>> = vec![None; names.len()];
    for entry in archive.entries().map_err(io)? {
        let mut entry = entry.map_err(io)?;
        let path = entry.path().map_err(io)?.into_owned();
        let Some(slot) = names.iter().position(|n| path == Path::new(folder).join(n)) else { continue };
        let entry_path = tarball.join(&path);
        // The size is a header field: check it before trusting it with an allocation.
        let size = entry.size();
        if size > MAX_RECORD_FILE {
            return Err(DataError::Format {
                path: entry_path,
                detail: format!("the archive header claims {size} bytes, more than any CIFAR file ({MAX_RECORD_FILE})"),
                fix: fix.to_string(),
            });
        }
        let mut bytes = Vec::with_capacity(size as usize);
        entry.read_to_end(&mut bytes).map_err(io)?;
        // tar stops quietly where the archive ends: a short entry is a truncated download.
        if bytes.len() as u64 != size {
            return Err(DataError::Truncated {
                path: entry_path,
                expected: size,
                found: bytes.len() as u64,
                fix: fix.to_string(),
            });
        }
        found[slot] = Some(bytes);
        if found.iter().all(Option::is_some) {
            break;
        }
    }
    names
        .iter()
        .zip(found)
        .map(|(name, bytes)| {
            let path = tarball.join(folder).join(name);
            bytes.map(|b| (path.clone(), b)).ok_or_else(|| DataError::Missing {
                path,
                expected: format!("the entry {folder}/{name} in the archive"),
                fix: fix.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::synthetic::{self, CifarLayout, ScratchDir};
    use super::*;

    #[test]
    fn cifar10_round_trip_folder_and_tarball() {
        for layout in [CifarLayout::Folder, CifarLayout::TarGz] {
            let scratch = ScratchDir::new("cifar10-rt");
            let generated = synthetic::write_cifar10_like(scratch.path(), 23, 7, 5, layout).unwrap();
            let train = load_cifar10(scratch.path(), Split::Train).unwrap();
            let test = load_cifar10(scratch.path(), Split::Test).unwrap();
            assert_eq!(train, generated.train, "{layout:?}");
            assert_eq!(test, generated.test, "{layout:?}");
            assert_eq!((train.shape(), train.classes, train.len()), ([3, 32, 32], 10, 23));
        }
    }

    #[test]
    fn cifar10_folder_given_directly() {
        let scratch = ScratchDir::new("cifar10-direct");
        let generated = synthetic::write_cifar10_like(scratch.path(), 10, 4, 5, CifarLayout::Folder).unwrap();
        let test = load_cifar10(&scratch.path().join(CIFAR10_FOLDER), Split::Test).unwrap();
        assert_eq!(test, generated.test);
    }

    #[test]
    fn cifar100_fine_and_coarse_labels() {
        for layout in [CifarLayout::Folder, CifarLayout::TarGz] {
            let scratch = ScratchDir::new("cifar100-rt");
            let generated = synthetic::write_cifar100_like(scratch.path(), 30, 12, 9, layout).unwrap();
            let fine = load_cifar100(scratch.path(), Split::Train, Cifar100Labels::Fine).unwrap();
            assert_eq!(fine, generated.train);
            assert_eq!(fine.classes, 100);
            let coarse = load_cifar100(scratch.path(), Split::Test, Cifar100Labels::Coarse).unwrap();
            assert_eq!(coarse.classes, 20);
            assert_eq!(coarse.images, generated.test.images);
            let expected: Vec<u32> = generated.test.labels.iter().map(|&f| synthetic::synthetic_coarse(f)).collect();
            assert_eq!(coarse.labels, expected);
        }
    }

    #[test]
    fn record_size_and_label_range_checked() {
        let scratch = ScratchDir::new("cifar-bad");
        synthetic::write_cifar10_like(scratch.path(), 10, 4, 5, CifarLayout::Folder).unwrap();
        let path = scratch.path().join(CIFAR10_FOLDER).join(CIFAR10_TEST_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[3073 * 2] = 10; // label of record 2
        std::fs::write(&path, &bytes).unwrap();
        match load_cifar10(scratch.path(), Split::Test) {
            Err(DataError::LabelOutOfRange { path: p, index, label, classes, .. }) => {
                assert_eq!((p, index, label, classes), (path.clone(), 2, 10, 10))
            }
            other => panic!("expected a label error, got {other:?}"),
        }
        std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        assert!(matches!(load_cifar10(scratch.path(), Split::Test), Err(DataError::Truncated { .. })));

        // CIFAR-100: a coarse label of 20 is out of range even when fine labels are used.
        let scratch = ScratchDir::new("cifar100-bad");
        synthetic::write_cifar100_like(scratch.path(), 5, 5, 1, CifarLayout::Folder).unwrap();
        let path = scratch.path().join(CIFAR100_FOLDER).join(CIFAR100_TRAIN_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[3074] = 20;
        std::fs::write(&path, &bytes).unwrap();
        match load_cifar100(scratch.path(), Split::Train, Cifar100Labels::Fine) {
            Err(DataError::LabelOutOfRange { index, label, classes, .. }) => {
                assert_eq!((index, label, classes), (1, 20, 20))
            }
            other => panic!("expected a label error, got {other:?}"),
        }
    }

    #[test]
    fn missing_files_name_the_file_and_the_fix() {
        let scratch = ScratchDir::new("cifar-missing");
        let msg = load_cifar10(scratch.path(), Split::Train).unwrap_err().to_string();
        assert!(msg.contains("cifar-10-binary.tar.gz"), "{msg}");
        assert!(msg.contains("https://www.cs.toronto.edu/~kriz/cifar.html"), "{msg}");
        assert!(msg.contains(&scratch.path().display().to_string()), "{msg}");

        // One training batch missing from an extracted folder.
        synthetic::write_cifar10_like(scratch.path(), 10, 4, 5, CifarLayout::Folder).unwrap();
        std::fs::remove_file(scratch.path().join(CIFAR10_FOLDER).join("data_batch_4.bin")).unwrap();
        let msg = load_cifar10(scratch.path(), Split::Train).unwrap_err().to_string();
        assert!(msg.contains("data_batch_4.bin"), "{msg}");

        // A truncated archive is an error, not a panic.
        let scratch = ScratchDir::new("cifar-tar-trunc");
        synthetic::write_cifar100_like(scratch.path(), 20, 5, 1, CifarLayout::TarGz).unwrap();
        let path = scratch.path().join(CIFAR100_TARBALL);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 3]).unwrap();
        let msg = load_cifar100(scratch.path(), Split::Test, Cifar100Labels::Fine).unwrap_err().to_string();
        assert!(msg.contains(CIFAR100_TARBALL), "{msg}");
    }
}
