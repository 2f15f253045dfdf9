//! Every parser against corrupted copies of valid files made by the crate's own writers
//! (`data::synthetic`, `Checkpoint::save`, `RunFile::save`, the approximation export):
//! truncations, byte flips, header fields set to huge values, wrong magic, labels out of
//! range, inconsistent counts. The property everywhere: the loader returns an error whose
//! message names the damaged file, or a result that is consistent; it never panics, and
//! (checked by the counting allocator below) never allocates more than the file could hold.
//!
//! Run alone: `cargo test --release --test corrupt_inputs`. Case counts are modest so the
//! file runs in seconds on two cores; raise `PROPTEST_CASES` for a longer search.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use proptest::prelude::*;
use proptest::sample::Index;
use sturdy::checkpoint::Checkpoint;
use sturdy::data::synthetic::{self, CifarLayout, IdxCompression, ScratchDir};
use sturdy::data::{cifar, idx, tiny_imagenet, Augment, Cifar100Labels, Dataset, DatasetKind, Normalization, Split};
use sturdy::models::ModelKind;
use sturdy::nn::{Shortcut, TrainActivation};
use sturdy::ops::noisy_relu::NoiseConfig;
use sturdy::poly::export::ReluExport;
use sturdy::poly::ReluApprox;
use sturdy::train::recipe::Recipe;
use sturdy::train::schedule::ScheduleKind;
use sturdy::train::{RunConfig, RunFile, SgdConfig};

// ---------------------------------------------------------------------------------------
// The largest single allocation made by the current thread, so a test can check that a
// header claiming 2^31 images did not make the parser reserve gigabytes.

struct Counting;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    // `try_with`: the slot is gone while the thread shuts down.
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` and returns its result with the largest allocation it made on this thread.
fn largest_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.with(|l| l.set(0));
    let out = f();
    (out, LARGEST.with(Cell::get))
}

/// Room for decoders' fixed buffers (flate2's window, tar's blocks, read_to_end's
/// doubling): an allocation bounded by the input is at most twice the decoded data plus
/// this.
const SLACK: usize = 1 << 20;

// ---------------------------------------------------------------------------------------
// Corruptions.

#[derive(Debug, Clone)]
enum Corruption {
    /// Keep only the first bytes.
    Truncate(Index),
    /// XOR one byte with a non-zero mask.
    Flip(Index, u8),
    /// Overwrite a 32-bit big-endian word in the header (IDX fields are such words).
    SetWord(Index, u32),
    /// Extra bytes at the end.
    Append(Vec<u8>),
}

fn apply(corruption: &Corruption, header_words: usize, bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    match corruption {
        Corruption::Truncate(at) => out.truncate(at.index(bytes.len())),
        Corruption::Flip(at, mask) => out[at.index(bytes.len())] ^= mask,
        Corruption::SetWord(word, value) => {
            let at = 4 * word.index(header_words.max(1));
            if at + 4 <= out.len() {
                out[at..at + 4].copy_from_slice(&value.to_be_bytes());
            }
        }
        Corruption::Append(extra) => out.extend(extra),
    }
    out
}

/// 0, 1, 2^31, 2^32 - 1 and arbitrary values: counts, sizes and magics that break things.
fn interesting_u32() -> impl Strategy<Value = u32> {
    prop_oneof![Just(0), Just(1), Just(1 << 31), Just(u32::MAX), any::<u32>()]
}

fn corruption() -> impl Strategy<Value = Corruption> {
    prop_oneof![
        any::<Index>().prop_map(Corruption::Truncate),
        (any::<Index>(), 1..=255u8).prop_map(|(i, m)| Corruption::Flip(i, m)),
        (any::<Index>(), interesting_u32()).prop_map(|(i, v)| Corruption::SetWord(i, v)),
        prop::collection::vec(any::<u8>(), 1..64).prop_map(Corruption::Append),
    ]
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    GzDecoder::new(bytes).read_to_end(&mut out).unwrap();
    out
}

/// The error must name the file (by its file name: the message may show a longer path).
fn assert_names(message: &str, file: &Path) {
    let name = file.file_name().unwrap().to_string_lossy();
    assert!(message.contains(&*name), "error does not name {name}: {message}");
}

/// A loaded dataset must be internally consistent whatever the bytes were.
fn assert_consistent(set: &Dataset) {
    assert_eq!(set.images.len(), set.len() * set.image_len(), "{}: images and labels disagree", set.name);
    assert!(set.labels.iter().all(|&l| (l as usize) < set.classes), "{}: label out of range", set.name);
}

fn config(cases: u32) -> ProptestConfig {
    // PROPTEST_CASES, when set, overrides the default for a longer search.
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(cases);
    ProptestConfig { cases, ..ProptestConfig::default() }
}

// ---------------------------------------------------------------------------------------
// IDX (MNIST, Fashion-MNIST).

const IDX_FILES: [&str; 2] = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"];

/// Writes the train split of a small IDX set; returns the plain contents of both files.
fn idx_fixture(dir: &Path) -> [Vec<u8>; 2] {
    synthetic::write_idx_like(dir, 12, 4, 5, IdxCompression::Plain).unwrap();
    IDX_FILES.map(|name| std::fs::read(dir.join(name)).unwrap())
}

/// Replaces file `which` of an IDX split (plain or gzip) by `bytes` and loads the split.
fn load_idx_with(dir: &Path, originals: &[Vec<u8>; 2], which: usize, bytes: &[u8], gz: bool) -> (PathBuf, String) {
    for (i, name) in IDX_FILES.iter().enumerate() {
        let _ = std::fs::remove_file(dir.join(name));
        let _ = std::fs::remove_file(dir.join(format!("{name}.gz")));
        let contents = if i == which { bytes.to_vec() } else { originals[i].clone() };
        let (file, contents) = if gz { (format!("{name}.gz"), gzip(&contents)) } else { (name.to_string(), contents) };
        std::fs::write(dir.join(file), contents).unwrap();
    }
    let path = if gz { dir.join(format!("{}.gz", IDX_FILES[which])) } else { dir.join(IDX_FILES[which]) };
    match idx::load(DatasetKind::FashionMnist, dir, Split::Train) {
        Ok(set) => {
            assert_consistent(&set);
            (path, String::new())
        }
        Err(e) => (path, e.to_string()),
    }
}

proptest! {
    #![proptest_config(config(96))]

    /// Corrupt the decoded contents, then store them plain or gzipped.
    #[test]
    fn idx_corruptions_are_errors_naming_the_file(which in 0..2usize, c in corruption(), gz in any::<bool>()) {
        let scratch = ScratchDir::new("prop-idx");
        let originals = idx_fixture(scratch.path());
        let header_words = [4, 2][which];
        let bytes = apply(&c, header_words, &originals[which]);
        let (path, error) = load_idx_with(scratch.path(), &originals, which, &bytes, gz);
        if error.is_empty() {
            // Only a flip inside the pixels (or a label staying in range) is harmless.
            prop_assert!(matches!(c, Corruption::Flip(..) | Corruption::SetWord(..)), "{c:?} was accepted");
        } else {
            assert_names(&error, &path);
        }
    }

    /// Corrupt the gzip stream itself.
    #[test]
    fn idx_gzip_stream_corruptions_are_errors(which in 0..2usize, c in corruption()) {
        let scratch = ScratchDir::new("prop-idx-gz");
        let originals = idx_fixture(scratch.path());
        let path = scratch.path().join(format!("{}.gz", IDX_FILES[which]));
        load_idx_with(scratch.path(), &originals, which, &originals[which], true);
        let damaged = apply(&c, 0, &std::fs::read(&path).unwrap());
        std::fs::write(&path, damaged).unwrap();
        match idx::load(DatasetKind::FashionMnist, scratch.path(), Split::Train) {
            Ok(set) => assert_consistent(&set),
            Err(e) => assert_names(&e.to_string(), &path),
        }
    }
}

#[test]
fn idx_truncated_at_every_offset() {
    let scratch = ScratchDir::new("idx-every");
    let originals = idx_fixture(scratch.path());
    for which in 0..2 {
        // Plain: every offset. Gzip: every 7th (each load decompresses the file again).
        for (gz, step) in [(false, 1), (true, 7)] {
            for len in (0..originals[which].len()).step_by(step) {
                let (path, error) = load_idx_with(scratch.path(), &originals, which, &originals[which][..len], gz);
                assert!(!error.is_empty(), "{} cut to {len} bytes was accepted", path.display());
                assert_names(&error, &path);
            }
        }
    }
}

/// Headers claiming 2^31 - 1 images (or 65535x65535 of them): an error, and no allocation
/// beyond what the file holds, plain or gzipped.
#[test]
fn idx_huge_header_claims_allocate_no_more_than_the_file() {
    let scratch = ScratchDir::new("idx-huge");
    let originals = idx_fixture(scratch.path());
    for (word, value) in [(1, i32::MAX as u32), (2, 65535), (3, 65535), (1, u32::MAX)] {
        let mut bytes = originals[0].clone();
        bytes[4 * word..4 * word + 4].copy_from_slice(&value.to_be_bytes());
        for gz in [false, true] {
            let ((path, error), largest) =
                largest_allocation(|| load_idx_with(scratch.path(), &originals, 0, &bytes, gz));
            assert!(!error.is_empty(), "header word {word} = {value} accepted");
            assert_names(&error, &path);
            assert!(largest <= 2 * bytes.len() + SLACK, "word {word} = {value}: allocated {largest} bytes");
        }
    }
    // A labels header claiming 2^32 - 1 labels.
    let mut labels = originals[1].clone();
    labels[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
    for gz in [false, true] {
        let ((_, error), largest) = largest_allocation(|| load_idx_with(scratch.path(), &originals, 1, &labels, gz));
        assert!(error.contains("truncated") && error.contains("train-labels-idx1-ubyte"), "{error}");
        assert!(largest <= 2 * originals[0].len() + SLACK, "allocated {largest} bytes");
    }
}

/// A gzip bomb: a valid header for 12 images followed by 256 MiB of zeros, which compress
/// to about 256 KiB. Only what the header accounts for (plus one byte) is decompressed.
#[test]
fn idx_gzip_bomb_is_not_decompressed_past_the_header() {
    let scratch = ScratchDir::new("idx-bomb");
    let originals = idx_fixture(scratch.path());
    let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(&originals[0]).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..256 {
        encoder.write_all(&zeros).unwrap();
    }
    let bomb = encoder.finish().unwrap();
    let path = scratch.path().join("train-images-idx3-ubyte.gz");
    load_idx_with(scratch.path(), &originals, 0, &originals[0], true);
    std::fs::write(&path, &bomb).unwrap();
    let (result, largest) = largest_allocation(|| idx::load(DatasetKind::FashionMnist, scratch.path(), Split::Train));
    let error = result.unwrap_err().to_string();
    assert!(error.contains("bytes after the") && error.contains("train-images-idx3-ubyte.gz"), "{error}");
    assert!(largest <= 2 * originals[0].len() + SLACK, "allocated {largest} bytes for a {} byte file", bomb.len());
}

// ---------------------------------------------------------------------------------------
// CIFAR-10 and CIFAR-100, folder and .tar.gz.

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn cifar_record_file_corruptions(c in corruption(), hundred in any::<bool>()) {
        let scratch = ScratchDir::new("prop-cifar");
        let (path, load): (PathBuf, Box<dyn Fn() -> Result<Dataset, sturdy::data::DataError>>) = if hundred {
            synthetic::write_cifar100_like(scratch.path(), 6, 3, 2, CifarLayout::Folder).unwrap();
            let dir = scratch.path().to_path_buf();
            (dir.join(cifar::CIFAR100_FOLDER).join(cifar::CIFAR100_TEST_FILE),
             Box::new(move || cifar::load_cifar100(&dir, Split::Test, Cifar100Labels::Fine)))
        } else {
            synthetic::write_cifar10_like(scratch.path(), 5, 3, 2, CifarLayout::Folder).unwrap();
            let dir = scratch.path().to_path_buf();
            (dir.join(cifar::CIFAR10_FOLDER).join(cifar::CIFAR10_TEST_FILE),
             Box::new(move || cifar::load_cifar10(&dir, Split::Test)))
        };
        let original = std::fs::read(&path).unwrap();
        let damaged = apply(&c, 1, &original);
        std::fs::write(&path, &damaged).unwrap();
        // A file cut between two records is a valid smaller file (CIFAR files have no header
        // that counts the records): label byte(s) + 3072 pixels each.
        let record = if hundred { 3074 } else { 3073 };
        let whole_records = matches!(c, Corruption::Truncate(..)) && !damaged.is_empty() && damaged.len().is_multiple_of(record);
        match load() {
            Ok(set) => {
                assert_consistent(&set);
                let harmless = matches!(c, Corruption::Flip(..) | Corruption::SetWord(..)) || whole_records;
                prop_assert!(harmless, "{c:?} was accepted");
            }
            Err(e) => assert_names(&e.to_string(), &path),
        }
    }

    /// Damage to the compressed archive, or to the tar inside it (recompressed).
    #[test]
    fn cifar_tarball_corruptions(c in corruption(), inside in any::<bool>()) {
        let scratch = ScratchDir::new("prop-cifar-tar");
        synthetic::write_cifar10_like(scratch.path(), 5, 3, 2, CifarLayout::TarGz).unwrap();
        let path = scratch.path().join(cifar::CIFAR10_TARBALL);
        let original = std::fs::read(&path).unwrap();
        let damaged = if inside { gzip(&apply(&c, 0, &gunzip(&original))) } else { apply(&c, 0, &original) };
        std::fs::write(&path, damaged).unwrap();
        match cifar::load_cifar10(scratch.path(), Split::Test) {
            Ok(set) => assert_consistent(&set),
            Err(e) => assert_names(&e.to_string(), &path),
        }
    }
}

/// The tar of a synthetic CIFAR-10 archive with the size field of `entry` set to `size`
/// (GNU base-256 when it does not fit the octal field) and the header checksum fixed, so
/// only the claim is wrong.
fn tar_with_entry_size(tar: &[u8], entry: &str, size: u64) -> Vec<u8> {
    let mut tar = tar.to_vec();
    let mut at = 0;
    while at + 512 <= tar.len() {
        let header = tar::Header::from_byte_slice(&tar[at..at + 512]).clone();
        let len = header.entry_size().unwrap();
        if header.path().unwrap().ends_with(entry) {
            let mut header = header;
            header.set_size(size);
            header.set_cksum();
            tar[at..at + 512].copy_from_slice(header.as_bytes());
            return tar;
        }
        at += 512 + len.div_ceil(512) as usize * 512;
    }
    panic!("no entry {entry}");
}

/// An archive entry claiming 1 TiB: an error naming it, no 1 TiB allocation. Found by
/// reading the code: the loader reserved `entry.size()` bytes before reading.
#[test]
fn cifar_tar_entry_claiming_a_terabyte() {
    let scratch = ScratchDir::new("cifar-tar-huge");
    synthetic::write_cifar10_like(scratch.path(), 5, 3, 2, CifarLayout::TarGz).unwrap();
    let path = scratch.path().join(cifar::CIFAR10_TARBALL);
    let original = std::fs::read(&path).unwrap();
    for size in [1u64 << 40, 200_000_000, 3073 * 4] {
        std::fs::write(&path, gzip(&tar_with_entry_size(&gunzip(&original), "test_batch.bin", size))).unwrap();
        let (result, largest) = largest_allocation(|| cifar::load_cifar10(scratch.path(), Split::Test));
        let error = result.unwrap_err().to_string();
        assert!(error.contains("cifar-10-binary.tar.gz"), "size {size}: {error}");
        assert!(largest <= 64 * original.len() + SLACK, "size {size}: allocated {largest} bytes");
    }
}

/// An entry cut short inside a well-formed gzip stream (the tar ends early): tar reads it
/// as a short file, which must not pass for a smaller dataset.
#[test]
fn cifar_tar_entry_shorter_than_its_header_says() {
    let scratch = ScratchDir::new("cifar-tar-short");
    synthetic::write_cifar10_like(scratch.path(), 5, 3, 2, CifarLayout::TarGz).unwrap();
    let path = scratch.path().join(cifar::CIFAR10_TARBALL);
    let tar = gunzip(&std::fs::read(&path).unwrap());
    // test_batch.bin is the sixth entry; claim one record more than it holds, then cut
    // the archive where that record would end.
    let grown = tar_with_entry_size(&tar, "test_batch.bin", 3073 * 4);
    let mut at = 0;
    for _ in 0..5 {
        let header = tar::Header::from_byte_slice(&grown[at..at + 512]);
        at += 512 + header.entry_size().unwrap().div_ceil(512) as usize * 512;
    }
    std::fs::write(&path, gzip(&grown[..at + 512 + 3073 * 3])).unwrap();
    let error = cifar::load_cifar10(scratch.path(), Split::Test).unwrap_err().to_string();
    assert!(error.contains("cifar-10-binary.tar.gz") && error.contains("truncated"), "{error}");
}

// ---------------------------------------------------------------------------------------
// Tiny ImageNet.

proptest! {
    #![proptest_config(config(32))]

    /// A damaged JPEG, wnids.txt or val_annotations.txt.
    #[test]
    fn tiny_imagenet_corruptions(c in corruption(), which in 0..3usize) {
        let scratch = ScratchDir::new("prop-tiny");
        synthetic::write_tiny_imagenet_like(scratch.path(), 2, 1, 1, 4).unwrap();
        let root = scratch.path().join(tiny_imagenet::FOLDER);
        let path = match which {
            0 => root.join("val").join("images").join("val_0.JPEG"),
            1 => root.join("wnids.txt"),
            _ => root.join("val").join("val_annotations.txt"),
        };
        let original = std::fs::read(&path).unwrap();
        std::fs::write(&path, apply(&c, 0, &original)).unwrap();
        match tiny_imagenet::load(scratch.path(), Split::Test) {
            Ok(set) => assert_consistent(&set),
            Err(e) => assert_names(&e.to_string(), &path),
        }
    }
}

/// The offset of the height field of a JPEG's start-of-frame segment.
fn jpeg_sof_dimensions(jpeg: &[u8]) -> usize {
    let mut at = 2;
    loop {
        let (marker, len) = (jpeg[at + 1], u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]) as usize);
        if (0xc0..=0xc2).contains(&marker) {
            return at + 5;
        }
        at += 2 + len;
    }
}

/// A JPEG header claiming 65500x65500 pixels (12 GiB decoded): refused from the header.
#[test]
fn tiny_imagenet_jpeg_claiming_huge_dimensions() {
    let scratch = ScratchDir::new("tiny-huge");
    synthetic::write_tiny_imagenet_like(scratch.path(), 2, 1, 1, 4).unwrap();
    let path = scratch.path().join(tiny_imagenet::FOLDER).join("val").join("images").join("val_0.JPEG");
    let mut jpeg = std::fs::read(&path).unwrap();
    let at = jpeg_sof_dimensions(&jpeg);
    jpeg[at..at + 4].copy_from_slice(&[0xff, 0xdc, 0xff, 0xdc]);
    std::fs::write(&path, &jpeg).unwrap();
    let (result, largest) = largest_allocation(|| tiny_imagenet::load(scratch.path(), Split::Test));
    let error = result.unwrap_err().to_string();
    assert!(error.contains("val_0.JPEG") && error.contains("65500x65500"), "{error}");
    assert!(largest <= 3 * 64 * 64 * 4 + SLACK, "allocated {largest} bytes");
}

#[test]
fn tiny_imagenet_inconsistent_lists() {
    let scratch = ScratchDir::new("tiny-lists");
    synthetic::write_tiny_imagenet_like(scratch.path(), 2, 1, 1, 4).unwrap();
    let root = scratch.path().join(tiny_imagenet::FOLDER);
    let wnids = root.join("wnids.txt");
    for (text, expected) in [
        ("n00000000\nn00000001\nn00000000\n", "appears twice"),
        ("n00000000\n../n00000001\n", "not a plain folder name"),
        ("\n\n", "no class ids"),
    ] {
        std::fs::write(&wnids, text).unwrap();
        let error = tiny_imagenet::load(scratch.path(), Split::Train).unwrap_err().to_string();
        assert!(error.contains("wnids.txt") && error.contains(expected), "{text:?}: {error}");
    }
    std::fs::write(&wnids, [0xff, 0xfe, b'\n']).unwrap();
    let error = tiny_imagenet::load(scratch.path(), Split::Train).unwrap_err().to_string();
    assert!(error.contains("wnids.txt") && error.contains("UTF-8"), "{error}");

    std::fs::write(&wnids, "n00000000\nn00000001\n").unwrap();
    let annotations = root.join("val").join("val_annotations.txt");
    for (text, expected) in [
        ("../../wnids.txt\tn00000000\t0\t0\t63\t63\n", "not a plain file name"),
        ("val_0.JPEG\n", "no tab-separated"),
        ("val_0.JPEG\tn00000007\n", "not in wnids.txt"),
        // Found by tiny_imagenet_corruptions (SetWord at offset 0): the errors named the
        // image file, not the line of val_annotations.txt that listed it.
        ("\0\0\0\x000.JPEG\tn00000000\t0\t0\t63\t63\n", "not a plain file name"),
        ("    0.JPEG\tn00000000\t0\t0\t63\t63\n", "does not exist"),
    ] {
        std::fs::write(&annotations, text).unwrap();
        let error = tiny_imagenet::load(scratch.path(), Split::Test).unwrap_err().to_string();
        assert!(error.contains("val_annotations.txt") && error.contains(expected), "{text:?}: {error}");
    }
}

// ---------------------------------------------------------------------------------------
// Checkpoints (safetensors).

fn sample_checkpoint() -> Checkpoint {
    let mut checkpoint = Checkpoint::default();
    checkpoint.push("conv1.weight", &[4, 1, 3, 3], (0..36).map(|i| i as f32 * 0.25 - 3.0).collect());
    checkpoint.push("bn1.running_var", &[4], vec![0.5, 1.0, 1.5, 2.0]);
    checkpoint.push("fc.bias", &[10], vec![0.0; 10]);
    checkpoint.metadata.insert("epoch".into(), "3".into());
    checkpoint
}

/// A safetensors file: u64 header length, JSON header, data.
fn split_safetensors(bytes: &[u8]) -> (serde_json::Value, Vec<u8>) {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    (serde_json::from_slice(&bytes[8..8 + n]).unwrap(), bytes[8 + n..].to_vec())
}

fn join_safetensors(header: &serde_json::Value, data: &[u8]) -> Vec<u8> {
    let json = serde_json::to_vec(header).unwrap();
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend(json);
    out.extend(data);
    out
}

/// Values a header field may be set to: huge, negative, wrong type, absent.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::json;
    prop_oneof![
        Just(json!(0)),
        Just(json!(-1)),
        Just(json!(u64::MAX)),
        Just(json!(1u64 << 40)),
        Just(json!(1e308)),
        Just(json!(0.5)),
        Just(json!("F64")),
        Just(json!("BOOL")),
        Just(json!(null)),
        Just(json!([])),
        Just(json!([1u64 << 62, 1u64 << 62])),
        Just(json!([0, 4])),
        Just(json!([4, 0])),
        any::<u32>().prop_map(|v| json!(v)),
    ]
}

/// Sets `header[tensor][field]` (or deletes it when `value` is None).
fn mutate_header(header: &mut serde_json::Value, tensor: &str, field: &str, value: Option<serde_json::Value>) {
    let entry = header.get_mut(tensor).and_then(|t| t.as_object_mut()).unwrap();
    match value {
        Some(v) => entry.insert(field.to_string(), v),
        None => entry.remove(field),
    };
}

fn check_checkpoint(path: &Path) {
    match Checkpoint::load(path) {
        Ok(checkpoint) => {
            for t in &checkpoint.tensors {
                assert_eq!(t.data.len(), t.shape.iter().product::<usize>(), "{}: data does not fit shape", t.name);
                // Looking a tensor up under the shape the model expects is an error, not a panic.
                if let Err(e) = checkpoint.tensor(path, &t.name, &[4, 1, 3, 3]) {
                    assert_names(&e.to_string(), path);
                }
            }
        }
        Err(e) => assert_names(&e.to_string(), path),
    }
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn checkpoint_byte_corruptions(c in corruption()) {
        let scratch = ScratchDir::new("prop-ckpt");
        let path = scratch.path().join("checkpoint.safetensors");
        sample_checkpoint().save(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        // Header length is little-endian: SetWord at word 0 or 1 makes it huge.
        std::fs::write(&path, apply(&c, 2, &bytes)).unwrap();
        let ((), largest) = largest_allocation(|| check_checkpoint(&path));
        prop_assert!(largest <= 2 * bytes.len() + SLACK, "allocated {largest} bytes");
    }

    /// Inconsistent headers: offsets, shapes and dtypes that disagree with the data.
    #[test]
    fn checkpoint_header_corruptions(
        tensor in prop::sample::select(vec!["conv1.weight", "bn1.running_var", "fc.bias"]),
        field in prop::sample::select(vec!["dtype", "shape", "data_offsets"]),
        value in prop::option::of(json_value()),
    ) {
        let scratch = ScratchDir::new("prop-ckpt-header");
        let path = scratch.path().join("checkpoint.safetensors");
        sample_checkpoint().save(&path).unwrap();
        let (mut header, data) = split_safetensors(&std::fs::read(&path).unwrap());
        mutate_header(&mut header, tensor, field, value);
        std::fs::write(&path, join_safetensors(&header, &data)).unwrap();
        let ((), largest) = largest_allocation(|| check_checkpoint(&path));
        prop_assert!(largest <= 2 * data.len() + SLACK, "allocated {largest} bytes");
    }
}

#[test]
fn checkpoint_truncated_at_every_offset() {
    let scratch = ScratchDir::new("ckpt-every");
    let path = scratch.path().join("checkpoint.safetensors");
    sample_checkpoint().save(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    for len in 0..bytes.len() {
        std::fs::write(&path, &bytes[..len]).unwrap();
        let error = Checkpoint::load(&path).unwrap_err().to_string();
        assert_names(&error, &path);
    }
}

#[test]
fn checkpoint_wrong_dtype_and_missing_file() {
    let scratch = ScratchDir::new("ckpt-dtype");
    let path = scratch.path().join("checkpoint.safetensors");
    sample_checkpoint().save(&path).unwrap();
    let (mut header, data) = split_safetensors(&std::fs::read(&path).unwrap());
    // Same byte count: 4 f32 = 2 f64 = 16 bytes.
    mutate_header(&mut header, "bn1.running_var", "dtype", Some("F64".into()));
    mutate_header(&mut header, "bn1.running_var", "shape", Some(serde_json::json!([2])));
    std::fs::write(&path, join_safetensors(&header, &data)).unwrap();
    let error = Checkpoint::load(&path).unwrap_err().to_string();
    assert!(error.contains("F64") && error.contains("f32 only") && error.contains("checkpoint.safetensors"), "{error}");

    let error = Checkpoint::load(&scratch.path().join("nothing.safetensors")).unwrap_err().to_string();
    assert!(error.contains("nothing.safetensors") && error.contains("--out"), "{error}");
    // A tensor whose data does not fit its shape is refused when saving, not a panic.
    let mut bad = Checkpoint::default();
    bad.push("w", &[3, 3], vec![0.0; 4]);
    let error = bad.save(&path).unwrap_err().to_string();
    assert!(error.contains("\"w\"") && error.contains("[3, 3]"), "{error}");
}

// ---------------------------------------------------------------------------------------
// run.json.

fn sample_run() -> RunFile {
    RunFile {
        sturdy_version: "0.1.0".into(),
        config: RunConfig {
            dataset: DatasetKind::FashionMnist,
            data_dir: Some("data/fashion-mnist".into()),
            train_limit: Some(320),
            test_limit: None,
            model: ModelKind::Smallcnn,
            shortcut: Shortcut::A,
            width: 0.5,
            epochs: 2,
            batch_size: 32,
            seed: 7,
            lr: 0.05,
            schedule: ScheduleKind::Cosine,
            warmup_epochs: 0.0,
            milestones: vec![100, 150],
            gamma: 0.1,
            sgd: SgdConfig { momentum: 0.9, nesterov: false, weight_decay: 5e-4, decay_norm: false },
            augment: Augment { crop_padding: 4, flip: true },
            recipe: Recipe::MixupNoise,
            mixup_alpha: 1.0,
            activation: TrainActivation::Noise { config: NoiseConfig::new(8), bound: Some(4.0) },
            init_from: None,
        },
        normalization: Normalization { mean: vec![0.286], std: vec![0.353] },
    }
}

/// The JSON paths of every number in run.json.
const RUN_FIELDS: [&str; 15] = [
    "/config/mixup_alpha",
    "/config/train_limit",
    "/config/test_limit",
    "/config/width",
    "/config/epochs",
    "/config/batch_size",
    "/config/seed",
    "/config/lr",
    "/config/warmup_epochs",
    "/config/gamma",
    "/config/sgd/momentum",
    "/config/sgd/weight_decay",
    "/config/augment/crop_padding",
    "/normalization/mean",
    "/normalization/std",
];

/// The ranges `sturdy train` enforces, restated: a loaded run must satisfy them.
fn assert_run_in_range(run: &RunFile) {
    let c = &run.config;
    assert!(c.width > 0.0 && c.lr > 0.0 && c.warmup_epochs >= 0.0, "{c:?}");
    assert!((0.0..=1.0).contains(&c.gamma) && (0.0..=1.0).contains(&c.sgd.momentum), "{c:?}");
    assert!(c.epochs >= 1 && c.batch_size >= 2 && c.sgd.weight_decay >= 0.0, "{c:?}");
    assert!(c.train_limit != Some(0) && c.test_limit != Some(0) && c.augment.crop_padding <= 28, "{c:?}");
    let n = &run.normalization;
    assert!(n.mean.len() == 1 && n.std.len() == 1 && n.std[0] > 0.0 && n.std[0].is_finite(), "{n:?}");
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn run_file_corruptions(c in corruption()) {
        let scratch = ScratchDir::new("prop-run");
        sample_run().save(scratch.path()).unwrap();
        let path = scratch.path().join("run.json");
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, apply(&c, 0, &bytes)).unwrap();
        match RunFile::load(scratch.path()) {
            Ok(run) => assert_run_in_range(&run),
            Err(e) => assert_names(&format!("{e:#}"), &path),
        }
    }

    #[test]
    fn run_file_field_values(field in prop::sample::select(RUN_FIELDS.to_vec()), value in json_value()) {
        let scratch = ScratchDir::new("prop-run-field");
        let mut json = serde_json::to_value(sample_run()).unwrap();
        *json.pointer_mut(field).unwrap() = value;
        let path = scratch.path().join("run.json");
        std::fs::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
        match RunFile::load(scratch.path()) {
            Ok(run) => assert_run_in_range(&run),
            Err(e) => assert_names(&format!("{e:#}"), &path),
        }
    }
}

#[test]
fn run_file_out_of_range_values_are_named() {
    let scratch = ScratchDir::new("run-range");
    for (field, value, expected) in [
        ("/config/batch_size", serde_json::json!(1), "batch_size is 1, must be >= 2"),
        ("/config/epochs", serde_json::json!(0), "epochs is 0"),
        ("/config/width", serde_json::json!(0.0), "width is 0"),
        ("/config/lr", serde_json::json!(-1.0), "lr is -1"),
        ("/config/sgd/momentum", serde_json::json!(1.5), "momentum is 1.5, must be in [0, 1]"),
        ("/config/augment/crop_padding", serde_json::json!(1000), "crop_padding is 1000"),
        ("/normalization/std", serde_json::json!([0.0]), "std 0 must be finite and > 0"),
        ("/normalization/mean", serde_json::json!([0.1, 0.2, 0.3]), "1 channels"),
    ] {
        let mut json = serde_json::to_value(sample_run()).unwrap();
        *json.pointer_mut(field).unwrap() = value;
        std::fs::write(scratch.path().join("run.json"), serde_json::to_vec(&json).unwrap()).unwrap();
        let error = format!("{:#}", RunFile::load(scratch.path()).unwrap_err());
        assert!(error.contains("run.json") && error.contains(expected), "{field}: {error}");
    }
    let error = format!("{:#}", RunFile::load(&scratch.path().join("absent")).unwrap_err());
    assert!(error.contains("run.json") && error.contains("sturdy train --out"), "{error}");
}

// ---------------------------------------------------------------------------------------
// The exported approximation (`sturdy approx --json`).

fn export_bytes() -> Vec<u8> {
    serde_json::to_vec_pretty(&ReluExport::from(ReluApprox::get(9).unwrap())).unwrap()
}

/// JSON paths of the export's numbers and lists.
const EXPORT_FIELDS: [&str; 16] = [
    "/alpha",
    "/eps",
    "/measured_error",
    "/measured_log2_error",
    "/sign_error",
    "/costs/openfhe/depth",
    "/costs/depth_optimal/products",
    "/total_degree",
    "/components",
    "/components/0/degree",
    "/components/0/radius",
    "/components/0/fit_interval",
    "/components/0/error",
    "/components/0/chebyshev",
    "/components/1/power",
    "/components/1/chebyshev/3",
];

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn export_corruptions(c in corruption()) {
        let scratch = ScratchDir::new("prop-export");
        let path = scratch.path().join("relu9.json");
        std::fs::write(&path, apply(&c, 0, &export_bytes())).unwrap();
        match ReluExport::load(&path) {
            Ok(e) => prop_assert_eq!(e.validate(), Ok(())),
            Err(e) => assert_names(&e.to_string(), &path),
        }
    }

    #[test]
    fn export_field_values(field in prop::sample::select(EXPORT_FIELDS.to_vec()), value in json_value()) {
        let scratch = ScratchDir::new("prop-export-field");
        let mut json: serde_json::Value = serde_json::from_slice(&export_bytes()).unwrap();
        *json.pointer_mut(field).unwrap() = value;
        let path = scratch.path().join("relu9.json");
        std::fs::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
        match ReluExport::load(&path) {
            Ok(e) => prop_assert_eq!(e.validate(), Ok(())),
            Err(e) => assert_names(&e.to_string(), &path),
        }
    }
}

#[test]
fn export_schema_violations_are_named() {
    let scratch = ScratchDir::new("export-schema");
    let path = scratch.path().join("relu9.json");
    let valid: serde_json::Value = serde_json::from_slice(&export_bytes()).unwrap();
    std::fs::write(&path, serde_json::to_vec(&valid).unwrap()).unwrap();
    assert_eq!(ReluExport::load(&path).unwrap().alpha, 9);
    use serde_json::json;
    for (field, value, expected) in [
        ("/format", json!("sturdy-relu-poly/1"), "format is \"sturdy-relu-poly/1\""),
        ("/he/components/0/chebyshev_openfhe/1", json!(7.0), "chebyshev_openfhe is not chebyshev"),
        ("/he/components/0/degree", json!(5), "he components have degrees"),
        ("/alpha", json!(3), "alpha 3 is outside 4..=20"),
        ("/alpha", json!(21), "alpha 21 is outside 4..=20"),
        ("/components/0/degree", json!(8), "component 1: degree 8 must be odd"),
        ("/components/0/chebyshev", json!([0.0, 1.0]), "component 1: 2 chebyshev coefficients"),
        ("/components/0/chebyshev/1", json!(null), "invalid type: null"),
        ("/components/0/chebyshev/2", json!(0.5), "expected 0 (p is odd)"),
        ("/components/0/radius", json!(-1.0), "radius -1 must be finite and > 0"),
        ("/components", json!([]), "0 components"),
        ("/costs/openfhe/depth", json!(99), "but degrees"),
        ("/total_degree", json!(99), "total_degree is 99"),
        ("/eps", json!(1.5), "eps 1.5 must lie in (0, 1)"),
    ] {
        let mut bad = valid.clone();
        *bad.pointer_mut(field).unwrap() = value;
        std::fs::write(&path, serde_json::to_vec(&bad).unwrap()).unwrap();
        let error = ReluExport::load(&path).unwrap_err().to_string();
        assert!(error.contains("relu9.json") && error.contains(expected), "{field}: {error}");
    }
    // 1e400 does not fit an f64: serde_json refuses it rather than reading infinity.
    let text = serde_json::to_string(&valid).unwrap().replacen("\"eps\":", "\"eps\":1e400,\"x\":", 1);
    std::fs::write(&path, text).unwrap();
    let error = ReluExport::load(&path).unwrap_err().to_string();
    assert!(error.contains("relu9.json") && error.contains("out of range"), "{error}");
}
