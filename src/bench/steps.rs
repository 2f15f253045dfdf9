//! Whole training steps: images/s through Trainer::train_step on random data, the host's
//! part of a step (upload, recording, submission: a floor under the step on any GPU), and
//! how much of a step's wall time no kernel accounts for (recording, submission, dispatch
//! overhead, waiting), from GPU timestamps of every kernel of one step.

use rand::Rng;

use super::random;
use super::table::{figure, ms, Table};
use super::BenchConfig;
use crate::gpu::{median, Gpu, Recorder, Result, TimedDispatch, MIB};
use crate::models::{self, ModelInput, ModelKind};
use crate::ops::noisy_relu::NoiseConfig;
use crate::train::recipe::Recipe;
use crate::train::settings::DEFAULT_ALPHA_TARGET;
use crate::train::{SgdConfig, Trainer};

/// Room in the timed recorder: above any model's dispatches per step (ResNet-110 has
/// about 1500), within wgpu's 4096 timestamp queries.
const MAX_TIMED_DISPATCHES: usize = 2048;

/// The recipes whose steps are timed: the backbone's, and the sturdy one (noise and Mixup).
const RECIPES: [Recipe; 2] = [Recipe::Vanilla, Recipe::MixupNoise];

/// A trainer for `kind` with `recipe`'s activations, Mixup and weight decay, on random weights,
/// SGD with momentum 0.9 as in the paper.
pub fn trainer(gpu: &Gpu, kind: ModelKind, input: ModelInput, recipe: Recipe) -> Result<Trainer<'_>> {
    // The precision the noise aims at: `sturdy train`'s default.
    let settings = recipe.settings(DEFAULT_ALPHA_TARGET, NoiseConfig::new(DEFAULT_ALPHA_TARGET));
    let network = models::build(gpu, kind, input, 1.0, settings.activation, &mut random::rng())?;
    let weight_decay = settings.weight_decay as f32;
    let sgd = SgdConfig { momentum: 0.9, nesterov: false, weight_decay, decay_norm: false };
    Trainer::new(gpu, network, &sgd, settings.mixup_alpha, 0)
}

/// Kernels in the profile table: the rest are summed into one row.
const PROFILED_KERNELS: usize = 12;

/// The step table, and where each model's step time goes by kernel (with timestamps).
pub fn measure(gpu: &Gpu, config: &BenchConfig) -> Result<Vec<Table>> {
    let batch = config.batch;
    let mut profile = Table::new(
        format!("Where a training step's kernel time goes, batch {batch}"),
        &["model", "kernel", "dispatches", "ms", "share"],
    );
    let fused = if gpu.fuses_passes() { "fused passes" } else { "unfused passes (STURDY_FUSE=off)" };
    let mut table = Table::new(
        format!("Training step (Trainer::train_step), batch {batch}, {fused}"),
        &[
            "model",
            "recipe",
            "input",
            "step ms",
            "min-max ms",
            "images/s",
            "host ms",
            "dispatches",
            "kernel ms (sum)",
            "outside kernels",
            "MiB read / written",
        ],
    );
    let cifar = ModelInput { batch, channels: 3, height: 32, width: 32, classes: 10 };
    let mnist = ModelInput { batch, channels: 1, height: 28, width: 28, classes: 10 };
    let models = [("ResNet-20", ModelKind::Resnet20, cifar), ("small CNN", ModelKind::Smallcnn, mnist)];
    for ((name, kind, input), recipe) in models.into_iter().flat_map(|model| RECIPES.map(|recipe| (model, recipe))) {
        let trainer = trainer(gpu, kind, input, recipe)?;
        let mut rng = random::rng();
        let images = random::values(&mut rng, batch * input.channels * input.height * input.width);
        let labels: Vec<u32> = (0..batch).map(|_| rng.random_range(0..input.classes as u32)).collect();
        // The seconds until train_step returns (the host's part), and until the GPU is done.
        let step = || -> Result<[f64; 2]> {
            let start = std::time::Instant::now();
            trainer.train_step(&images, &labels, 0.01, 0)?;
            let host = start.elapsed().as_secs_f64();
            gpu.wait()?;
            Ok([host, start.elapsed().as_secs_f64()])
        };
        // The first step pays for first use (each kernel's first dispatch, memory touched for
        // the first time: 5x the time of a later step on lavapipe, measured), so it is
        // untimed. With timestamps the next is the per-kernel timed step (whose passes make
        // its wall time unrepresentative).
        step()?;
        let kernel_times = if gpu.has_timestamps() {
            trainer.prepare_train_step(&images, &labels, 0.01, 0)?;
            let mut recorder = Recorder::timed(gpu, MAX_TIMED_DISPATCHES)?;
            trainer.record_train_step(&mut recorder);
            Some(recorder.submit_timed()?)
        } else {
            None
        };
        let steps = (0..config.step_repeats).map(|_| step()).collect::<Result<Vec<_>>>()?;
        let [hosts, times]: [Vec<f64>; 2] = [0, 1].map(|part| steps.iter().map(|step| step[part]).collect());
        let (host_seconds, seconds) = (median(&hosts), median(&times));
        let (fastest, slowest) = times.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), &t| (lo.min(t), hi.max(t)));
        if let Some(times) = &kernel_times {
            profile_rows(&mut profile, &format!("{name}, {recipe}"), times);
        }
        let (dispatches, kernel_ms, outside, traffic) = match &kernel_times {
            Some(times) => {
                let sum: f64 = times.iter().map(|timed| timed.seconds).sum();
                let [read, written] = [|t: &TimedDispatch| t.traffic.read, |t: &TimedDispatch| t.traffic.written]
                    .map(|bytes| times.iter().map(bytes).sum::<u64>() as f64 / MIB);
                (
                    times.len().to_string(),
                    ms(sum),
                    format!("{:.0} %", 100.0 * (1.0 - sum / seconds).max(0.0)),
                    format!("{} / {}", figure(read), figure(written)),
                )
            }
            None => ("n/a".into(), "n/a".into(), "n/a (no timestamps)".into(), "n/a".into()),
        };
        table.row(vec![
            name.into(),
            recipe.to_string(),
            format!("{}x{}x{}", input.height, input.width, input.channels),
            ms(seconds),
            format!("{}-{}", ms(fastest), ms(slowest)),
            figure(batch as f64 / seconds),
            ms(host_seconds),
            dispatches,
            kernel_ms,
            outside,
            traffic,
        ]);
    }
    table.notes.push(
        "Step ms: median wall time of train_step plus the wait for the GPU, over the timed steps whose \
         fastest and slowest are min-max. Host ms: the median time until train_step returns (the batch \
         uploaded, the step recorded and submitted): training records a step while the GPU runs \
         the one before, so on any GPU a step takes at least this long. Kernel ms: the step's dispatches \
         each timed alone by GPU timestamps; outside kernels = 1 - kernel sum / step time. MiB read / \
         written: the storage buffers and textures each dispatch binds and reads, or writes, summed \
         over the step (what the step moves if each dispatch touches each binding once)."
            .into(),
    );
    if profile.rows.is_empty() {
        return Ok(vec![table]);
    }
    profile.notes.push(format!(
        "Each step's dispatches timed alone by GPU timestamps, summed by kernel (shader::entry); the \
         {PROFILED_KERNELS} largest per model, the rest in one row."
    ));
    Ok(vec![table, profile])
}

/// One row per kernel of `times` (the largest first), the rest summed into one.
fn profile_rows(profile: &mut Table, model: &str, times: &[TimedDispatch]) {
    let mut by_kernel: Vec<(&str, usize, f64)> = Vec::new();
    for TimedDispatch { kernel, seconds, .. } in times {
        match by_kernel.iter_mut().find(|(name, ..)| name == kernel) {
            Some((_, count, sum)) => (*count, *sum) = (*count + 1, *sum + seconds),
            None => by_kernel.push((kernel, 1, *seconds)),
        }
    }
    by_kernel.sort_by(|a, b| b.2.total_cmp(&a.2));
    let total: f64 = by_kernel.iter().map(|(.., seconds)| seconds).sum();
    let rest = by_kernel.split_off(PROFILED_KERNELS.min(by_kernel.len()));
    let rest_row = (!rest.is_empty()).then(|| {
        let label = format!("{} others", rest.len());
        (label, rest.iter().map(|(_, count, _)| count).sum(), rest.iter().map(|(.., s)| s).sum())
    });
    let rows = by_kernel.into_iter().map(|(kernel, count, seconds)| (kernel.to_string(), count, seconds));
    for (kernel, count, seconds) in rows.chain(rest_row) {
        let share = format!("{:.0} %", 100.0 * seconds / total);
        profile.row(vec![model.into(), kernel, count.to_string(), ms(seconds), share]);
    }
}
