//! The GPU runtime: adapter selection, tensors, compiled kernels and command recording.
//! Ops state their shader, bindings and dispatch size; everything else lives here.

mod autotune;
mod context;
mod error;
mod kernel;
mod recorder;
pub mod reflect;
pub mod shaders;
mod tensor;
mod texels;
mod timing;
mod uniform;

pub use autotune::{KernelChoice, Measuring, CACHE_ENV, KERNELS_ENV};
pub use context::{
    choose_adapter, list_adapters, unfused_from_env, AdapterSummary, Gpu, GpuOptions, ADAPTER_ENV, FUSE_ENV,
};
pub use error::GpuError;
pub use kernel::{Bindable, Dispatch, Kernel, Resource, Traffic};
pub use recorder::{Recorder, TimedDispatch};
pub use tensor::Tensor;
pub use texels::{TexelStorage, Texels};
pub use timing::median;
pub use uniform::{HostLayout, Layout, Leaf, Scalar, Uniform, UniformBuffer, UniformMirror};

pub type Result<T> = std::result::Result<T, GpuError>;

/// The value of the integer `const name` of `shaders/{shader}.wgsl`: block sizes that a
/// shader's code is written for live there, and the host sizes its grids by them.
pub fn shader_constant(shader: &str, name: &str) -> Result<usize> {
    reflect::constant(shader, name).map_err(|message| GpuError::Shader {
        shader: shader.into(),
        entry: "-".into(),
        message,
    })
}

/// Bytes per MiB, the unit GPU memory is reported in.
pub const MIB: f64 = 1024.0 * 1024.0;
