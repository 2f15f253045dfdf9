//! One training step, llm.c style: upload the batch, then record forward, loss,
//! backward and update into one submission. Loss and accuracy accumulate on the GPU
//! and are read back only when asked for.

use crate::gpu::{Dispatch, Gpu, Recorder, Result, Tensor};
use crate::nn::{Mode, Network};
use crate::ops::{loss, sgd};

/// Optimiser settings; weight decay applies to batch-norm parameters only with `decay_norm`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SgdConfig {
    pub momentum: f32,
    pub nesterov: bool,
    pub weight_decay: f32,
    pub decay_norm: bool,
}

/// Sums over the batches since the last [`Trainer::take_totals`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Totals {
    pub loss_sum: f64,
    pub correct: f64,
    pub samples: f64,
}

impl Totals {
    pub fn mean_loss(&self) -> f64 {
        self.loss_sum / self.samples
    }

    pub fn accuracy(&self) -> f64 {
        self.correct / self.samples
    }
}

pub struct Trainer<'g> {
    gpu: &'g Gpu,
    pub network: Network,
    labels: Tensor,
    lr: Tensor,
    totals: Tensor,
    one_hot: Dispatch,
    train_loss: Dispatch,
    eval_loss: Dispatch,
    summarise: Dispatch,
    updates: Vec<Dispatch>,
}

impl<'g> Trainer<'g> {
    pub fn new(gpu: &'g Gpu, network: Network, config: &SgdConfig) -> Result<Trainer<'g>> {
        let [batch, classes] = *network.logits().shape() else { unreachable!("networks end in a linear layer") };
        let labels = gpu.zeros(&[batch])?;
        let targets = gpu.zeros(&[batch, classes])?;
        let losses = gpu.zeros(&[batch])?;
        let totals = gpu.zeros(&[loss::STATS_LEN])?;
        let lr = gpu.zeros(&[1])?;
        let logits = network.logits();
        let one_hot = loss::one_hot(gpu, &labels, &targets)?;
        let train_loss = loss::forward(gpu, &logits.value, &targets, &losses, Some(logits.grad()))?;
        let eval_loss = loss::forward(gpu, &logits.value, &targets, &losses, None)?;
        let summarise = loss::summarise(gpu, &logits.value, &targets, &losses, &totals, loss::Stats::Accumulate)?;
        let updates = network
            .params()
            .iter()
            .map(|param| {
                let decays = !param.is_norm || config.decay_norm;
                let sgd_config = sgd::Sgd {
                    momentum: config.momentum,
                    nesterov: config.nesterov,
                    weight_decay: if decays { config.weight_decay } else { 0.0 },
                };
                let velocity = (config.momentum > 0.0).then_some(&param.velocity);
                sgd::step(gpu, &sgd_config, &lr, &param.grad, &param.value, velocity)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Trainer { gpu, network, labels, lr, totals, one_hot, train_loss, eval_loss, summarise, updates })
    }

    pub fn batch_size(&self) -> usize {
        self.labels.len()
    }

    fn upload(&self, images: &[f32], labels: &[u32]) -> Result<()> {
        self.gpu.write(&self.network.input.value, images)?;
        self.gpu.write(&self.labels, labels)
    }

    /// One SGD step on a full batch at learning rate `lr`; returns without waiting.
    pub fn train_step(&self, images: &[f32], labels: &[u32], lr: f32) -> Result<()> {
        self.prepare_train_step(images, labels, lr)?;
        let mut recorder = Recorder::new(self.gpu);
        self.record_train_step(&mut recorder);
        recorder.submit()
    }

    /// Uploads a step's batch and learning rate (the first half of [`train_step`](Self::train_step)).
    pub fn prepare_train_step(&self, images: &[f32], labels: &[u32], lr: f32) -> Result<()> {
        self.upload(images, labels)?;
        self.gpu.write(&self.lr, &[lr])
    }

    /// Records a step's kernels in order: forward, loss, backward, update (the second
    /// half of [`train_step`](Self::train_step); `sturdy bench` records into a timed recorder).
    pub fn record_train_step(&self, recorder: &mut Recorder) {
        recorder.record(&self.one_hot);
        self.network.record_forward(recorder, Mode::Train);
        recorder.record(&self.train_loss);
        recorder.record(&self.summarise);
        self.network.record_backward(recorder);
        recorder.record_all(&self.updates);
    }

    /// Evaluates one batch with running statistics and exact activations. Labels of
    /// padding rows (a last partial batch) must be `u32::MAX`: they count for nothing.
    pub fn eval_step(&self, images: &[f32], labels: &[u32]) -> Result<()> {
        self.upload(images, labels)?;
        let mut recorder = Recorder::new(self.gpu);
        recorder.record(&self.one_hot);
        self.network.record_forward(&mut recorder, Mode::Eval);
        recorder.record(&self.eval_loss);
        recorder.record(&self.summarise);
        recorder.submit()
    }

    /// Reads the accumulated loss and accuracy (a synchronisation point) and resets them.
    pub fn take_totals(&self) -> Result<Totals> {
        let sums = self.gpu.download::<f32>(&self.totals)?;
        self.gpu.write(&self.totals, &[0.0f32; loss::STATS_LEN])?;
        Ok(Totals {
            loss_sum: sums[loss::LOSS_SUM] as f64,
            correct: sums[loss::CORRECT] as f64,
            samples: sums[loss::SAMPLES] as f64,
        })
    }
}
