use sturdy::gpu::shaders::{translate_for_all_backends, SHADER_SOURCES};

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
