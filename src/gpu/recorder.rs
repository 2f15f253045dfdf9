use super::kernel::Work;
use super::timing::Timestamps;
use super::{Dispatch, Gpu, GpuError, Result, Traffic};

/// One dispatch of a timed recording: its kernel, GPU seconds and memory traffic.
#[derive(Clone, Debug)]
pub struct TimedDispatch {
    pub kernel: String,
    pub seconds: f64,
    pub traffic: Traffic,
}

/// Records dispatches into one command buffer, so a whole training step costs one
/// submission: kernels into compute passes (wgpu orders dependent dispatches in a pass),
/// copies between them. A [`timed`](Recorder::timed) recorder instead times each dispatch
/// alone, between GPU timestamps, to see where a step's time goes.
pub struct Recorder<'g> {
    gpu: &'g Gpu,
    encoder: wgpu::CommandEncoder,
    /// The dispatches of an untimed recorder, recorded at submit.
    dispatches: Vec<Dispatch>,
    /// The timestamps of a timed recorder and the kernel and traffic of each dispatch it
    /// has recorded.
    timer: Option<(Timestamps, Vec<(String, Traffic)>)>,
}

impl<'g> Recorder<'g> {
    pub fn new(gpu: &'g Gpu) -> Self {
        let encoder = gpu.device.create_command_encoder(&Default::default());
        Recorder { gpu, encoder, dispatches: Vec::new(), timer: None }
    }

    /// A recorder that times each of up to `capacity` dispatches on the GPU (passes of
    /// their own, which adds a few microseconds each); read with [`submit_timed`](Self::submit_timed).
    /// Fails on adapters without TIMESTAMP_QUERY.
    pub fn timed(gpu: &'g Gpu, capacity: usize) -> Result<Self> {
        if !gpu.has_timestamps() {
            return Err(GpuError::Device(format!("{} has no TIMESTAMP_QUERY", gpu.adapter_name())));
        }
        let encoder = gpu.device.create_command_encoder(&Default::default());
        Ok(Recorder {
            gpu,
            encoder,
            dispatches: Vec::new(),
            timer: Some((Timestamps::new(gpu, capacity)?, Vec::new())),
        })
    }

    pub fn record(&mut self, dispatch: &Dispatch) {
        match &mut self.timer {
            None => self.dispatches.push(dispatch.clone()),
            Some((timestamps, kernels)) => {
                assert!(kernels.len() < timestamps.runs(), "a timed recorder holds {} dispatches", timestamps.runs());
                record_run(&mut self.encoder, &[dispatch], Some((timestamps, kernels.len())));
                kernels.push((dispatch.name().to_string(), dispatch.traffic()));
            }
        }
    }

    pub fn record_all<'d>(&mut self, dispatches: impl IntoIterator<Item = &'d Dispatch>) {
        for dispatch in dispatches {
            self.record(dispatch);
        }
    }

    /// Submits; does not wait for the GPU.
    pub fn submit(mut self) -> Result<()> {
        let dispatches: Vec<&Dispatch> = self.dispatches.iter().collect();
        record_run(&mut self.encoder, &dispatches, None);
        if let Some((timestamps, kernels)) = &self.timer {
            timestamps.resolve(&mut self.encoder, kernels.len());
        }
        self.gpu.queue.submit([self.encoder.finish()]);
        self.gpu.check()
    }

    /// Submits, waits, and returns each recorded dispatch's kernel, GPU seconds and
    /// traffic, in order (empty for a recorder that is not [`timed`](Self::timed)).
    pub fn submit_timed(mut self) -> Result<Vec<TimedDispatch>> {
        let gpu = self.gpu;
        let timer = self.timer.take();
        if let Some((timestamps, kernels)) = &timer {
            timestamps.resolve(&mut self.encoder, kernels.len());
        }
        self.submit()?;
        match timer {
            Some((timestamps, kernels)) => {
                let seconds = timestamps.read(gpu, kernels.len())?;
                let timed = kernels.into_iter().zip(seconds);
                Ok(timed.map(|((kernel, traffic), seconds)| TimedDispatch { kernel, seconds, traffic }).collect())
            }
            None => Ok(Vec::new()),
        }
    }
}

impl Gpu {
    /// Records `dispatches` in order and submits them.
    pub fn run<'d>(&self, dispatches: impl IntoIterator<Item = &'d Dispatch>) -> Result<()> {
        let mut recorder = Recorder::new(self);
        recorder.record_all(dispatches);
        recorder.submit()
    }
}

/// Records `dispatches` in order into `encoder`: each run of kernels into one compute pass,
/// each copy between passes. `timed` (timestamps, run number) puts a timestamp at the start
/// of the first pass and one at the end of the last, in an empty pass of its own where a
/// copy starts or ends the run.
pub(super) fn record_run(
    encoder: &mut wgpu::CommandEncoder,
    dispatches: &[&Dispatch],
    timed: Option<(&Timestamps, usize)>,
) {
    let writes = |begin: bool, end: bool| timed.and_then(|(timestamps, run)| timestamps.run_writes(run, begin, end));
    let mut begun = false;
    let mut pass: Option<wgpu::ComputePass<'static>> = None;
    for (i, dispatch) in dispatches.iter().enumerate() {
        match dispatch.work() {
            Work::Kernel { kernel, bind_group, workgroups } => {
                let pass = pass.get_or_insert_with(|| {
                    // The pass ends the run where no copy follows.
                    let last = dispatches[i..].iter().all(|d| d.kernel().is_some());
                    let timestamp_writes = writes(!begun, last);
                    begun = true;
                    let label = Some(dispatch.name());
                    encoder
                        .begin_compute_pass(&wgpu::ComputePassDescriptor { label, timestamp_writes })
                        .forget_lifetime()
                });
                kernel.record(bind_group, *workgroups, pass);
            }
            Work::Copy { buffer, row_bytes, texture, size } => {
                drop(pass.take());
                if !begun {
                    timestamp_pass(encoder, writes(true, false));
                    begun = true;
                }
                let layout =
                    wgpu::TexelCopyBufferLayout { offset: 0, bytes_per_row: Some(*row_bytes), rows_per_image: None };
                encoder.copy_buffer_to_texture(
                    wgpu::TexelCopyBufferInfo { buffer, layout },
                    texture.as_image_copy(),
                    *size,
                );
            }
        }
    }
    // An open pass was begun as the last, with the run's end; else the run ends in a copy or is empty.
    if pass.take().is_none() {
        timestamp_pass(encoder, writes(!begun, true));
    }
}

/// An empty compute pass that only writes timestamps, if there are any to write.
fn timestamp_pass(encoder: &mut wgpu::CommandEncoder, writes: Option<wgpu::ComputePassTimestampWrites<'_>>) {
    if writes.is_some() {
        drop(encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: None, timestamp_writes: writes }));
    }
}
