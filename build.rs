//! Embeds every `shaders/*.wgsl` file into the binary, so adding a kernel needs no
//! registry edit and a shader is always compiled from the source the binary was built with.
//! WGSL has no include: every shader gets `shaders/common/*.wgsl` appended (after its own
//! text, so that error line numbers still point into the shader's file; module-scope
//! declarations may come in any order).

use std::path::{Path, PathBuf};
use std::{env, fs};

/// The `.wgsl` files directly in `dir`, sorted; `dir` itself is watched for new files.
fn wgsl_files(dir: &Path) -> Vec<PathBuf> {
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "wgsl"))
        .collect();
    paths.sort();
    paths
}

/// `include_str!` of `path`, watched for changes.
fn include(path: &Path) -> String {
    println!("cargo:rerun-if-changed={}", path.display());
    format!("include_str!({:?})", path.display().to_string())
}

fn main() {
    let shader_dir = Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap()).join("shaders");
    let common: Vec<String> = wgsl_files(&shader_dir.join("common")).iter().map(|path| include(path)).collect();
    let mut table = String::from("pub const SHADER_SOURCES: &[(&str, &str)] = &[\n");
    for path in wgsl_files(&shader_dir) {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        table += &format!("    ({name:?}, concat!({}, {})),\n", include(&path), common.join(", "));
    }
    table += "];\n";
    fs::write(Path::new(&env::var("OUT_DIR").unwrap()).join("shaders.rs"), table).unwrap();
}
