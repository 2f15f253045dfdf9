use thiserror::Error;

#[derive(Debug, Error)]
pub enum GpuError {
    #[error(
        "no GPU adapter found (Vulkan, Metal or DX12).\n  Fix: install your GPU's driver, or on Debian/Ubuntu \
         a CPU Vulkan driver with `apt-get install mesa-vulkan-drivers`; `sturdy devices` lists what wgpu sees."
    )]
    NoAdapter,
    #[error("no adapter matches {wanted:?} (from --adapter or STURDY_ADAPTER); available:\n{available}")]
    AdapterNotFound { wanted: String, available: String },
    #[error("could not open a device on adapter {adapter:?}: {reason}")]
    RequestDevice { adapter: String, reason: String },
    #[error(
        "tensor of shape {shape:?} needs {bytes} bytes, above this adapter's {limit_name} of {limit} bytes.\n  \
         Fix: use a smaller batch size or model width, or a GPU with a larger limit."
    )]
    TensorTooLarge { shape: Vec<usize>, bytes: u64, limit_name: &'static str, limit: u64 },
    #[error("tensor of shape {shape:?} has no elements; every tensor needs at least one")]
    EmptyTensor { shape: Vec<usize> },
    #[error("{0}")]
    Shape(String),
    #[error("shader {shader}.wgsl, entry point {entry}: {message}")]
    Shader { shader: String, entry: String, message: String },
    #[error("kernel {kernel} needs a resource bound to {binding}, but none was given")]
    MissingBinding { kernel: String, binding: String },
    #[error("kernel {kernel}: {message}")]
    Binding { kernel: String, message: String },
    #[error(
        "kernel {kernel}: the uniform {binding} has another layout in the shader than the Rust struct {rust_type}\n  \
         Rust (offset, bytes, scalar, member):\n{rust}\n  shader:\n{shader}\n  Fix: make the two structs agree, member for member"
    )]
    UniformLayout { kernel: String, binding: String, rust_type: &'static str, rust: String, shader: String },
    #[error("the GPU reported an error: {0}")]
    Device(String),
    #[error(
        "the GPU ran out of memory ({0}).\n  Fix: lower --batch-size or --width, or use an adapter with more \
         memory (`sturdy devices`); finished epochs are kept in the run's checkpoint"
    )]
    OutOfMemory(String),
    #[error(
        "stopped by a signal while kernel variants were timed (the shapes timed so far are cached).\n  \
         Run the same command again to continue"
    )]
    Interrupted,
    #[error("the GPU device was lost: {0}.\n  Fix: check the driver (dmesg), free GPU memory, then resume from the last checkpoint.")]
    DeviceLost(String),
}

impl GpuError {
    pub fn shape(message: impl Into<String>) -> Self {
        GpuError::Shape(message.into())
    }
}
