//! One training step, llm.c style: upload the batch, then record forward, loss,
//! backward and update into one submission. Loss and accuracy accumulate on the GPU
//! and are read back only when asked for.

use crate::evaluation::{Scoring, Totals};
use crate::gpu::{Dispatch, Gpu, GpuError, Recorder, Result, Tensor};
use crate::nn::{Mode, Network, Purpose};
use crate::ops::mixup::{self, MixupSampler};
use crate::ops::{noisy_relu, sgd};

/// Optimiser settings; weight decay applies to batch-norm parameters only with `decay_norm`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SgdConfig {
    pub momentum: f32,
    pub nesterov: bool,
    pub weight_decay: f32,
    pub decay_norm: bool,
}

/// Mixup's inputs: the batch as loaded, blended into the network's input and targets.
struct Mixup {
    sampler: MixupSampler,
    images: Tensor,
    lambda: Tensor,
    perm: Tensor,
    blend: Dispatch,
}

pub struct Trainer<'g> {
    gpu: &'g Gpu,
    pub network: Network,
    seed: u64,
    scoring: Scoring,
    lr: Tensor,
    mixup: Option<Mixup>,
    /// The loss with its gradient, and the totals.
    score: [Dispatch; 2],
    updates: Vec<Dispatch>,
}

impl<'g> Trainer<'g> {
    /// `mixup_alpha` > 0 blends each training batch with a permutation of itself
    /// (lambda ~ Beta(a, a)); `seed` drives mixup and noise, step by step.
    pub fn new(gpu: &'g Gpu, network: Network, config: &SgdConfig, mixup_alpha: f64, seed: u64) -> Result<Trainer<'g>> {
        if network.purpose() != Purpose::Training {
            return Err(GpuError::shape("a network built for inference has no gradients to train with"));
        }
        let [batch, classes] = *network.logits().shape() else { unreachable!("networks end in a linear layer") };
        let scoring = Scoring::new(gpu, batch, classes)?;
        let targets = &scoring.targets;
        let lr = gpu.zeros(&[1])?;
        let logits = network.logits();
        let sampler = MixupSampler::new(mixup_alpha, seed)
            .map_err(|e| GpuError::shape(format!("mixup alpha {mixup_alpha}: {e}")))?;
        let (mixup, train_targets) = if sampler.enabled() {
            let images = gpu.zeros(network.input.shape())?;
            let (lambda, perm, mixed_targets) = (gpu.zeros(&[1])?, gpu.zeros(&[batch])?, gpu.zeros(&[batch, classes])?);
            let blend = mixup::forward(gpu, &lambda, &perm, &images, targets, &network.input.value, &mixed_targets)?;
            (Some(Mixup { sampler, images, lambda, perm, blend }), mixed_targets)
        } else {
            (None, targets.clone())
        };
        let score = scoring.score(gpu, &logits.value, &train_targets, Some(logits.grad()))?;
        let updates = network
            .params()
            .iter()
            .filter_map(|param| param.training.as_ref().map(|training| (param, training)))
            .map(|(param, training)| {
                let decays = !param.is_norm || config.decay_norm;
                let sgd_config = sgd::Sgd {
                    momentum: config.momentum,
                    nesterov: config.nesterov,
                    weight_decay: if decays { config.weight_decay } else { 0.0 },
                };
                let velocity = (config.momentum > 0.0).then_some(&training.velocity);
                sgd::step(gpu, &sgd_config, &lr, &training.grad, &param.value, velocity)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Trainer { gpu, network, seed, scoring, lr, mixup, score, updates })
    }

    /// One SGD step on a full batch at learning rate `lr`; `step` (global, from 0) picks
    /// the step's mixup draw and noise. Returns without waiting.
    pub fn train_step(&self, images: &[f32], labels: &[u32], lr: f32, step: u64) -> Result<()> {
        self.prepare_train_step(images, labels, lr, step)?;
        let mut recorder = Recorder::new(self.gpu);
        self.record_train_step(&mut recorder);
        recorder.submit()
    }

    /// Uploads a step's batch, learning rate, Mixup draw and random-stream position (the first
    /// half of [`train_step`](Self::train_step)).
    pub fn prepare_train_step(&self, images: &[f32], labels: &[u32], lr: f32, step: u64) -> Result<()> {
        let input = self.mixup.as_ref().map_or(&self.network.input.value, |m| &m.images);
        self.gpu.write(input, images)?;
        self.gpu.write(&self.scoring.labels, labels)?;
        self.gpu.write(&self.lr, &[lr])?;
        if let Some(mixup) = &self.mixup {
            mixup.sampler.upload(self.gpu, step, &mixup.lambda, &mixup.perm)?;
        }
        if let Some(counter) = self.network.sites.random_counter() {
            let step = u32::try_from(step).map_err(|_| GpuError::shape("random step counter beyond 2^32 steps"))?;
            noisy_relu::set_counter(self.gpu, counter, self.seed, step)?;
        }
        Ok(())
    }

    /// Replaces the Mixup draw that [`prepare_train_step`](Self::prepare_train_step) uploaded
    /// by a given one: `lambda` in [0, 1] and `perm` a permutation of the batch (image n is
    /// blended as lambda x[n] + (1 - lambda) x[perm[n]], its targets alike). This reproduces
    /// a step of a reference implementation, which cannot draw what [`MixupSampler`] draws
    /// (tests/torch_parity.rs). Call it between `prepare_train_step` and recording the step;
    /// fails for a trainer without Mixup.
    pub fn set_mixup_draw(&self, lambda: f32, perm: &[u32]) -> Result<()> {
        let Some(mixup) = &self.mixup else {
            return Err(GpuError::shape("a Mixup draw given to a trainer without Mixup (alpha 0)"));
        };
        mixup::write_draw(self.gpu, lambda, perm, &mixup.lambda, &mixup.perm)
    }

    /// Records a step's kernels in order: targets, forward, loss, backward, update (the
    /// second half of [`train_step`](Self::train_step); `sturdy bench` records into a timed recorder).
    pub fn record_train_step(&self, recorder: &mut Recorder) {
        recorder.record(self.scoring.one_hot());
        if let Some(mixup) = &self.mixup {
            recorder.record(&mixup.blend);
        }
        self.network.record_forward(recorder, Mode::Train);
        recorder.record_all(&self.score);
        self.network.record_backward(recorder);
        recorder.record_all(&self.updates);
    }

    /// Reads the training loss and accuracy accumulated since the last call (a
    /// synchronisation point) and resets them.
    pub fn take_totals(&self) -> Result<Totals> {
        self.scoring.take_totals(self.gpu)
    }
}
