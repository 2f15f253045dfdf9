//! Timing kernels for `sturdy bench`: GPU timestamps around runs of dispatches where the
//! adapter has TIMESTAMP_QUERY, wall-clock time around submit and wait otherwise.

use std::time::Instant;

use super::recorder::record_run;
use super::{Dispatch, Gpu, GpuError, Recorder, Result};

/// A query set of timestamps with the buffers that bring them back to the host.
pub(super) struct Timestamps {
    query_set: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    readback: wgpu::Buffer,
    capacity: u32,
}

/// Bytes of one resolved timestamp.
const TIMESTAMP_BYTES: u64 = 8;

impl Timestamps {
    /// Room for `runs` timed runs of dispatches (two timestamps each).
    pub(super) fn new(gpu: &Gpu, runs: usize) -> Result<Timestamps> {
        let capacity = u32::try_from(2 * runs)
            .ok()
            .filter(|&n| n > 0 && n <= wgpu::QUERY_SET_MAX_QUERIES)
            .ok_or_else(|| GpuError::Device(format!("cannot time {runs} runs in one query set")))?;
        let size = capacity as u64 * TIMESTAMP_BYTES;
        let buffer = |usage| {
            gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("timestamps"),
                size,
                usage,
                mapped_at_creation: false,
            })
        };
        Ok(Timestamps {
            query_set: gpu.device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("timestamps"),
                ty: wgpu::QueryType::Timestamp,
                count: capacity,
            }),
            resolve: buffer(wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC),
            readback: buffer(wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST),
            capacity,
        })
    }

    pub(super) fn runs(&self) -> usize {
        self.capacity as usize / 2
    }

    /// The writes of timed run number `run`'s start (`begin`) and end (`end`) that a pass
    /// makes; `None` for neither.
    pub(super) fn run_writes(
        &self,
        run: usize,
        begin: bool,
        end: bool,
    ) -> Option<wgpu::ComputePassTimestampWrites<'_>> {
        let index = |wanted: bool, which: u32| wanted.then_some(2 * run as u32 + which);
        (begin || end).then(|| wgpu::ComputePassTimestampWrites {
            query_set: &self.query_set,
            beginning_of_pass_write_index: index(begin, 0),
            end_of_pass_write_index: index(end, 1),
        })
    }

    /// Copies the timestamps of the first `runs` runs to the readback buffer.
    pub(super) fn resolve(&self, encoder: &mut wgpu::CommandEncoder, runs: usize) {
        let count = 2 * runs as u32;
        if count > 0 {
            encoder.resolve_query_set(&self.query_set, 0..count, &self.resolve, 0);
            encoder.copy_buffer_to_buffer(&self.resolve, 0, &self.readback, 0, count as u64 * TIMESTAMP_BYTES);
        }
    }

    /// Waits for the GPU and returns the seconds each of the first `runs` runs took.
    pub(super) fn read(&self, gpu: &Gpu, runs: usize) -> Result<Vec<f64>> {
        if runs == 0 {
            return Ok(Vec::new());
        }
        let slice = self.readback.slice(..2 * runs as u64 * TIMESTAMP_BYTES);
        let (sender, receiver) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| sender.send(r).unwrap());
        gpu.wait()?;
        receiver
            .recv()
            .map_err(|e| GpuError::Device(e.to_string()))?
            .map_err(|e| GpuError::Device(format!("reading timestamps failed: {e}")))?;
        let ticks: Vec<u64> = {
            let view = slice.get_mapped_range().map_err(|e| GpuError::Device(e.to_string()))?;
            bytemuck::cast_slice(&view).to_vec()
        };
        self.readback.unmap();
        let seconds_per_tick = f64::from(gpu.queue.get_timestamp_period()) * 1e-9;
        Ok(ticks.chunks(2).map(|pair| pair[1].saturating_sub(pair[0]) as f64 * seconds_per_tick).collect())
    }
}

/// The median of `values` (the mean of the middle two for an even count); NaN when empty.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

impl Gpu {
    /// Whether this device measures kernels with GPU timestamps (else wall-clock time).
    pub fn has_timestamps(&self) -> bool {
        self.device.features().contains(wgpu::Features::TIMESTAMP_QUERY)
    }

    /// Whether shaders may use f16 (SHADER_F16), as the f16-storage probe does.
    pub fn has_f16(&self) -> bool {
        self.device.features().contains(wgpu::Features::SHADER_F16)
    }

    /// Whether shaders may use subgroup operations (SUBGROUP), as shaders/gemm_subgroup.wgsl does.
    pub fn has_subgroups(&self) -> bool {
        self.device.features().contains(wgpu::Features::SUBGROUP)
    }

    /// Median seconds of one run of `dispatches` (in order, as a submission records them) over
    /// `repeats` runs, after one untimed run that pays for shader compilation. With
    /// timestamps the runs are timed on the GPU within one submission; without, each
    /// run is timed on the host from submit to the end of the wait.
    pub fn time(&self, dispatches: &[&Dispatch], repeats: usize) -> Result<f64> {
        self.run(dispatches.iter().copied())?;
        self.wait()?;
        let repeats = repeats.max(1);
        if !self.has_timestamps() {
            let runs = (0..repeats).map(|_| self.time_submission(dispatches)).collect::<Result<Vec<_>>>()?;
            return Ok(median(&runs));
        }
        Ok(median(&self.timestamped_runs(dispatches, repeats)?))
    }

    /// GPU seconds of each of `runs` runs of `dispatches` in one submission, between
    /// timestamps before each run's first dispatch and after its last. Needs TIMESTAMP_QUERY.
    fn timestamped_runs(&self, dispatches: &[&Dispatch], runs: usize) -> Result<Vec<f64>> {
        let timestamps = Timestamps::new(self, runs)?;
        let mut encoder = self.device.create_command_encoder(&Default::default());
        for run in 0..runs {
            record_run(&mut encoder, dispatches, Some((&timestamps, run)));
        }
        timestamps.resolve(&mut encoder, runs);
        self.queue.submit([encoder.finish()]);
        self.check()?;
        timestamps.read(self, runs)
    }

    /// Seconds one submission of `dispatches` takes: on the GPU, from a timestamp before the
    /// first to one after the last, where the adapter has TIMESTAMP_QUERY (leaving out what
    /// the host spends recording, submitting and waiting); else on the host, from recording
    /// to the end of the wait.
    pub fn time_submission(&self, dispatches: &[&Dispatch]) -> Result<f64> {
        if !self.has_timestamps() {
            let start = Instant::now();
            self.run(dispatches.iter().copied())?;
            self.wait()?;
            return Ok(start.elapsed().as_secs_f64());
        }
        Ok(self.timestamped_runs(dispatches, 1)?[0])
    }

    /// Seconds `dispatches` take, each dispatch timed alone (see [`Recorder::timed`]),
    /// or `None` without timestamps.
    pub fn kernel_times(&self, dispatches: &[&Dispatch]) -> Result<Option<Vec<f64>>> {
        if !self.has_timestamps() {
            return Ok(None);
        }
        let mut recorder = Recorder::timed(self, dispatches.len())?;
        recorder.record_all(dispatches.iter().copied());
        Ok(Some(recorder.submit_timed()?.into_iter().map(|timed| timed.seconds).collect()))
    }
}
