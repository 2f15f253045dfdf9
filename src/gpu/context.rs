use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::autotune::{Autotune, KernelChoice, KERNELS_ENV};
use super::kernel::{Kernel, KernelKey};
use super::texels::{ScratchKey, Texels};
use super::{GpuError, Result};

/// Environment variable that picks an adapter, like `--adapter`.
pub const ADAPTER_ENV: &str = "STURDY_ADAPTER";

/// How to choose the adapter: an index into `sturdy devices`' list, or a
/// case-insensitive part of the adapter's name. `None` takes the best one
/// (discrete GPU, then integrated, then virtual, then CPU).
/// Environment variable that turns fused passes off (`STURDY_FUSE=off`), to measure what
/// they save.
pub const FUSE_ENV: &str = "STURDY_FUSE";

/// `kernels` forces a family of kernel variants (default: the fastest, measured);
/// `unfused` runs batch norm, residual sums and their ReLUs as separate passes.
#[derive(Clone, Debug, Default)]
pub struct GpuOptions {
    pub adapter: Option<String>,
    pub kernels: KernelChoice,
    pub unfused: bool,
}

impl GpuOptions {
    /// Options from the `STURDY_ADAPTER` and `STURDY_KERNELS` environment variables (an
    /// unknown kernel family reads as the default).
    pub fn from_env() -> Self {
        let var = |name| std::env::var(name).ok().filter(|s| !s.is_empty());
        let kernels = var(KERNELS_ENV).and_then(|name| clap::ValueEnum::from_str(&name, true).ok());
        GpuOptions { adapter: var(ADAPTER_ENV), kernels: kernels.unwrap_or_default(), unfused: unfused_from_env() }
    }
}

/// Whether `STURDY_FUSE` turns fused passes off ("off", "0" or "false").
pub fn unfused_from_env() -> bool {
    std::env::var(FUSE_ENV).is_ok_and(|value| ["off", "0", "false"].contains(&value.to_lowercase().as_str()))
}

/// What `sturdy devices` prints about one adapter.
#[derive(Clone, Debug)]
pub struct AdapterSummary {
    pub index: usize,
    pub info: wgpu::AdapterInfo,
    pub features: wgpu::Features,
    pub limits: wgpu::Limits,
}

/// One opened device with its queue, compiled-kernel cache and error state.
pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    pub(super) kernels: Mutex<HashMap<KernelKey, Arc<Kernel>>>,
    pub(super) scratch_texels: Mutex<HashMap<ScratchKey, Texels>>,
    pub(super) buffers_created: AtomicU64,
    pub(super) bytes_allocated: AtomicU64,
    pub(super) autotune: Autotune,
    fuses_passes: bool,
    failure: Arc<Mutex<Option<GpuError>>>,
}

fn instance() -> wgpu::Instance {
    wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle())
}

fn preference(device_type: wgpu::DeviceType) -> u8 {
    match device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

/// All adapters wgpu can see, best first; the order is the index `--adapter` takes.
fn sorted_adapters(instance: &wgpu::Instance) -> Vec<wgpu::Adapter> {
    let mut adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
    adapters.sort_by_key(|adapter| preference(adapter.get_info().device_type));
    adapters
}

/// Lists every adapter with the features and limits sturdy depends on.
pub fn list_adapters() -> Vec<AdapterSummary> {
    sorted_adapters(&instance())
        .iter()
        .enumerate()
        .map(|(index, adapter)| AdapterSummary {
            index,
            info: adapter.get_info(),
            features: adapter.features(),
            limits: adapter.limits(),
        })
        .collect()
}

fn describe(index: usize, info: &wgpu::AdapterInfo) -> String {
    format!(
        "  [{index}] {} ({:?}, {:?}, driver {} {})",
        info.name, info.backend, info.device_type, info.driver, info.driver_info
    )
}

/// Index of the adapter `wanted` names (an index, or part of a name, case-insensitive)
/// among `infos` sorted best first; the best when `wanted` is `None`.
pub fn choose_adapter(infos: &[wgpu::AdapterInfo], wanted: Option<&str>) -> Result<usize> {
    if infos.is_empty() {
        return Err(GpuError::NoAdapter);
    }
    let Some(wanted) = wanted else { return Ok(0) };
    let needle = wanted.to_lowercase();
    let by_index = wanted.parse::<usize>().ok().filter(|&i| i < infos.len());
    by_index.or_else(|| infos.iter().position(|info| info.name.to_lowercase().contains(&needle))).ok_or_else(|| {
        let available = infos.iter().enumerate().map(|(i, info)| describe(i, info)).collect::<Vec<_>>().join("\n");
        GpuError::AdapterNotFound { wanted: wanted.to_string(), available }
    })
}

impl Gpu {
    /// Opens the adapter `options` names with the largest limits it offers.
    pub fn new(options: &GpuOptions) -> Result<Gpu> {
        let mut adapters = sorted_adapters(&instance());
        let infos: Vec<_> = adapters.iter().map(|a| a.get_info()).collect();
        let adapter = adapters.swap_remove(choose_adapter(&infos, options.adapter.as_deref())?);
        let info = adapter.get_info();
        let limits = adapter.limits();
        // Timestamps and f16 only serve `sturdy bench` (timing.rs; the f16-storage probe),
        // subgroups one GEMM loader (ops::gemm); request them where offered.
        let optional = wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::SHADER_F16 | wgpu::Features::SUBGROUP;
        let descriptor = wgpu::DeviceDescriptor {
            label: Some("sturdy"),
            required_features: adapter.features() & optional,
            required_limits: limits.clone(),
            ..Default::default()
        };
        let (device, queue) = pollster::block_on(adapter.request_device(&descriptor))
            .map_err(|e| GpuError::RequestDevice { adapter: info.name.clone(), reason: e.to_string() })?;
        let failure = Arc::new(Mutex::new(None));
        let sink = failure.clone();
        device.on_uncaptured_error(Arc::new(move |error: wgpu::Error| {
            let error = match error {
                wgpu::Error::OutOfMemory { .. } => GpuError::OutOfMemory(error.to_string()),
                _ => GpuError::Device(error.to_string()),
            };
            sink.lock().unwrap().get_or_insert(error);
        }));
        let sink = failure.clone();
        device.set_device_lost_callback(move |reason, message| {
            sink.lock().unwrap().get_or_insert(GpuError::DeviceLost(format!("{reason:?}: {message}")));
        });
        let autotune = Autotune::new(options.kernels, &info);
        Ok(Gpu {
            device,
            queue,
            info,
            limits,
            kernels: Mutex::new(HashMap::new()),
            scratch_texels: Mutex::new(HashMap::new()),
            buffers_created: AtomicU64::new(0),
            bytes_allocated: AtomicU64::new(0),
            autotune,
            fuses_passes: !options.unfused,
            failure,
        })
    }

    /// Opens the adapter chosen by `STURDY_ADAPTER`, or the best one.
    pub fn from_env() -> Result<Gpu> {
        Gpu::new(&GpuOptions::from_env())
    }

    /// Returns the first error the device reported since it was opened, if any.
    /// Errors are sticky: once a device has failed, its results cannot be trusted.
    pub fn check(&self) -> Result<()> {
        match &*self.failure.lock().unwrap() {
            None => Ok(()),
            Some(GpuError::DeviceLost(m)) => Err(GpuError::DeviceLost(m.clone())),
            Some(GpuError::OutOfMemory(m)) => Err(GpuError::OutOfMemory(m.clone())),
            Some(e) => Err(GpuError::Device(e.to_string())),
        }
    }

    /// How many buffers this device has allocated: a training loop that has warmed up
    /// must not grow it.
    pub fn buffers_created(&self) -> u64 {
        self.buffers_created.load(Ordering::Relaxed)
    }

    /// Bytes of all buffers and textures this device has allocated (tensors, uniforms,
    /// textures; not the transient staging of downloads): the model's GPU memory.
    pub fn bytes_allocated(&self) -> u64 {
        self.bytes_allocated.load(Ordering::Relaxed)
    }

    /// Whether kernels with a texture-reading variant should use it: on CPU adapters
    /// (lavapipe), which scalarise storage-buffer loads lane by lane but vectorise
    /// texture loads (shared/PANN.md, "Data and machines"). The one place that choice is made.
    pub fn prefers_texture_loads(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    /// Whether layers fuse the passes that can be (batch norm or a residual sum with the
    /// exact ReLU after it); off only to measure what fusion saves.
    pub fn fuses_passes(&self) -> bool {
        self.fuses_passes
    }

    /// A one-line description of the adapter for logs and benchmark records.
    pub fn adapter_name(&self) -> String {
        format!("{} ({:?}, {})", self.info.name, self.info.backend, self.info.driver)
    }

    /// Waits until all submitted work is done.
    pub fn wait(&self) -> Result<()> {
        self.device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| GpuError::Device(e.to_string()))?;
        self.check()
    }
}
