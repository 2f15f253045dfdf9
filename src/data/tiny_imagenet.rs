//! Tiny ImageNet (`tiny-imagenet-200/`): 200 classes listed in `wnids.txt`, training JPEGs
//! in `train/<wnid>/images/`, held-out JPEGs in `val/images/` labelled by
//! `val/val_annotations.txt`. Images are 64x64; grayscale ones are widened to RGB.
//!
//! Class `k` is the `k`-th line of `wnids.txt`. [`Split::Test`] reads `val/` (the official
//! `test/` images carry no labels).

use std::path::{Path, PathBuf};

use super::{DataError, Dataset, DatasetKind, Split};

pub const FOLDER: &str = "tiny-imagenet-200";
const SIDE: usize = 64;

pub fn load(dir: &Path, split: Split) -> Result<Dataset, DataError> {
    let kind = DatasetKind::TinyImageNet;
    let fix = kind.fetch_hint(dir);
    let root = [dir.join(FOLDER), dir.to_path_buf()]
        .into_iter()
        .find(|r| r.join("wnids.txt").is_file())
        .unwrap_or_else(|| dir.join(FOLDER));
    let wnids_path = root.join("wnids.txt");
    let wnids: Vec<String> = read_text(&wnids_path, "the list of class ids, one per line", &fix)?
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if wnids.is_empty() {
        return Err(DataError::Format { path: wnids_path, detail: "no class ids".to_string(), fix });
    }
    // Class ids name folders: one that is not a plain name, or that appears twice, would
    // read images from elsewhere or under two labels.
    for (index, wnid) in wnids.iter().enumerate() {
        let problem = if !is_plain_name(wnid) {
            "is not a plain folder name"
        } else if wnids[..index].contains(wnid) {
            "appears twice"
        } else {
            continue;
        };
        return Err(DataError::Format { path: wnids_path, detail: format!("class id {wnid:?} {problem}"), fix });
    }

    let items = match split {
        Split::Train => train_items(&root, &wnids, &fix)?,
        Split::Test => val_items(&root, &wnids, &fix)?,
    };
    let images = decode_all(&items, &fix)?;
    Ok(Dataset {
        name: kind.name().to_string(),
        split,
        channels: 3,
        height: SIDE,
        width: SIDE,
        classes: wnids.len(),
        images,
        labels: items.iter().map(|(_, label)| *label).collect(),
    })
}

/// A single path component: no separators or control characters, not `.` or `..`.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(|c: char| c == '/' || c == '\\' || c.is_control())
}

fn read_text(path: &Path, expected: &str, fix: &str) -> Result<String, DataError> {
    std::fs::read_to_string(path).map_err(|e| DataError::io(path, e, expected, fix))
}

/// Every `train/<wnid>/images/*.JPEG`, classes in `wnids.txt` order, files sorted by name.
fn train_items(root: &Path, wnids: &[String], fix: &str) -> Result<Vec<(PathBuf, u32)>, DataError> {
    let mut items = Vec::new();
    for (k, wnid) in wnids.iter().enumerate() {
        let images_dir = root.join("train").join(wnid).join("images");
        let entries =
            std::fs::read_dir(&images_dir).map_err(|e| DataError::io(&images_dir, e, "a folder of JPEGs", fix))?;
        let mut files = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| DataError::io(&images_dir, e, "a folder of JPEGs", fix))?.path();
            if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("jpeg") || e.eq_ignore_ascii_case("jpg")) {
                files.push(path);
            }
        }
        files.sort();
        items.extend(files.into_iter().map(|p| (p, k as u32)));
    }
    Ok(items)
}

/// `val/val_annotations.txt`: `<file>\t<wnid>\t<x0>\t<y0>\t<x1>\t<y1>` per line.
fn val_items(root: &Path, wnids: &[String], fix: &str) -> Result<Vec<(PathBuf, u32)>, DataError> {
    let path = root.join("val").join("val_annotations.txt");
    let text = read_text(&path, "tab-separated lines: file, class id, bounding box", fix)?;
    let mut items = Vec::new();
    for (index, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let mut fields = line.split('\t');
        let (Some(file), Some(wnid)) = (fields.next(), fields.next()) else {
            return Err(DataError::Format {
                path,
                detail: format!("line {} has no tab-separated file name and class id", index + 1),
                fix: fix.to_string(),
            });
        };
        if !is_plain_name(file) {
            return Err(DataError::Format {
                path,
                detail: format!("line {} names {file:?}, not a plain file name in val/images", index + 1),
                fix: fix.to_string(),
            });
        }
        let Some(k) = wnids.iter().position(|w| w == wnid) else {
            return Err(DataError::Format {
                path,
                detail: format!("line {} labels {file} with '{wnid}', which is not in wnids.txt", index + 1),
                fix: fix.to_string(),
            });
        };
        let image = root.join("val").join("images").join(file);
        // Said here, an error points at the line that names the file, not only the file.
        if !image.is_file() {
            return Err(DataError::Format {
                path,
                detail: format!("line {} lists {}, which does not exist", index + 1, image.display()),
                fix: fix.to_string(),
            });
        }
        items.push((image, k as u32));
    }
    Ok(items)
}

/// Decodes the JPEGs into CHW bytes, split across the available cores (decoding dominates:
/// 100k files take tens of seconds on one core).
fn decode_all(items: &[(PathBuf, u32)], fix: &str) -> Result<Vec<u8>, DataError> {
    let image_len = 3 * SIDE * SIDE;
    let mut images = vec![0u8; items.len() * image_len];
    if items.is_empty() {
        return Ok(images);
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_thread = items.len().div_ceil(threads);
    std::thread::scope(|s| {
        let workers: Vec<_> = items
            .chunks(per_thread)
            .zip(images.chunks_mut(per_thread * image_len))
            .map(|(chunk, out)| {
                s.spawn(move || {
                    chunk
                        .iter()
                        .zip(out.chunks_exact_mut(image_len))
                        .try_for_each(|((path, _), dst)| decode_into(path, dst, fix))
                })
            })
            .collect();
        workers.into_iter().try_for_each(|w| w.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
    })?;
    Ok(images)
}

fn decode_into(path: &Path, dst: &mut [u8], fix: &str) -> Result<(), DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e, "a 64x64 JPEG", fix))?;
    let reader = || {
        image::ImageReader::new(std::io::Cursor::new(&bytes[..]))
            .with_guessed_format()
            .map_err(|e| DataError::io(path, e, "a 64x64 JPEG", fix))
    };
    let decode_error = |e| DataError::Decode { path: path.to_path_buf(), source: e, fix: fix.to_string() };
    // The size comes from the header: check it before decoding allocates for it.
    let (width, height) = reader()?.into_dimensions().map_err(decode_error)?;
    if (width as usize, height as usize) != (SIDE, SIDE) {
        return Err(DataError::Format {
            path: path.to_path_buf(),
            detail: format!("image is {width}x{height}, expected {SIDE}x{SIDE}"),
            fix: fix.to_string(),
        });
    }
    let decoded = reader()?.decode().map_err(decode_error)?;
    if (decoded.width() as usize, decoded.height() as usize) != (SIDE, SIDE) {
        return Err(DataError::Format {
            path: path.to_path_buf(),
            detail: format!("image decodes to {}x{}, expected {SIDE}x{SIDE}", decoded.width(), decoded.height()),
            fix: fix.to_string(),
        });
    }
    // Grayscale (and CMYK) JPEGs become RGB here; the planes are then split out of HWC.
    let rgb = decoded.to_rgb8();
    let plane = SIDE * SIDE;
    for (p, px) in rgb.pixels().enumerate() {
        for c in 0..3 {
            dst[c * plane + p] = px.0[c];
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::synthetic::{self, ScratchDir};
    use super::*;

    /// Mean absolute difference per byte between two image buffers.
    fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
        a.iter().zip(b).map(|(&x, &y)| (x as f64 - y as f64).abs()).sum::<f64>() / a.len() as f64
    }

    #[test]
    fn round_trip_with_a_grayscale_jpeg() {
        let scratch = ScratchDir::new("tiny-rt");
        let generated = synthetic::write_tiny_imagenet_like(scratch.path(), 3, 2, 2, 11).unwrap();
        let train = load(scratch.path(), Split::Train).unwrap();
        let val = load(scratch.path(), Split::Test).unwrap();
        assert_eq!((train.len(), val.len(), train.shape(), train.classes), (6, 6, [3, 64, 64], 3));
        assert_eq!(train.labels, generated.train.labels);
        assert_eq!(val.labels, generated.test.labels);
        // JPEG is lossy: quality 95 on noisy gratings stays within a few levels on average.
        let tolerance = 6.0;
        let (dt, dv) =
            (mean_abs_diff(&train.images, &generated.train.images), mean_abs_diff(&val.images, &generated.test.images));
        assert!(dt < tolerance && dv < tolerance, "JPEG round trip differs by {dt} and {dv} levels on average");
        // The grayscale JPEG (first training image) has three equal planes.
        let grey = train.image(0);
        assert_eq!(&grey[..4096], &grey[4096..8192]);
        assert_eq!(&grey[..4096], &grey[8192..]);
    }

    #[test]
    fn unknown_wnid_and_missing_files_are_errors() {
        let scratch = ScratchDir::new("tiny-bad");
        let msg = load(scratch.path(), Split::Train).unwrap_err().to_string();
        assert!(msg.contains("wnids.txt") && msg.contains("tiny-imagenet-200.zip"), "{msg}");

        synthetic::write_tiny_imagenet_like(scratch.path(), 2, 1, 1, 1).unwrap();
        let annotations = scratch.path().join(FOLDER).join("val").join("val_annotations.txt");
        std::fs::write(&annotations, "val_0.JPEG\tn99999999\t0\t0\t63\t63\n").unwrap();
        let msg = load(scratch.path(), Split::Test).unwrap_err().to_string();
        assert!(msg.contains("n99999999") && msg.contains("val_annotations.txt"), "{msg}");

        // A file that is not a JPEG is a decode error naming it.
        let bad = scratch.path().join(FOLDER).join("train").join("n00000001").join("images").join("n00000001_0.JPEG");
        std::fs::write(&bad, b"not a jpeg").unwrap();
        let msg = load(scratch.path(), Split::Train).unwrap_err().to_string();
        assert!(msg.contains("n00000001_0.JPEG"), "{msg}");
    }
}
