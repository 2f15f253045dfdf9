//! The GPU runtime: adapter selection, tensors, compiled kernels and command recording.
//! Ops state their shader, bindings and dispatch size; everything else lives here.

mod context;
mod error;
mod kernel;
mod recorder;
pub mod shaders;
mod tensor;
mod texture;
mod timing;

pub use context::{choose_adapter, list_adapters, AdapterSummary, Gpu, GpuOptions, ADAPTER_ENV};
pub use error::GpuError;
pub use kernel::{Dispatch, Kernel};
pub use recorder::Recorder;
pub use tensor::Tensor;
pub use timing::median;

pub type Result<T> = std::result::Result<T, GpuError>;

/// Bytes per MiB, the unit GPU memory is reported in.
pub const MIB: f64 = 1024.0 * 1024.0;
