//! Embeds every `shaders/*.wgsl` file into the binary, so adding a kernel needs no
//! registry edit and a shader is always compiled from the source the binary was built with.

use std::{env, fs, path::Path};

fn main() {
    let shader_dir = Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap()).join("shaders");
    println!("cargo:rerun-if-changed={}", shader_dir.display());
    let mut names: Vec<String> = fs::read_dir(&shader_dir)
        .expect("shaders/ directory")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "wgsl"))
        .map(|path| path.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut table = String::from("pub const SHADER_SOURCES: &[(&str, &str)] = &[\n");
    for name in &names {
        let path = shader_dir.join(format!("{name}.wgsl"));
        println!("cargo:rerun-if-changed={}", path.display());
        table += &format!("    ({name:?}, include_str!({:?})),\n", path.display().to_string());
    }
    table += "];\n";
    fs::write(Path::new(&env::var("OUT_DIR").unwrap()).join("shaders.rs"), table).unwrap();
}
