//! What each fuzz target does with its input, shared by `fuzz/` (libFuzzer, run for
//! minutes or hours) and `tests/fuzz_regressions.rs` (replays every input that once
//! crashed, in CI). Each target writes the bytes where a user's file would be, next to
//! valid companion files, and calls the loader a command would call. The property is
//! libFuzzer's: no panic, no abort, no runaway allocation; errors are expected.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use sturdy::data::synthetic::{self, IdxCompression};
use sturdy::data::{self, DatasetKind, Split};

/// What a target does with one input.
pub type Target = fn(&[u8]);

/// The targets, by name (the file names of `fuzz/fuzz_targets/`).
pub const TARGETS: [(&str, Target); 9] = [
    ("idx", idx),
    ("cifar", cifar),
    ("tiny_imagenet", tiny_imagenet),
    ("checkpoint", checkpoint),
    ("run_file", run_file),
    ("study", study),
    ("relu_export", relu_export),
    ("site_alphas", site_alphas),
    ("pann_export", pann_export),
];

/// Removes this process's folders (libFuzzer leaves them; a test calls this at its end).
pub fn clean_up() {
    let suffix = format!("-{}", std::process::id());
    for entry in std::fs::read_dir(std::env::temp_dir()).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("sturdy-fuzz-") && name.ends_with(&suffix) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A folder of this process's own, emptied for each input.
fn work_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sturdy-fuzz-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A folder of valid files made once per process by `write`, copied into a fresh work dir.
fn from_template(name: &str, template: &OnceLock<PathBuf>, write: impl FnOnce(&Path)) -> PathBuf {
    let source = template.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("sturdy-fuzz-{name}-template-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        write(&dir);
        dir
    });
    let work = work_dir(name);
    copy_tree(source, &work);
    work
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The first byte picks a variant (of `count`), the rest is the file's content.
fn split(data: &[u8], count: u8) -> (u8, &[u8]) {
    match data.split_first() {
        Some((&first, rest)) => (first % count, rest),
        None => (0, data),
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Fashion-MNIST test images or labels, plain or gzipped (detected by magic, as the loader does).
pub fn idx(data: &[u8]) {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    let dir = from_template("idx", &TEMPLATE, |d| {
        synthetic::write_idx_like(d, 4, 4, 1, IdxCompression::Plain).unwrap();
    });
    let (variant, bytes) = split(data, 4);
    let name = if variant % 2 == 0 { "t10k-images-idx3-ubyte" } else { "t10k-labels-idx1-ubyte" };
    let content = if variant < 2 { bytes.to_vec() } else { gzip(bytes) };
    std::fs::write(dir.join(name), content).unwrap();
    let _ = data::load(DatasetKind::FashionMnist, &dir, Split::Test);
}

/// CIFAR-10's test records in the extracted folder, or the official .tar.gz (as given, or
/// the input as the tar inside a valid gzip stream, to reach the tar reader).
pub fn cifar(data: &[u8]) {
    let dir = work_dir("cifar");
    let (variant, bytes) = split(data, 3);
    let folder = dir.join(data::cifar::CIFAR10_FOLDER);
    match variant {
        0 => {
            std::fs::create_dir_all(&folder).unwrap();
            std::fs::write(folder.join(data::cifar::CIFAR10_TEST_FILE), bytes).unwrap();
        }
        1 => std::fs::write(dir.join(data::cifar::CIFAR10_TARBALL), bytes).unwrap(),
        _ => std::fs::write(dir.join(data::cifar::CIFAR10_TARBALL), gzip(bytes)).unwrap(),
    }
    let _ = data::load(DatasetKind::Cifar10, &dir, Split::Test);
}

/// Tiny ImageNet's class list, validation annotations, or one of its JPEGs.
pub fn tiny_imagenet(data: &[u8]) {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    let dir = from_template("tiny", &TEMPLATE, |d| {
        synthetic::write_tiny_imagenet_like(d, 2, 1, 1, 1).unwrap();
    });
    let root = dir.join(data::tiny_imagenet::FOLDER);
    let (variant, bytes) = split(data, 3);
    let target = match variant {
        0 => root.join("wnids.txt"),
        1 => root.join("val").join("val_annotations.txt"),
        _ => std::fs::read_dir(root.join("val").join("images")).unwrap().next().unwrap().unwrap().path(),
    };
    std::fs::write(target, bytes).unwrap();
    let _ = data::load(DatasetKind::TinyImageNet, &dir, Split::Test);
}

/// A training checkpoint (safetensors).
pub fn checkpoint(data: &[u8]) {
    let path = work_dir("checkpoint").join("checkpoint.safetensors");
    std::fs::write(&path, data).unwrap();
    let _ = sturdy::checkpoint::Checkpoint::load(&path);
}

/// A run folder's run.json.
pub fn run_file(data: &[u8]) {
    let dir = work_dir("run-file");
    std::fs::write(dir.join(sturdy::train::config::RUN_FILE), data).unwrap();
    let _ = sturdy::train::RunFile::load(&dir);
}

/// A study file (TOML), parsed and expanded into its cells.
pub fn study(data: &[u8]) {
    if let Ok(spec) = sturdy::study::spec::StudySpec::parse(&String::from_utf8_lossy(data), "fuzz.toml") {
        // A parsed grid must expand without panicking, whatever its size claims.
        let _ = sturdy::study::spec::cells(&spec).len();
    }
}

/// A polynomial export written by `sturdy approx --json`.
pub fn relu_export(data: &[u8]) {
    let path = work_dir("relu-export").join("relu.json");
    std::fs::write(&path, data).unwrap();
    let _ = sturdy::poly::export::ReluExport::load(&path);
}

/// A per-site assignment of alphas (`sturdy export --site-alphas`), read and checked
/// against a small CNN's sites.
pub fn site_alphas(data: &[u8]) {
    let path = work_dir("site-alphas").join("run.site-alphas.json");
    std::fs::write(&path, data).unwrap();
    if let Ok(assignment) = sturdy::export::assignment::read(&path) {
        let sites: Vec<String> = ["stem.relu", "block0.relu1", "block0.relu2"].map(String::from).into();
        let _ = sturdy::export::assignment::resolve(&assignment, &sites, 9, "fuzz");
    }
}

/// An export's manifest (`sturdy predict --export`, `interop/openfhe/infer`), read with
/// its schema version, polynomials, site table and weights file checked.
pub fn pann_export(data: &[u8]) {
    let stem = work_dir("pann-export").join("net");
    std::fs::write(stem.with_extension("json"), data).unwrap();
    let _ = sturdy::export::load::load(&stem);
}
