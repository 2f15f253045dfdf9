use sturdy::gpu::reflect;
use sturdy::gpu::shaders::{translate_for_all_backends, SHADER_SOURCES};

use crate::harness::gpu;

/// Every shader must translate to SPIR-V (Vulkan), MSL (Metal) and HLSL (DX12): only
/// Vulkan runs here, so this is what catches a shader the other backends reject.
#[test]
fn every_shader_translates_for_every_backend() {
    assert!(!SHADER_SOURCES.is_empty(), "build.rs found no shaders");
    let failures: Vec<String> =
        SHADER_SOURCES.iter().filter_map(|(name, source)| translate_for_all_backends(name, source).err()).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn a_broken_shader_is_reported_with_its_name_and_line() {
    let error = translate_for_all_backends("broken", "fn f() -> f32 {\n  return 1.0 +;\n}\n").unwrap_err();
    assert!(error.contains("shaders/broken.wgsl:2"), "{error}");
}

/// The host-shader contract: every `var<uniform>` of every shader has one Rust mirror in
/// `ops::uniform_mirrors` with the same members at the same offsets, and every mirror
/// names a uniform that exists. A drift prints both layouts.
#[test]
fn every_shader_uniform_has_a_rust_mirror_with_its_layout() {
    let mirrors = sturdy::ops::uniform_mirrors();
    let mut failures = Vec::new();
    for (shader, _) in SHADER_SOURCES {
        for (variable, layout) in reflect::uniforms(shader).unwrap() {
            let found: Vec<_> = mirrors.iter().filter(|m| m.shader == *shader && m.variable == variable).collect();
            match found.as_slice() {
                [mirror] if mirror.layout == layout => {}
                [mirror] => failures.push(format!(
                    "{shader}.wgsl {variable} against {}:\n  Rust:\n{}\n  shader:\n{layout}",
                    mirror.type_name, mirror.layout
                )),
                _ => failures.push(format!("{shader}.wgsl {variable}: {} Rust mirrors, expected one", found.len())),
            }
        }
    }
    for mirror in &mirrors {
        let exists = reflect::uniforms(mirror.shader).is_ok_and(|u| u.iter().any(|(v, _)| v == mirror.variable));
        if !exists {
            failures.push(format!(
                "{} mirrors {}.wgsl {}, which does not exist",
                mirror.type_name, mirror.shader, mirror.variable
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The check itself fails on a drift: a struct with two members swapped.
#[test]
fn a_uniform_that_drifted_from_its_shader_is_rejected_with_both_layouts() {
    sturdy::uniform! {
        struct Swapped {
            value: u32,
            len: u32,
        }
    }
    let kernel = gpu().kernel("fill", "fill", &[]).unwrap();
    let out = gpu().zeros(&[4]).unwrap();
    let params = gpu().uniform(&Swapped { value: 0, len: 4 });
    let error = gpu().dispatch_1d(&kernel, &[("params", &params), ("out", &out)], 4).err().unwrap().to_string();
    assert!(
        error.contains("Swapped") && error.contains("0   4 U32 value") && error.contains("0   4 U32 len"),
        "{error}"
    );
}
