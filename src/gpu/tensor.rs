use std::sync::atomic::Ordering;

use bytemuck::Pod;
use wgpu::util::DeviceExt;

use super::{Gpu, GpuError, Result};

/// A dense, row-major array in GPU memory. Elements are 4 bytes: f32 for
/// activations and parameters, u32 for labels and counters. Cloning shares the memory.
#[derive(Clone)]
pub struct Tensor {
    shape: Vec<usize>,
    buffer: wgpu::Buffer,
}

impl Tensor {
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn buffer(&self) -> &wgpu::Buffer {
        &self.buffer
    }

    /// The bytes of its elements (its buffer may be longer: [`ALLOCATION_GRANULE`]).
    pub fn bytes(&self) -> u64 {
        self.len() as u64 * ELEMENT_BYTES
    }

    /// The same memory seen with another shape of equal element count (e.g. NCHW as
    /// `[N, C*H*W]` before a linear layer).
    pub fn reshaped(&self, shape: &[usize]) -> Result<Tensor> {
        if shape.iter().product::<usize>() != self.len() {
            return Err(GpuError::shape(format!(
                "cannot view shape {:?} as {shape:?}: element counts differ",
                self.shape
            )));
        }
        Ok(Tensor { shape: shape.to_vec(), buffer: self.buffer.clone() })
    }
}

const ELEMENT_BYTES: u64 = 4;
/// Buffers are allocated in whole multiples of this, so that any tensor can also be bound
/// as an array of vec4 (the per-element kernels' vec4 forms, and loops that read four
/// values at a time where a shape allows, bind the same buffer both ways; wgpu wants a
/// binding at least one element long). The padding is never read as a value.
const ALLOCATION_GRANULE: u64 = 16;
const TENSOR_USAGE: wgpu::BufferUsages =
    wgpu::BufferUsages::STORAGE.union(wgpu::BufferUsages::COPY_SRC).union(wgpu::BufferUsages::COPY_DST);

impl Gpu {
    /// Counts one new buffer or texture of `bytes` bytes (see `buffers_created`, `bytes_allocated`).
    pub(super) fn count_allocation(&self, bytes: u64) {
        self.buffers_created.fetch_add(1, Ordering::Relaxed);
        self.bytes_allocated.fetch_add(bytes, Ordering::Relaxed);
    }

    fn checked_bytes(&self, shape: &[usize]) -> Result<u64> {
        let elements = shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d as u64));
        let bytes = elements.and_then(|n| n.checked_mul(ELEMENT_BYTES)).unwrap_or(u64::MAX);
        if bytes == 0 {
            return Err(GpuError::EmptyTensor { shape: shape.to_vec() });
        }
        let limits = [
            ("max_storage_buffer_binding_size", self.limits.max_storage_buffer_binding_size),
            ("max_buffer_size", self.limits.max_buffer_size),
        ];
        match limits.into_iter().find(|&(_, limit)| bytes > limit) {
            Some((limit_name, limit)) => {
                Err(GpuError::TensorTooLarge { shape: shape.to_vec(), bytes, limit_name, limit })
            }
            None => Ok(bytes),
        }
    }

    /// The bytes of the buffer of a tensor of `shape`: its elements', padded to the granule.
    fn allocation_size(&self, shape: &[usize]) -> Result<u64> {
        Ok(self.checked_bytes(shape)?.next_multiple_of(ALLOCATION_GRANULE))
    }

    /// A zero-filled tensor.
    pub fn zeros(&self, shape: &[usize]) -> Result<Tensor> {
        let size = self.allocation_size(shape)?;
        self.count_allocation(size);
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size,
            usage: TENSOR_USAGE,
            mapped_at_creation: false,
        });
        Ok(Tensor { shape: shape.to_vec(), buffer })
    }

    /// A tensor holding `data` (f32 or u32), which must have `shape`'s element count.
    pub fn upload<T: Pod>(&self, shape: &[usize], data: &[T]) -> Result<Tensor> {
        let size = self.allocation_size(shape)?;
        check_len(shape, data.len(), std::mem::size_of::<T>())?;
        self.count_allocation(size);
        let mut contents = bytemuck::cast_slice::<T, u8>(data).to_vec();
        contents.resize(size as usize, 0);
        let buffer = self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: None,
            contents: &contents,
            usage: TENSOR_USAGE,
        });
        Ok(Tensor { shape: shape.to_vec(), buffer })
    }

    /// Overwrites a tensor's contents; ordered before any later submission.
    pub fn write<T: Pod>(&self, tensor: &Tensor, data: &[T]) -> Result<()> {
        check_len(&tensor.shape, data.len(), std::mem::size_of::<T>())?;
        self.queue.write_buffer(&tensor.buffer, 0, bytemuck::cast_slice(data));
        Ok(())
    }

    /// Copies a tensor back to the host, waiting for all work submitted before.
    /// This is a synchronisation point: keep it out of the training step.
    pub fn download<T: Pod>(&self, tensor: &Tensor) -> Result<Vec<T>> {
        let size = tensor.bytes();
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("download staging"),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = self.device.create_command_encoder(&Default::default());
        encoder.copy_buffer_to_buffer(&tensor.buffer, 0, &staging, 0, size);
        self.queue.submit([encoder.finish()]);
        let (sender, receiver) = std::sync::mpsc::channel();
        staging.slice(..).map_async(wgpu::MapMode::Read, move |r| sender.send(r).unwrap());
        self.wait()?;
        receiver
            .recv()
            .map_err(|e| GpuError::Device(e.to_string()))?
            .map_err(|e| GpuError::Device(format!("reading a tensor back failed: {e}")))?;
        let view = staging.slice(..).get_mapped_range().map_err(|e| GpuError::Device(e.to_string()))?;
        Ok(bytemuck::cast_slice(&view).to_vec())
    }
}

fn check_len(shape: &[usize], len: usize, element_size: usize) -> Result<()> {
    if element_size as u64 != ELEMENT_BYTES {
        return Err(GpuError::shape(format!("tensor elements must be 4 bytes, got {element_size}")));
    }
    let expected: usize = shape.iter().product();
    if len != expected {
        return Err(GpuError::shape(format!("shape {shape:?} holds {expected} elements, data has {len}")));
    }
    Ok(())
}
