//! The WGSL sources in `shaders/`, embedded at build time, and their front-end checks.

use naga::valid::{Capabilities, ModuleInfo, ValidationFlags, Validator};

include!(concat!(env!("OUT_DIR"), "/shaders.rs"));

/// The source of `shaders/{name}.wgsl`.
pub fn source(name: &str) -> Option<&'static str> {
    SHADER_SOURCES.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// Parses and validates a shader with naga; errors name the file and line.
pub fn parse(name: &str, source: &str) -> Result<(naga::Module, ModuleInfo), String> {
    let path = format!("shaders/{name}.wgsl");
    let module = naga::front::wgsl::parse_str(source).map_err(|e| e.emit_to_string_with_path(source, &path))?;
    // f16 and subgroup operations are allowed in shaders; a device without SHADER_F16 or
    // SUBGROUP refuses to run the shaders that use them.
    let info = Validator::new(ValidationFlags::all(), Capabilities::SHADER_FLOAT16 | Capabilities::SUBGROUP)
        .validate(&module)
        .map_err(|e| e.emit_to_string_with_path(source, &path))?;
    Ok((module, info))
}

/// Resolves `override` constants (defaults where `constants` is silent).
pub fn specialise(
    module: &naga::Module,
    info: &ModuleInfo,
    constants: &[(&str, f64)],
) -> Result<(naga::Module, ModuleInfo), String> {
    let mut values = naga::back::PipelineConstants::default();
    for (name, value) in constants {
        values.insert(name.to_string(), *value);
    }
    let (module, info) =
        naga::back::pipeline_constants::process_overrides(module, info, None, &values).map_err(|e| e.to_string())?;
    Ok((module.into_owned(), info.into_owned()))
}

/// Translates a shader to SPIR-V, MSL and HLSL, the languages of the Vulkan, Metal
/// and DX12 backends, so a shader that only one backend accepts fails on every machine.
pub fn translate_for_all_backends(name: &str, source: &str) -> Result<(), String> {
    let (module, info) = parse(name, source)?;
    // Overrides the host always sets (they have no default) get any value: only the
    // translation is checked here.
    let unset: Vec<(&str, f64)> = module
        .overrides
        .iter()
        .filter(|(_, o)| o.init.is_none())
        .filter_map(|(_, o)| o.name.as_deref())
        .map(|n| (n, 0.0))
        .collect();
    let (module, info) = specialise(&module, &info, &unset).map_err(|e| format!("{name}: overrides: {e}"))?;
    naga::back::spv::write_vec(&module, &info, &Default::default(), None)
        .map_err(|e| format!("{name}: SPIR-V: {e}"))?;
    naga::back::msl::write_string(&module, &info, &Default::default(), &Default::default())
        .map_err(|e| format!("{name}: MSL: {e}"))?;
    let hlsl_options = naga::back::hlsl::Options { fake_missing_bindings: true, ..Default::default() };
    let mut hlsl = String::new();
    naga::back::hlsl::Writer::new(&mut hlsl, &hlsl_options, &Default::default())
        .write(&module, &info, None)
        .map_err(|e| format!("{name}: HLSL: {e}"))?;
    Ok(())
}
