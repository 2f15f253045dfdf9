//! Embeds every `shaders/*.wgsl` file into the binary, so adding a kernel needs no
//! registry edit and a shader is always compiled from the source the binary was built with.
//! WGSL has no include: every shader gets `shaders/common/*.wgsl` appended (after its own
//! text, so that error line numbers still point into the shader's file; module-scope
//! declarations may come in any order), and before them each `shaders/include/NAME.wgsl`
//! it names in a line `// include: NAME`: code that reads bindings, which only the shaders
//! declaring them can take.

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

/// The `shaders/include/NAME.wgsl` files that `shader` names in lines `// include: NAME`.
fn includes(shader: &Path, include_dir: &Path) -> Vec<PathBuf> {
    let text = fs::read_to_string(shader).unwrap_or_else(|e| panic!("{}: {e}", shader.display()));
    let names = text.lines().filter_map(|line| line.trim().strip_prefix("// include:")).map(str::trim);
    let paths: Vec<PathBuf> = names.map(|name| include_dir.join(format!("{name}.wgsl"))).collect();
    if let Some(missing) = paths.iter().find(|path| !path.is_file()) {
        panic!("{} includes {}, which does not exist", shader.display(), missing.display());
    }
    paths
}

fn main() {
    let shader_dir = Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap()).join("shaders");
    let common: Vec<String> = wgsl_files(&shader_dir.join("common")).iter().map(|path| include(path)).collect();
    let include_dir = shader_dir.join("include");
    println!("cargo:rerun-if-changed={}", include_dir.display());
    let mut table = String::from("pub const SHADER_SOURCES: &[(&str, &str)] = &[\n");
    for path in wgsl_files(&shader_dir) {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let parts: Vec<String> = std::iter::once(include(&path))
            .chain(includes(&path, &include_dir).iter().map(|path| include(path)))
            .chain(common.iter().cloned())
            .collect();
        table += &format!("    ({name:?}, concat!({})),\n", parts.join(", "));
    }
    table += "];\n";
    fs::write(Path::new(&env::var("OUT_DIR").unwrap()).join("shaders.rs"), table).unwrap();
}
