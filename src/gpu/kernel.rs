use std::sync::Arc;

use super::{shaders, Gpu, GpuError, Result};

/// Cache key: a kernel is one entry point of one shader with its override constants.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub(super) struct KernelKey {
    shader: &'static str,
    entry: &'static str,
    constants: Vec<(&'static str, u64)>,
}

/// A compiled compute pipeline and what naga tells about its entry point.
pub struct Kernel {
    name: String,
    pipeline: wgpu::ComputePipeline,
    bindings: Vec<u32>,
    workgroup_size: [u32; 3],
}

/// A kernel bound to its buffers with a fixed grid: built once, recorded every step.
pub struct Dispatch {
    kernel: Arc<Kernel>,
    bind_group: wgpu::BindGroup,
    workgroups: [u32; 3],
}

impl Kernel {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn workgroup_size(&self) -> [u32; 3] {
        self.workgroup_size
    }

    /// A grid with at least `threads` invocations for a kernel with a 1-D workgroup.
    /// Grids beyond the 65535-workgroup limit of one dimension spill into y; shaders
    /// index with `gid.x + gid.y * nwg.x * WORKGROUP` and bounds-check.
    pub fn grid_1d(&self, threads: usize) -> [u32; 3] {
        const MAX_GROUPS: usize = 65535;
        let groups = threads.div_ceil(self.workgroup_size[0] as usize).max(1);
        let rows = groups.div_ceil(MAX_GROUPS);
        [groups.div_ceil(rows) as u32, rows as u32, 1]
    }
}

impl Dispatch {
    pub fn kernel(&self) -> &Kernel {
        &self.kernel
    }

    pub(super) fn record(&self, pass: &mut wgpu::ComputePass<'_>) {
        pass.set_pipeline(&self.kernel.pipeline);
        pass.set_bind_group(0, &self.bind_group, &[]);
        let [x, y, z] = self.workgroups;
        pass.dispatch_workgroups(x, y, z);
    }
}

fn reflect(shader: &str, entry: &str, constants: &[(&str, f64)]) -> std::result::Result<(Vec<u32>, [u32; 3]), String> {
    let source = shaders::source(shader).ok_or_else(|| format!("no file shaders/{shader}.wgsl"))?;
    let (module, info) = shaders::parse(shader, source)?;
    let (module, info) = shaders::specialise(&module, &info, constants)?;
    let (index, entry_point) = module
        .entry_points
        .iter()
        .enumerate()
        .find(|(_, ep)| ep.name == entry)
        .ok_or_else(|| format!("no entry point named {entry}"))?;
    let uses = info.get_entry_point(index);
    let mut bindings: Vec<u32> = module
        .global_variables
        .iter()
        .filter(|(handle, _)| !uses[*handle].is_empty())
        .filter_map(|(_, var)| var.binding.as_ref().map(|b| b.binding))
        .collect();
    bindings.sort_unstable();
    Ok((bindings, entry_point.workgroup_size))
}

impl Gpu {
    /// The compiled kernel for `shader`'s `entry` point, compiled once per process.
    pub fn kernel(
        &self,
        shader: &'static str,
        entry: &'static str,
        constants: &[(&'static str, f64)],
    ) -> Result<Arc<Kernel>> {
        let key = KernelKey { shader, entry, constants: constants.iter().map(|&(n, v)| (n, v.to_bits())).collect() };
        if let Some(kernel) = self.kernels.lock().unwrap().get(&key) {
            return Ok(kernel.clone());
        }
        let shader_error = |message: String| GpuError::Shader { shader: shader.into(), entry: entry.into(), message };
        let (bindings, workgroup_size) = reflect(shader, entry, constants).map_err(shader_error)?;
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = self.device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(shader),
            source: wgpu::ShaderSource::Wgsl(shaders::source(shader).unwrap().into()),
        });
        let pipeline = self.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(&format!("{shader}::{entry}")),
            layout: None,
            module: &module,
            entry_point: Some(entry),
            compilation_options: wgpu::PipelineCompilationOptions { constants, ..Default::default() },
            cache: None,
        });
        if let Some(error) = pollster::block_on(scope.pop()) {
            return Err(shader_error(error.to_string()));
        }
        let kernel = Arc::new(Kernel { name: format!("{shader}::{entry}"), pipeline, bindings, workgroup_size });
        self.kernels.lock().unwrap().insert(key, kernel.clone());
        Ok(kernel)
    }

    /// Binds `kernel` to buffers given as (binding, buffer) pairs. Pairs for bindings
    /// the entry point does not use are ignored, so an op can pass one table for all
    /// entry points of its shader.
    pub fn dispatch(
        &self,
        kernel: &Arc<Kernel>,
        bindings: &[(u32, &wgpu::Buffer)],
        workgroups: [u32; 3],
    ) -> Result<Dispatch> {
        let resources: Vec<_> = bindings.iter().map(|&(b, buffer)| (b, buffer.as_entire_binding())).collect();
        self.dispatch_resources(kernel, &resources, workgroups)
    }

    /// [`dispatch`](Self::dispatch) for any bindable resource, e.g. the texture view
    /// a texture-reading kernel variant takes.
    pub fn dispatch_resources(
        &self,
        kernel: &Arc<Kernel>,
        bindings: &[(u32, wgpu::BindingResource<'_>)],
        workgroups: [u32; 3],
    ) -> Result<Dispatch> {
        let entries = kernel
            .bindings
            .iter()
            .map(|&binding| {
                let (_, resource) = bindings
                    .iter()
                    .find(|(b, _)| *b == binding)
                    .ok_or_else(|| GpuError::MissingBinding { kernel: kernel.name.clone(), binding })?;
                Ok(wgpu::BindGroupEntry { binding, resource: resource.clone() })
            })
            .collect::<Result<Vec<_>>>()?;
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(&kernel.name),
            layout: &kernel.pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        if let Some(error) = pollster::block_on(scope.pop()) {
            return Err(GpuError::Device(format!("binding buffers for {}: {error}", kernel.name)));
        }
        Ok(Dispatch { kernel: kernel.clone(), bind_group, workgroups })
    }

    /// Binds a kernel over a 1-D grid of `threads` invocations (see [`Kernel::grid_1d`]).
    pub fn dispatch_1d(
        &self,
        kernel: &Arc<Kernel>,
        bindings: &[(u32, &wgpu::Buffer)],
        threads: usize,
    ) -> Result<Dispatch> {
        self.dispatch(kernel, bindings, kernel.grid_1d(threads))
    }
}
