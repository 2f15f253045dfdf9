//! The shader side of the host-shader contract, as naga reads it: each entry point's
//! bindings by name (with the layout of every uniform struct) and its workgroup size, and
//! the values of a shader's module-scope constants that the host needs (block sizes).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use naga::{Module, ScalarKind, TypeInner};

use super::shaders;
use super::uniform::{Layout, Leaf, Scalar};

/// How an entry point sees one of its bindings.
#[derive(Clone, Debug)]
pub struct BindingInfo {
    pub name: String,
    pub binding: u32,
    /// The struct's layout for a `var<uniform>`; `None` for storage buffers and textures.
    pub uniform: Option<Layout>,
    /// Whether the entry point reads it, and whether it writes it.
    pub reads: bool,
    pub writes: bool,
}

/// What the host must know to bind and launch one entry point.
#[derive(Clone, Debug)]
pub struct EntryReflection {
    /// The bindings the entry point uses, by binding number.
    pub bindings: Vec<BindingInfo>,
    /// Names of every binding the shader declares, used or not by this entry point.
    pub declared: Vec<String>,
    pub workgroup_size: [u32; 3],
}

type Parsed = Arc<(Module, naga::valid::ModuleInfo)>;

/// A shader parsed and validated once per process.
fn parsed(shader: &str) -> Result<Parsed, String> {
    static CACHE: OnceLock<Mutex<HashMap<String, Parsed>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(parsed) = cache.lock().unwrap().get(shader) {
        return Ok(parsed.clone());
    }
    let source = shaders::source(shader).ok_or_else(|| format!("no file shaders/{shader}.wgsl"))?;
    let parsed = Arc::new(shaders::parse(shader, source)?);
    cache.lock().unwrap().insert(shader.to_string(), parsed.clone());
    Ok(parsed)
}

/// The bindings and workgroup size of `entry` once `constants` are applied.
pub fn entry_point(shader: &str, entry: &str, constants: &[(&str, f64)]) -> Result<EntryReflection, String> {
    let parsed = parsed(shader)?;
    let (module, info) = shaders::specialise(&parsed.0, &parsed.1, constants)?;
    let (index, entry_point) = module
        .entry_points
        .iter()
        .enumerate()
        .find(|(_, ep)| ep.name == entry)
        .ok_or_else(|| format!("no entry point named {entry}"))?;
    let uses = info.get_entry_point(index);
    let mut bindings = Vec::new();
    let mut declared = Vec::new();
    for (handle, var) in module.global_variables.iter() {
        let Some(binding) = &var.binding else { continue };
        let name = var.name.clone().ok_or_else(|| format!("binding {} has no name", binding.binding))?;
        declared.push(name.clone());
        if uses[handle].is_empty() {
            continue;
        }
        let uniform = match var.space {
            naga::AddressSpace::Uniform => Some(layout(&module, var.ty)?),
            _ => None,
        };
        let (reads, writes) = (uses[handle].contains(naga::valid::GlobalUse::READ), uses[handle].contains(naga::valid::GlobalUse::WRITE));
        bindings.push(BindingInfo { name, binding: binding.binding, uniform, reads, writes });
    }
    bindings.sort_unstable_by_key(|b| b.binding);
    Ok(EntryReflection { bindings, declared, workgroup_size: entry_point.workgroup_size })
}

/// Every `var<uniform>` of a shader with its struct's layout, for the test that checks
/// each against its Rust mirror.
pub fn uniforms(shader: &str) -> Result<Vec<(String, Layout)>, String> {
    let parsed = parsed(shader)?;
    let module = &parsed.0;
    module
        .global_variables
        .iter()
        .filter(|(_, var)| var.space == naga::AddressSpace::Uniform)
        .map(|(_, var)| Ok((var.name.clone().unwrap_or_default(), layout(module, var.ty)?)))
        .collect()
}

/// The value of the module-scope integer `const name` in `shader`: the home of a block
/// size that the shader's code is written for and the host sizes its grids by.
pub fn constant(shader: &str, name: &str) -> Result<usize, String> {
    let parsed = parsed(shader)?;
    let module = &parsed.0;
    let (_, constant) = module
        .constants
        .iter()
        .find(|(_, c)| c.name.as_deref() == Some(name))
        .ok_or_else(|| format!("shaders/{shader}.wgsl declares no const {name}"))?;
    match module.global_expressions[constant.init] {
        naga::Expression::Literal(naga::Literal::U32(v)) => Ok(v as usize),
        naga::Expression::Literal(naga::Literal::I32(v)) if v >= 0 => Ok(v as usize),
        ref other => Err(format!("const {name} in shaders/{shader}.wgsl is not an integer literal: {other:?}")),
    }
}

fn layout(module: &Module, ty: naga::Handle<naga::Type>) -> Result<Layout, String> {
    let mut leaves = Vec::new();
    flatten(module, ty, "", 0, &mut leaves)?;
    Ok(Layout { leaves, size: module.types[ty].inner.size(module.to_ctx()) as usize })
}

fn flatten(
    module: &Module,
    ty: naga::Handle<naga::Type>,
    path: &str,
    offset: usize,
    out: &mut Vec<Leaf>,
) -> Result<(), String> {
    let inner = &module.types[ty].inner;
    if let TypeInner::Struct { members, .. } = inner {
        // Members named `_...` are padding, as in the Rust mirror: only the size counts.
        for member in members.iter().filter(|m| !m.name.as_deref().unwrap_or("").starts_with('_')) {
            let name = member.name.as_deref().unwrap_or("?");
            let path = if path.is_empty() { name.to_string() } else { format!("{path}.{name}") };
            flatten(module, member.ty, &path, offset + member.offset as usize, out)?;
        }
        return Ok(());
    }
    let scalar = match inner.scalar().map(|s| s.kind) {
        Some(ScalarKind::Uint) => Scalar::U32,
        Some(ScalarKind::Sint) => Scalar::I32,
        Some(ScalarKind::Float) => Scalar::F32,
        _ => return Err(format!("uniform member {path} has a type the host cannot mirror: {inner:?}")),
    };
    out.push(Leaf { path: path.into(), offset, size: inner.size(module.to_ctx()) as usize, scalar });
    Ok(())
}
