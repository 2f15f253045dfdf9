//! 2-D textures of f32 quadruples, the operands of kernel variants that read through
//! `textureLoad` (see [`Gpu::prefers_texture_loads`]): filled by the host or by kernels
//! (`textureStore`).

use super::{Gpu, GpuError, Result};

/// Bytes of one rgba32float texel: four f32.
const TEXEL_BYTES: u64 = 16;

/// A scratch texture's role and size.
pub(super) type ScratchKey = (&'static str, usize, usize);

impl Gpu {
    /// A zero-filled `width` x `height` rgba32float texture (each texel four f32) that
    /// kernels read with `textureLoad` and the host fills with [`Gpu::write_texture`].
    pub fn texture(&self, width: usize, height: usize) -> Result<wgpu::Texture> {
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
            usage: wgpu::TextureUsages::TEXTURE_BINDING
                | wgpu::TextureUsages::STORAGE_BINDING
                | wgpu::TextureUsages::COPY_DST,
            view_formats: &[],
        }))
    }

    /// A texture that kernels fill and read within one op: the same one for every request
    /// of the same `role` and size, so that all layers share it. That is safe because
    /// dispatches run in recording order and each op fills the texture before reading it.
    pub fn scratch_texture(&self, role: &'static str, width: usize, height: usize) -> Result<wgpu::Texture> {
        let key = (role, width, height);
        if let Some(texture) = self.scratch_textures.lock().unwrap().get(&key) {
            return Ok(texture.clone());
        }
        let texture = self.texture(width, height)?;
        self.scratch_textures.lock().unwrap().insert(key, texture.clone());
        Ok(texture)
    }

    /// Overwrites a whole texture from row-major texels, four f32 each.
    pub fn write_texture(&self, texture: &wgpu::Texture, data: &[f32]) -> Result<()> {
        let (width, height) = (texture.width() as usize, texture.height() as usize);
        if data.len() != width * height * 4 {
            return Err(GpuError::shape(format!(
                "a {width} x {height} rgba32float texture holds {} f32, data has {}",
                width * height * 4,
                data.len()
            )));
        }
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
