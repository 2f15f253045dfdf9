use super::{Dispatch, Gpu, Result};

/// Records dispatches into one compute pass of one command buffer, so a whole
/// training step costs one submission (wgpu orders dependent dispatches in a pass).
pub struct Recorder<'g> {
    gpu: &'g Gpu,
    encoder: wgpu::CommandEncoder,
    pass: Option<wgpu::ComputePass<'static>>,
}

impl<'g> Recorder<'g> {
    pub fn new(gpu: &'g Gpu) -> Self {
        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        let pass = encoder.begin_compute_pass(&Default::default()).forget_lifetime();
        Recorder { gpu, encoder, pass: Some(pass) }
    }

    pub fn record(&mut self, dispatch: &Dispatch) {
        dispatch.record(self.pass.as_mut().expect("pass is open until submit"));
    }

    pub fn record_all<'d>(&mut self, dispatches: impl IntoIterator<Item = &'d Dispatch>) {
        for dispatch in dispatches {
            self.record(dispatch);
        }
    }

    /// Ends the pass and submits; does not wait for the GPU.
    pub fn submit(mut self) -> Result<()> {
        drop(self.pass.take());
        self.gpu.queue.submit([self.encoder.finish()]);
        self.gpu.check()
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
