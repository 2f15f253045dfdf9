//! Grids of texels (four f32 each), the packed operands of the GEMMs: in a rgba32float
//! texture, read with `textureLoad` (CPU adapters gather those across SIMD lanes), or in a
//! storage buffer, texel (x, y) at index y * width + x (GPUs stage those through workgroup
//! memory). Filled by the host ([`Gpu::write_texels`]) or by pack kernels, which store
//! into buffers only: a texture is filled by a copy from one ([`Gpu::fill_texels`]), since
//! lavapipe's stores into textures cost twice its stores into buffers, and a copy a fifth
//! to a tenth of a pack (measured: BENCHMARKS.md).

use super::kernel::{Bindable, Resource};
use super::{Dispatch, Gpu, GpuError, Result, Tensor, Traffic};

/// Bytes of one texel: four f32.
const TEXEL_BYTES: u64 = 16;

/// Buffer rows copied into a texture lie a multiple of this many texels apart (wgpu's
/// COPY_BYTES_PER_ROW_ALIGNMENT).
const COPY_ROW_TEXELS: usize = (wgpu::COPY_BYTES_PER_ROW_ALIGNMENT as u64 / TEXEL_BYTES) as usize;

/// Where a grid of texels is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TexelStorage {
    Texture,
    Buffer,
}

/// A width x height grid of texels. Cloning shares the memory.
#[derive(Clone)]
pub struct Texels {
    width: usize,
    height: usize,
    memory: TexelMemory,
}

#[derive(Clone)]
enum TexelMemory {
    Texture { texture: wgpu::Texture, view: wgpu::TextureView },
    Buffer(Tensor),
}

/// A scratch grid's storage, role and size.
pub(super) type ScratchKey = (TexelStorage, &'static str, usize, usize);

impl Texels {
    pub fn width(&self) -> usize {
        self.width
    }

    pub fn height(&self) -> usize {
        self.height
    }

    pub fn storage(&self) -> TexelStorage {
        match self.memory {
            TexelMemory::Texture { .. } => TexelStorage::Texture,
            TexelMemory::Buffer(_) => TexelStorage::Buffer,
        }
    }
}

impl Bindable for Texels {
    fn resource(&self) -> Resource<'_> {
        match &self.memory {
            TexelMemory::Texture { view, .. } => Resource::Texture(view),
            TexelMemory::Buffer(tensor) => Resource::Buffer(tensor.buffer()),
        }
    }

    fn bytes(&self) -> u64 {
        (self.width * self.height) as u64 * TEXEL_BYTES
    }
}

impl Gpu {
    /// Whether a `width` x `height` grid fits this adapter's limits for `storage`.
    pub fn texels_fit(&self, storage: TexelStorage, width: usize, height: usize) -> bool {
        match storage {
            TexelStorage::Texture => {
                let limit = self.limits.max_texture_dimension_2d as usize;
                width <= limit && height <= limit
            }
            TexelStorage::Buffer => {
                (width * height) as u64 * TEXEL_BYTES <= self.limits.max_storage_buffer_binding_size
            }
        }
    }

    /// A zero-filled `width` x `height` grid of texels stored as `storage` says.
    pub fn texels(&self, storage: TexelStorage, width: usize, height: usize) -> Result<Texels> {
        let memory = match storage {
            TexelStorage::Texture => {
                let texture = self.texture(width, height)?;
                TexelMemory::Texture { view: texture.create_view(&Default::default()), texture }
            }
            TexelStorage::Buffer => {
                if width == 0 || height == 0 || !self.texels_fit(storage, width, height) {
                    let limit = self.limits.max_storage_buffer_binding_size;
                    return Err(GpuError::shape(format!(
                        "{width} x {height} texels in a storage buffer are outside this adapter's 1..={limit} \
                         bytes per binding (max_storage_buffer_binding_size)"
                    )));
                }
                TexelMemory::Buffer(self.zeros(&[width * height * 4])?)
            }
        };
        Ok(Texels { width, height, memory })
    }

    fn texture(&self, width: usize, height: usize) -> Result<wgpu::Texture> {
        let limit = self.limits.max_texture_dimension_2d as usize;
        if width == 0 || height == 0 || width > limit || height > limit {
            return Err(GpuError::shape(format!(
                "a {width} x {height} texture is outside this adapter's 1..={limit} texels per dimension \
                 (max_texture_dimension_2d)"
            )));
        }
        self.count_allocation(width as u64 * height as u64 * TEXEL_BYTES);
        Ok(self.device.create_texture(&wgpu::TextureDescriptor {
            label: None,
            size: wgpu::Extent3d { width: width as u32, height: height as u32, depth_or_array_layers: 1 },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: wgpu::TextureFormat::Rgba32Float,
            usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
            view_formats: &[],
        }))
    }

    /// `tensor`'s memory as a `width` x `height` grid in a buffer (texel (x, y) holding
    /// elements 4 (y width + x) .. + 4), which must have that many elements.
    pub fn texels_of(&self, tensor: &Tensor, width: usize, height: usize) -> Result<Texels> {
        let flat = tensor.reshaped(&[width * height * 4])?;
        Ok(Texels { width, height, memory: TexelMemory::Buffer(flat) })
    }

    /// The dispatches filling `target` by a pack kernel that `pack` binds to the buffer
    /// grid it is given (whose width is its row pitch): `target` itself where it is a
    /// buffer; for a texture a scratch buffer as wide as a copy wants, then the copy.
    pub fn fill_texels(
        &self,
        target: &Texels,
        pack: impl FnOnce(&Texels) -> Result<Dispatch>,
    ) -> Result<Vec<Dispatch>> {
        if target.storage() == TexelStorage::Buffer {
            return Ok(vec![pack(target)?]);
        }
        let pitch = target.width.next_multiple_of(COPY_ROW_TEXELS);
        let staging = self.scratch_texels(TexelStorage::Buffer, "staging", pitch, target.height)?;
        let copy = self.copy_texels(&staging, target).expect("a staging grid's rows can be copied as they lie");
        Ok(vec![pack(&staging)?, copy])
    }

    /// The copy of buffer grid `source` into texture `target` of `source`'s height and at
    /// most its width, where `source`'s rows can be copied as they lie (a multiple of
    /// [`COPY_ROW_TEXELS`] apart); `None` otherwise.
    pub fn copy_texels(&self, source: &Texels, target: &Texels) -> Option<Dispatch> {
        match (&source.memory, &target.memory) {
            (TexelMemory::Buffer(buffer), TexelMemory::Texture { texture, .. })
                if source.width.is_multiple_of(COPY_ROW_TEXELS)
                    && source.width >= target.width
                    && source.height == target.height =>
            {
                let row_bytes = (source.width as u64 * TEXEL_BYTES) as u32;
                let traffic = Traffic { read: target.bytes(), written: target.bytes() };
                Some(Dispatch::copy(buffer.buffer(), row_bytes, texture, traffic))
            }
            _ => None,
        }
    }

    /// Texels that kernels fill and read within one op: the same ones for every request
    /// of the same storage, `role` and size, so that all layers share them. That is safe
    /// because dispatches run in recording order and each op fills them before reading.
    pub fn scratch_texels(
        &self,
        storage: TexelStorage,
        role: &'static str,
        width: usize,
        height: usize,
    ) -> Result<Texels> {
        let key = (storage, role, width, height);
        if let Some(texels) = self.scratch_texels.lock().unwrap().get(&key) {
            return Ok(texels.clone());
        }
        let texels = self.texels(storage, width, height)?;
        self.scratch_texels.lock().unwrap().insert(key, texels.clone());
        Ok(texels)
    }

    /// Fills every scratch grid with NaN, for tests: an op that reads texels its own pack
    /// did not write then shows it in its results.
    pub fn poison_scratch_texels(&self) -> Result<()> {
        let grids: Vec<Texels> = self.scratch_texels.lock().unwrap().values().cloned().collect();
        for texels in grids {
            self.write_texels(&texels, &vec![f32::NAN; texels.width * texels.height * 4])?;
        }
        Ok(())
    }

    /// Overwrites a whole grid from row-major texels, four f32 each.
    pub fn write_texels(&self, texels: &Texels, data: &[f32]) -> Result<()> {
        let (width, height) = (texels.width, texels.height);
        if data.len() != width * height * 4 {
            return Err(GpuError::shape(format!(
                "a {width} x {height} grid of texels holds {} f32, data has {}",
                width * height * 4,
                data.len()
            )));
        }
        match &texels.memory {
            TexelMemory::Buffer(tensor) => self.write(tensor, data),
            TexelMemory::Texture { texture, .. } => {
                self.queue.write_texture(
                    texture.as_image_copy(),
                    bytemuck::cast_slice(data),
                    wgpu::TexelCopyBufferLayout {
                        offset: 0,
                        bytes_per_row: Some(width as u32 * TEXEL_BYTES as u32),
                        rows_per_image: Some(height as u32),
                    },
                    texture.size(),
                );
                Ok(())
            }
        }
    }
}
