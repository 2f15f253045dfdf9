//! Writes that never leave a half-written file: a reader sees the old content or the
//! new, even if the process is killed mid-write or the disk fills up.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Writes `bytes` to a temporary file beside `path`, syncs it, then renames it over `path`.
pub fn write_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_files(&[(path, bytes)])
}

/// [`write_file`] for files that belong together (a report's formats, an export's
/// weights and manifest): every file is written and synced beside its target before
/// any is renamed, so a full disk leaves all of the previous files, not a mix.
pub fn write_files(files: &[(&Path, &[u8])]) -> io::Result<()> {
    let mut written: Vec<(PathBuf, &Path)> = Vec::new();
    for &(path, bytes) in files {
        match write_temporary(path, bytes) {
            Ok(temporary) => written.push((temporary, path)),
            Err(error) => {
                for (temporary, _) in &written {
                    let _ = fs::remove_file(temporary);
                }
                return Err(error);
            }
        }
    }
    for (temporary, path) in &written {
        fs::rename(temporary, path).inspect_err(|_| {
            let _ = fs::remove_file(temporary);
        })?;
    }
    Ok(())
}

/// The synced temporary copy of `bytes` beside `path`; removed again if writing fails.
fn write_temporary(path: &Path, bytes: &[u8]) -> io::Result<PathBuf> {
    let file_name =
        path.file_name().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let temporary = path.with_file_name(format!(".{}.tmp{}", file_name.to_string_lossy(), std::process::id()));
    let write = || -> io::Result<()> {
        let mut file = fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()
    };
    write().map(|()| temporary.clone()).map_err(|error| {
        let _ = fs::remove_file(&temporary);
        explain(error, bytes.len())
    })
}

/// `bytes` as a person reads it: "812 bytes", "21.3 KiB", "104.2 MiB".
fn size(bytes: usize) -> String {
    match bytes as f64 {
        b if b < 1024.0 => format!("{bytes} bytes"),
        b if b < 1024.0 * 1024.0 => format!("{:.1} KiB", b / 1024.0),
        b => format!("{:.1} MiB", b / (1024.0 * 1024.0)),
    }
}

/// Says how much room a write needed when the disk (or a file-size limit) had too little,
/// and that nothing was replaced.
fn explain(error: io::Error, bytes: usize) -> io::Error {
    match error.kind() {
        io::ErrorKind::StorageFull | io::ErrorKind::FileTooLarge | io::ErrorKind::QuotaExceeded => io::Error::new(
            error.kind(),
            format!(
                "{error}: it needs {} free; nothing was replaced.\n  Fix: free disk space, or write to another folder",
                size(bytes)
            ),
        ),
        _ => error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("sturdy-atomic-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("file.json");
        write_file(&path, b"old").unwrap();
        write_file(&path, b"new").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        let entries: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(entries.len(), 1, "temporary files left behind: {entries:?}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
