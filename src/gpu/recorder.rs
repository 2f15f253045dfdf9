use super::timing::Timestamps;
use super::{Dispatch, Gpu, GpuError, Result, Traffic};

/// One dispatch of a timed recording: its kernel, GPU seconds and memory traffic.
#[derive(Clone, Debug)]
pub struct TimedDispatch {
    pub kernel: String,
    pub seconds: f64,
    pub traffic: Traffic,
}

/// Records dispatches into one compute pass of one command buffer, so a whole
/// training step costs one submission (wgpu orders dependent dispatches in a pass).
/// A [`timed`](Recorder::timed) recorder instead gives each dispatch a pass of its own
/// with GPU timestamps at both ends, to see where a step's time goes.
pub struct Recorder<'g> {
    gpu: &'g Gpu,
    encoder: wgpu::CommandEncoder,
    pass: Option<wgpu::ComputePass<'static>>,
    /// The timestamps of a timed recorder and the kernel and traffic of each dispatch it
    /// has recorded.
    timer: Option<(Timestamps, Vec<(String, Traffic)>)>,
}

impl<'g> Recorder<'g> {
    pub fn new(gpu: &'g Gpu) -> Self {
        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        let pass = encoder.begin_compute_pass(&Default::default()).forget_lifetime();
        Recorder { gpu, encoder, pass: Some(pass), timer: None }
    }

    /// A recorder that times each of up to `capacity` dispatches on the GPU (one pass
    /// per dispatch, which adds a few microseconds each); read with [`submit_timed`](Self::submit_timed).
    /// Fails on adapters without TIMESTAMP_QUERY.
    pub fn timed(gpu: &'g Gpu, capacity: usize) -> Result<Self> {
        if !gpu.has_timestamps() {
            return Err(GpuError::Device(format!("{} has no TIMESTAMP_QUERY", gpu.adapter_name())));
        }
        let encoder = gpu.device.create_command_encoder(&Default::default());
        Ok(Recorder { gpu, encoder, pass: None, timer: Some((Timestamps::new(gpu, capacity)?, Vec::new())) })
    }

    pub fn record(&mut self, dispatch: &Dispatch) {
        match &mut self.timer {
            None => dispatch.record(self.pass.as_mut().expect("pass is open until submit")),
            Some((timestamps, kernels)) => {
                assert!(kernels.len() < timestamps.passes(), "a timed recorder holds {} dispatches", timestamps.passes());
                let mut pass = self.encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some(dispatch.kernel().name()),
                    timestamp_writes: Some(timestamps.pass_writes(kernels.len())),
                });
                dispatch.record(&mut pass);
                kernels.push((dispatch.kernel().name().to_string(), dispatch.traffic()));
            }
        }
    }

    pub fn record_all<'d>(&mut self, dispatches: impl IntoIterator<Item = &'d Dispatch>) {
        for dispatch in dispatches {
            self.record(dispatch);
        }
    }

    /// Ends the pass and submits; does not wait for the GPU.
    pub fn submit(mut self) -> Result<()> {
        drop(self.pass.take());
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
    /// Records `dispatches` in order into one pass and submits them.
    pub fn run<'d>(&self, dispatches: impl IntoIterator<Item = &'d Dispatch>) -> Result<()> {
        let mut recorder = Recorder::new(self);
        recorder.record_all(dispatches);
        recorder.submit()
    }
}
