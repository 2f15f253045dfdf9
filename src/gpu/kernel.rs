use std::sync::Arc;

use super::reflect::{self, BindingInfo, EntryReflection};
use super::uniform::UniformBuffer;
use super::{shaders, Gpu, GpuError, Result, Tensor};

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
    reflection: EntryReflection,
}

/// A kernel bound to its buffers with a fixed grid, or a copy of texels from a buffer
/// into a texture: built once, recorded every step.
#[derive(Clone)]
pub struct Dispatch {
    work: Work,
    traffic: Traffic,
}

/// What a dispatch records: a kernel into a compute pass, or a copy between passes.
#[derive(Clone)]
pub(super) enum Work {
    Kernel {
        kernel: Arc<Kernel>,
        bind_group: wgpu::BindGroup,
        workgroups: [u32; 3],
    },
    /// `size` texels from a buffer whose rows are `row_bytes` apart into texture texel (0, 0) on.
    Copy {
        buffer: wgpu::Buffer,
        row_bytes: u32,
        texture: wgpu::Texture,
        size: wgpu::Extent3d,
    },
}

/// The name a copy dispatch goes by in profiles, as kernels go by shader::entry.
const COPY_NAME: &str = "copy::buffer_to_texture";

/// Bytes of the storage buffers and textures a dispatch binds that its kernel reads, and
/// that it writes: what it moves through memory if it touches each binding once (uniforms
/// aside).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    pub read: u64,
    pub written: u64,
}

/// What a binding can be given: a storage buffer, a uniform buffer or a texture view.
pub enum Resource<'a> {
    Buffer(&'a wgpu::Buffer),
    Uniform(&'a UniformBuffer),
    Texture(&'a wgpu::TextureView),
}

/// Anything a kernel binds by name (see [`Gpu::dispatch`]).
pub trait Bindable {
    fn resource(&self) -> Resource<'_>;
    /// Bytes of memory behind it, for [`Traffic`] (0 for uniforms, which are not counted).
    fn bytes(&self) -> u64;
}

impl Bindable for Tensor {
    fn resource(&self) -> Resource<'_> {
        Resource::Buffer(self.buffer())
    }

    fn bytes(&self) -> u64 {
        Tensor::bytes(self)
    }
}

impl Bindable for UniformBuffer {
    fn resource(&self) -> Resource<'_> {
        Resource::Uniform(self)
    }

    fn bytes(&self) -> u64 {
        0
    }
}

impl Kernel {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Records one dispatch of it over `workgroups` with `bind_group` into `pass`.
    pub(super) fn record(&self, bind_group: &wgpu::BindGroup, [x, y, z]: [u32; 3], pass: &mut wgpu::ComputePass<'_>) {
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, bind_group, &[]);
        pass.dispatch_workgroups(x, y, z);
    }

    pub fn workgroup_size(&self) -> [u32; 3] {
        self.reflection.workgroup_size
    }

    /// A grid with at least `threads` invocations for a kernel with a 1-D workgroup.
    /// Grids beyond the 65535-workgroup limit of one dimension spill into y; shaders
    /// index with `gid.x + gid.y * nwg.x * WORKGROUP` and bounds-check.
    pub fn grid_1d(&self, threads: usize) -> [u32; 3] {
        const MAX_GROUPS: usize = 65535;
        let groups = threads.div_ceil(self.workgroup_size()[0] as usize).max(1);
        let rows = groups.div_ceil(MAX_GROUPS);
        [groups.div_ceil(rows) as u32, rows as u32, 1]
    }
}

impl Dispatch {
    /// A copy of `texture`'s size from `buffer`, whose rows are `row_bytes` apart.
    pub(super) fn copy(buffer: &wgpu::Buffer, row_bytes: u32, texture: &wgpu::Texture, traffic: Traffic) -> Dispatch {
        let work = Work::Copy { buffer: buffer.clone(), row_bytes, texture: texture.clone(), size: texture.size() };
        Dispatch { work, traffic }
    }

    /// The kernel it runs; `None` for a copy.
    pub fn kernel(&self) -> Option<&Kernel> {
        match &self.work {
            Work::Kernel { kernel, .. } => Some(kernel),
            Work::Copy { .. } => None,
        }
    }

    /// Its kernel's name (shader::entry), or the copy's.
    pub fn name(&self) -> &str {
        self.kernel().map_or(COPY_NAME, Kernel::name)
    }

    pub fn traffic(&self) -> Traffic {
        self.traffic
    }

    pub(super) fn work(&self) -> &Work {
        &self.work
    }
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
        let reflection = reflect::entry_point(shader, entry, constants).map_err(shader_error)?;
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
        let kernel = Arc::new(Kernel { name: format!("{shader}::{entry}"), pipeline, reflection });
        self.kernels.lock().unwrap().insert(key, kernel.clone());
        Ok(kernel)
    }

    /// Binds `kernel` to resources named as the shader names its bindings. Names that
    /// the shader declares but this entry point does not use are ignored, so an op can
    /// pass one table for all entry points of its shader; names the shader does not
    /// declare, and uniforms whose Rust struct does not have the shader's layout, are errors.
    pub fn dispatch(
        &self,
        kernel: &Arc<Kernel>,
        bindings: &[(&str, &dyn Bindable)],
        workgroups: [u32; 3],
    ) -> Result<Dispatch> {
        let reflection = &kernel.reflection;
        if let Some((unknown, _)) = bindings.iter().find(|(name, _)| !reflection.declared.iter().any(|d| d == name)) {
            return Err(GpuError::Binding {
                kernel: kernel.name.clone(),
                message: format!(
                    "the shader declares no binding named {unknown} (it has {})",
                    reflection.declared.join(", ")
                ),
            });
        }
        let mut traffic = Traffic::default();
        // A buffer bound twice (as f32s and as vec4s) is moved once each way.
        let (mut read, mut written) = (Vec::new(), Vec::new());
        let entries = reflection
            .bindings
            .iter()
            .map(|info| {
                let (_, bindable) = bindings.iter().find(|(name, _)| *name == info.name).ok_or_else(|| {
                    GpuError::MissingBinding { kernel: kernel.name.clone(), binding: info.name.clone() }
                })?;
                let bytes = bindable.bytes();
                let buffer = match bindable.resource() {
                    Resource::Buffer(buffer) => Some(buffer.clone()),
                    _ => None,
                };
                let first = |seen: &mut Vec<wgpu::Buffer>| match &buffer {
                    Some(buffer) if seen.contains(buffer) => false,
                    Some(buffer) => {
                        seen.push(buffer.clone());
                        true
                    }
                    None => true,
                };
                traffic.read += if info.reads && first(&mut read) { bytes } else { 0 };
                traffic.written += if info.writes && first(&mut written) { bytes } else { 0 };
                let resource = binding_resource(kernel, info, bindable.resource())?;
                Ok(wgpu::BindGroupEntry { binding: info.binding, resource })
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
        Ok(Dispatch { work: Work::Kernel { kernel: kernel.clone(), bind_group, workgroups }, traffic })
    }

    /// Binds a kernel over a 1-D grid of `threads` invocations (see [`Kernel::grid_1d`]).
    pub fn dispatch_1d(
        &self,
        kernel: &Arc<Kernel>,
        bindings: &[(&str, &dyn Bindable)],
        threads: usize,
    ) -> Result<Dispatch> {
        self.dispatch(kernel, bindings, kernel.grid_1d(threads))
    }
}

/// The wgpu resource for one binding, after checking that a uniform goes where the
/// shader declares a uniform of the same layout.
fn binding_resource<'a>(
    kernel: &Kernel,
    info: &BindingInfo,
    resource: Resource<'a>,
) -> Result<wgpu::BindingResource<'a>> {
    let mismatch = |message: String| GpuError::Binding { kernel: kernel.name.clone(), message };
    match (resource, &info.uniform) {
        (Resource::Uniform(uniform), Some(shader)) if uniform.layout == *shader => {
            Ok(uniform.buffer.as_entire_binding())
        }
        (Resource::Uniform(uniform), Some(shader)) => Err(GpuError::UniformLayout {
            kernel: kernel.name.clone(),
            binding: info.name.clone(),
            rust_type: uniform.type_name,
            rust: uniform.layout.to_string(),
            shader: shader.to_string(),
        }),
        (Resource::Uniform(uniform), None) => {
            Err(mismatch(format!("{} is not a uniform, but the uniform {} was given", info.name, uniform.type_name)))
        }
        (_, Some(_)) => Err(mismatch(format!("{} is a uniform; give it a uniform buffer (Gpu::uniform)", info.name))),
        (Resource::Buffer(buffer), None) => Ok(buffer.as_entire_binding()),
        (Resource::Texture(view), None) => Ok(wgpu::BindingResource::TextureView(view)),
    }
}
