use crate::gpu::{choose_adapter, list_adapters, AdapterSummary, GpuOptions};

/// Optional features sturdy uses where present.
const FEATURES: [(&str, wgpu::Features); 3] = [
    ("SHADER_F16", wgpu::Features::SHADER_F16),
    ("SUBGROUP", wgpu::Features::SUBGROUP),
    ("TIMESTAMP_QUERY", wgpu::Features::TIMESTAMP_QUERY),
];

fn limits(limits: &wgpu::Limits) -> [(&'static str, u64); 6] {
    [
        ("max_storage_buffer_binding_size", limits.max_storage_buffer_binding_size),
        ("max_buffer_size", limits.max_buffer_size),
        ("max_storage_buffers_per_shader_stage", limits.max_storage_buffers_per_shader_stage as u64),
        ("max_compute_workgroup_storage_size", limits.max_compute_workgroup_storage_size as u64),
        ("max_compute_invocations_per_workgroup", limits.max_compute_invocations_per_workgroup as u64),
        ("max_compute_workgroups_per_dimension", limits.max_compute_workgroups_per_dimension as u64),
    ]
}

fn describe(adapter: &AdapterSummary, selected: bool) -> String {
    let info = &adapter.info;
    let mark = if selected { "  (selected)" } else { "" };
    let mut text = format!(
        "[{}] {}{mark}\n    backend {:?}, type {:?}, driver {} {}\n",
        adapter.index, info.name, info.backend, info.device_type, info.driver, info.driver_info
    );
    let features: Vec<&str> =
        FEATURES.iter().filter(|(_, f)| adapter.features.contains(*f)).map(|(name, _)| *name).collect();
    text += &format!(
        "    features: {}\n",
        if features.is_empty() { "none of interest".into() } else { features.join(", ") }
    );
    for (name, value) in limits(&adapter.limits) {
        text += &format!("    {name}: {value}\n");
    }
    text
}

/// Prints every adapter and marks the one `options` selects; fails like a
/// training command would when that choice matches nothing.
pub fn run(options: &GpuOptions) -> anyhow::Result<()> {
    let adapters = list_adapters();
    let infos: Vec<_> = adapters.iter().map(|a| a.info.clone()).collect();
    let selected = choose_adapter(&infos, options.adapter.as_deref())?;
    for adapter in &adapters {
        print!("{}", describe(adapter, adapter.index == selected));
    }
    Ok(())
}
