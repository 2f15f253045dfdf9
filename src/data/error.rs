use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong reading a dataset. Each variant names the file, what was
/// expected of it, and (`fix`) how to get a good copy.
#[derive(Debug, Error)]
pub enum DataError {
    #[error("{path}: not found ({expected}); to get it: {fix}")]
    Missing { path: PathBuf, expected: String, fix: String },

    #[error("{path}: cannot read: {source}; to get a good copy: {fix}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
        fix: String,
    },

    #[error("{path}: truncated: expected {expected} bytes, found {found}; to get a good copy: {fix}")]
    Truncated { path: PathBuf, expected: u64, found: u64, fix: String },

    #[error("{path}: wrong magic number 0x{found:08x}, expected 0x{expected:08x} ({what}); to get a good copy: {fix}")]
    BadMagic { path: PathBuf, expected: u32, found: u32, what: String, fix: String },

    #[error("{path}: bad format: {detail}; to get a good copy: {fix}")]
    Format { path: PathBuf, detail: String, fix: String },

    #[error("{path}: label {label} of item {index} is out of range (expected < {classes}); to get a good copy: {fix}")]
    LabelOutOfRange { path: PathBuf, index: usize, label: u32, classes: usize, fix: String },

    #[error("{images_path} holds {images} images but {labels_path} holds {labels} labels; to get a good copy: {fix}")]
    CountMismatch { images_path: PathBuf, images: usize, labels_path: PathBuf, labels: usize, fix: String },

    #[error("{path}: cannot decode image: {source}; to get a good copy: {fix}")]
    Decode {
        path: PathBuf,
        #[source]
        source: image::ImageError,
        fix: String,
    },
}

impl DataError {
    /// An I/O error on `path`, except that a missing file becomes [`DataError::Missing`] and
    /// a stream that ends early (a cut-off gzip member) becomes a truncation.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error, expected: &str, fix: &str) -> Self {
        let path = path.into();
        match source.kind() {
            std::io::ErrorKind::NotFound => {
                DataError::Missing { path, expected: expected.to_string(), fix: fix.to_string() }
            }
            std::io::ErrorKind::UnexpectedEof => DataError::Format {
                path,
                detail: format!("truncated compressed stream ({source})"),
                fix: fix.to_string(),
            },
            _ => DataError::Io { path, source, fix: fix.to_string() },
        }
    }
}
