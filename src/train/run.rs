//! `sturdy train`: data, model and trainer put together, epoch after epoch, with a
//! progress bar, a metrics log, an atomic checkpoint per epoch and resumption.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::SeedableRng;

use super::config::{RunConfig, RunFile, CHECKPOINT_FILE, RUN_FILE};
use super::metrics::{EpochRecord, MetricsLog};
use super::{state, Trainer};
use crate::checkpoint::Checkpoint;
use crate::data::{self, BatchPlan, Dataset, EpochBatches, Normalization};
use crate::evaluation::{Evaluator, Totals};
use crate::gpu::Gpu;
use crate::interrupt;
use crate::models::{self, ModelInput};
use crate::nn::{Mode, Network, Purpose};

/// Steps between reads of the running loss: each read waits for the GPU, so not every step.
const LOG_INTERVAL: usize = 20;

/// Checkpoint metadata key: epochs finished when it was written.
pub(crate) const EPOCH_KEY: &str = "epoch";
/// Checkpoint metadata keys of a run stopped inside an epoch: the steps of that epoch
/// already taken, and their loss and accuracy sums (f64, printed to round-trip exactly).
const EPOCH_STEP_KEY: &str = "epoch_step";
const PARTIAL_TOTALS_KEYS: [&str; 3] = ["epoch_loss_sum", "epoch_correct", "epoch_samples"];

/// Makes SIGINT and SIGTERM stop training cleanly (the current step and any write
/// finish, a checkpoint is saved, `--resume` continues bit for bit; a signal while the
/// model is built stops it before its next kernel timing, and the run before training);
/// the first says so on stderr, and a second ends the process at once, which is safe too
/// since every file is written atomically.
pub fn stop_on_signals() -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    for signal in [SIGINT, SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(signal, 130, interrupt::flag())?;
        signal_hook::flag::register(signal, interrupt::flag())?;
    }
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            let name = if signal == SIGINT { "SIGINT" } else { "SIGTERM" };
            eprintln!(
                "\n{name}: stopping at the next point a checkpoint can hold (within {LOG_INTERVAL} steps, or before \
                 the next kernel timing while the model is built); a second signal quits at once"
            );
        }
    });
    Ok(())
}

/// The error of a run stopped by a signal.
#[derive(Debug, thiserror::Error)]
pub enum Stopped {
    /// Inside training: its checkpoint holds the point it reached.
    #[error(
        "stopped by a signal after step {step} of epoch {epoch}; the checkpoint in {} holds that point.\n  \
         Continue by running the same command again (`sturdy train` with --resume; a study resumes its cells itself)",
        dir.display()
    )]
    Inside { epoch: usize, step: usize, dir: PathBuf },
    /// While the model was built (its kernel variants timed, say): nothing was trained.
    #[error(
        "stopped by a signal before training began; nothing was written to {}.\n  Run the same command again to train",
        dir.display()
    )]
    BeforeTraining { dir: PathBuf },
}

/// Where a run continues: whole epochs done, and the steps (with their sums) of an epoch
/// that a signal interrupted.
struct ResumePoint {
    epochs: usize,
    partial: Option<(usize, Totals)>,
}

pub struct Datasets {
    pub train: Arc<Dataset>,
    pub test: Arc<Dataset>,
}

/// Loads the run's dataset, cut to its limits.
pub fn load_datasets(config: &RunConfig) -> anyhow::Result<Datasets> {
    let dir = data::resolve_data_dir(config.dataset, config.data_dir.as_deref());
    let (mut train, mut test) = data::load_splits(config.dataset, &dir)?;
    if let Some(limit) = config.train_limit {
        train = train.truncated(limit);
    }
    if let Some(limit) = config.test_limit {
        test = test.truncated(limit);
    }
    Ok(Datasets { train: Arc::new(train), test: Arc::new(test) })
}

/// Builds the run's model for `purpose`; weights come from the seed (or a checkpoint later).
pub fn build_network(gpu: &Gpu, config: &RunConfig, train: &Dataset, purpose: Purpose) -> anyhow::Result<Network> {
    let [channels, height, width] = train.shape();
    let input = ModelInput { batch: config.batch_size, channels, height, width, classes: train.classes };
    let mut rng = StdRng::seed_from_u64(config.seed);
    let model = config.architecture();
    Ok(match purpose {
        Purpose::Training => models::build(gpu, model, input, config.width, config.activation, &mut rng)?,
        Purpose::Inference => models::build_for_inference(gpu, model, input, config.width, &mut rng)?,
    })
}

/// Builds the run's model and trainer.
pub fn build_trainer<'g>(gpu: &'g Gpu, config: &RunConfig, train: &Dataset) -> anyhow::Result<Trainer<'g>> {
    let network = build_network(gpu, config, train, Purpose::Training)?;
    Ok(Trainer::new(gpu, network, &config.sgd, config.mixup_alpha, config.seed)?)
}

fn progress_bar(epoch: usize, epochs: usize, steps: usize) -> ProgressBar {
    let bar = ProgressBar::new(steps as u64);
    bar.set_style(
        ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed} < {eta})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(format!("{epoch}/{epochs}"));
    bar
}

/// Adds `new` to `sum`, failing when the loss has diverged.
fn accumulate(sum: &mut Totals, new: Totals, epoch: usize, step: usize, out: &Path) -> anyhow::Result<()> {
    if !new.loss_sum.is_finite() {
        bail!(
            "training diverged at epoch {epoch}, step {step}: the loss is {}.\n  The last good checkpoint is kept in {}; \
             lower --lr or raise --warmup-epochs, then start again or --resume",
            new.loss_sum,
            out.display()
        );
    }
    sum.loss_sum += new.loss_sum;
    sum.correct += new.correct;
    sum.samples += new.samples;
    Ok(())
}

/// Trains (or, with `resume`, continues) the run in `out`; returns the metrics of every epoch.
pub fn train(gpu: &Gpu, config: RunConfig, out: &Path, resume: bool) -> anyhow::Result<Vec<EpochRecord>> {
    let saved = if resume { Some(RunFile::load(out)?) } else { None };
    let config = saved.as_ref().map_or(config, |run| run.config.clone());
    let config = &config;
    let datasets = load_datasets(config)?;
    // Training steps take whole batches (evaluation pads its last one).
    if datasets.train.len() < config.batch_size {
        let (images, batch) = (datasets.train.len(), config.batch_size);
        bail!("the training set has {images} images, fewer than --batch-size {batch}");
    }
    let built = build_trainer(gpu, config, &datasets.train);
    // A signal while the model was built stops the run, whether the build finished or
    // stopped at a kernel timing.
    if interrupt::requested() {
        return Err(Stopped::BeforeTraining { dir: out.into() }.into());
    }
    let trainer = built?;
    let evaluator = Evaluator::new(gpu, &trainer.network)?;
    let (normalization, resume) = match saved {
        Some(run) => (run.normalization, restore(gpu, &trainer.network, out)?),
        None => {
            if let Some(from) = &config.init_from {
                initialize_from(gpu, &trainer.network, config, from)?;
            }
            (start_run(config, &datasets.train, out)?, ResumePoint { epochs: 0, partial: None })
        }
    };
    let normalization = &normalization;
    let (finished, mut partial) = (resume.epochs, resume.partial);
    let metrics = MetricsLog::open(out, finished)?;
    let plan = BatchPlan::training(config.batch_size, config.seed, config.augment);
    let steps_per_epoch = plan.batches_per_epoch(datasets.train.len());
    let schedule = config.schedule(steps_per_epoch);
    eprintln!(
        "training {} on {} ({} images) with {}",
        config.model,
        config.dataset.name(),
        datasets.train.len(),
        gpu.adapter_name()
    );
    let mut records = super::metrics::read_records(&out.join(super::config::METRICS_FILE))?;
    for epoch in finished..config.epochs {
        let started = Instant::now();
        let bar = progress_bar(epoch + 1, config.epochs, steps_per_epoch);
        let (done, mut totals) = partial.take().unwrap_or((0, Totals { loss_sum: 0.0, correct: 0.0, samples: 0.0 }));
        bar.set_position(done as u64);
        let mut lr = 0.0;
        // Skipped batches are still drawn, so augmentation continues exactly where it stopped.
        for batch in EpochBatches::new(datasets.train.clone(), normalization, plan, epoch as u64).prefetch().skip(done)
        {
            let step = epoch * steps_per_epoch + batch.index;
            lr = schedule.lr(step);
            trainer.train_step(&batch.images, &batch.labels, lr as f32, step as u64)?;
            if (batch.index + 1) % LOG_INTERVAL == 0 || batch.index + 1 == steps_per_epoch {
                accumulate(&mut totals, trainer.take_totals()?, epoch + 1, step, out)?;
                let rate = totals.samples / started.elapsed().as_secs_f64();
                bar.set_message(format!(
                    "loss {:.4} acc {:.2}% {rate:.0} img/s",
                    totals.mean_loss(),
                    100.0 * totals.accuracy()
                ));
                // Here the loss sums were just read back, so the checkpoint can hold them.
                if interrupt::requested() && batch.index + 1 < steps_per_epoch {
                    bar.finish_and_clear();
                    save_checkpoint(gpu, &trainer.network, out, epoch, Some((batch.index + 1, &totals)))?;
                    return Err(Stopped::Inside { epoch: epoch + 1, step: batch.index + 1, dir: out.into() }.into());
                }
            }
            bar.inc(1);
        }
        bar.finish_and_clear();
        let train_seconds = started.elapsed().as_secs_f64();
        let test = evaluator.evaluate(&datasets.test, normalization, Mode::Eval)?.totals;
        let record = EpochRecord {
            epoch: epoch + 1,
            train_loss: totals.mean_loss(),
            train_accuracy: totals.accuracy(),
            test_loss: test.mean_loss(),
            test_accuracy: test.accuracy(),
            lr,
            epoch_seconds: started.elapsed().as_secs_f64(),
            images_per_second: totals.samples / train_seconds,
        };
        eprintln!(
            "epoch {}/{}: train loss {:.4} acc {:.2}%, test loss {:.4} acc {:.2}%, {:.0} img/s, {:.1} s",
            record.epoch,
            config.epochs,
            record.train_loss,
            100.0 * record.train_accuracy,
            record.test_loss,
            100.0 * record.test_accuracy,
            record.images_per_second,
            record.epoch_seconds
        );
        metrics.append(&record)?;
        save_checkpoint(gpu, &trainer.network, out, epoch + 1, None)?;
        records.push(record);
        if interrupt::requested() && epoch + 1 < config.epochs {
            return Err(Stopped::Inside { epoch: epoch + 1, step: steps_per_epoch, dir: out.into() }.into());
        }
    }
    Ok(records)
}

/// Saves the network after `epochs` whole epochs, and `partial` steps of the next with
/// their sums when a signal stopped it inside one.
fn save_checkpoint(
    gpu: &Gpu,
    network: &Network,
    out: &Path,
    epochs: usize,
    partial: Option<(usize, &Totals)>,
) -> anyhow::Result<()> {
    let mut checkpoint = state::snapshot(gpu, network)?;
    checkpoint.metadata.insert(EPOCH_KEY.into(), epochs.to_string());
    if let Some((steps, totals)) = partial {
        checkpoint.metadata.insert(EPOCH_STEP_KEY.into(), steps.to_string());
        for (key, value) in PARTIAL_TOTALS_KEYS.into_iter().zip([totals.loss_sum, totals.correct, totals.samples]) {
            checkpoint.metadata.insert(key.into(), format!("{value:?}"));
        }
    }
    Ok(checkpoint.save(&out.join(CHECKPOINT_FILE))?)
}

/// Loads the weights and running statistics of the run in `from` (`--init-from`), which
/// must have the architecture and width of `config`.
fn initialize_from(gpu: &Gpu, network: &Network, config: &RunConfig, from: &Path) -> anyhow::Result<()> {
    let source = RunFile::load(from)?.config;
    let describe = |c: &RunConfig| format!("{} of width {} with option-{} shortcuts", c.model, c.width, c.shortcut);
    if (source.architecture(), source.width) != (config.architecture(), config.width) {
        bail!(
            "--init-from {} is a {}, this run a {}; nothing was trained.\n  Fix: pass its --model, --width and \
             --shortcut, or start from a run of this architecture",
            from.display(),
            describe(&source),
            describe(config)
        );
    }
    let path = from.join(CHECKPOINT_FILE);
    state::restore_weights(gpu, network, &Checkpoint::load(&path)?, &path)
}

/// Creates the run folder, which must not hold another run, and writes `run.json`.
fn start_run(config: &RunConfig, train: &Dataset, out: &Path) -> anyhow::Result<Normalization> {
    if out.join(RUN_FILE).exists() {
        bail!(
            "{} already holds a run; pass --resume to continue it, or choose another --out (nothing was overwritten)",
            out.display()
        );
    }
    std::fs::create_dir_all(out).with_context(|| {
        format!(
            "cannot create the run folder {} (--out); nothing was trained.\n  Fix: choose an --out you can write",
            out.display()
        )
    })?;
    let normalization = Normalization::from_dataset(train);
    let run = RunFile { sturdy_version: env!("CARGO_PKG_VERSION").into(), config: config.clone(), normalization };
    run.save(out)?;
    Ok(run.normalization)
}

/// Loads the run's checkpoint, if one was written, into the network; returns the
/// number of finished epochs.
pub fn restore_checkpoint(gpu: &Gpu, network: &Network, out: &Path) -> anyhow::Result<usize> {
    Ok(restore(gpu, network, out)?.epochs)
}

/// The checkpoint's metadata entry `key`, parsed.
fn metadata_value<T: std::str::FromStr>(checkpoint: &Checkpoint, path: &Path, key: &str) -> anyhow::Result<T> {
    checkpoint.metadata.get(key).and_then(|v| v.parse().ok()).with_context(|| {
        let what = if key == EPOCH_KEY { "epoch number".to_string() } else { format!("valid {key}") };
        format!("checkpoint {} has no {what}; it was not written by `sturdy train`", path.display())
    })
}

fn restore(gpu: &Gpu, network: &Network, out: &Path) -> anyhow::Result<ResumePoint> {
    let path = out.join(CHECKPOINT_FILE);
    if !path.exists() {
        return Ok(ResumePoint { epochs: 0, partial: None });
    }
    let checkpoint = Checkpoint::load(&path)?;
    state::restore(gpu, network, &checkpoint, &path)?;
    let value = |key| metadata_value::<f64>(&checkpoint, &path, key);
    let epochs = metadata_value(&checkpoint, &path, EPOCH_KEY)?;
    let partial = match checkpoint.metadata.contains_key(EPOCH_STEP_KEY) {
        false => None,
        true => {
            let [loss_sum, correct, samples] = PARTIAL_TOTALS_KEYS.map(value);
            Some((
                metadata_value(&checkpoint, &path, EPOCH_STEP_KEY)?,
                Totals { loss_sum: loss_sum?, correct: correct?, samples: samples? },
            ))
        }
    };
    Ok(ResumePoint { epochs, partial })
}
