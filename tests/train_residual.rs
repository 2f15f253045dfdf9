//! Proof the kernels train: a small residual CNN (conv-BN-ReLU stem, stride-2 residual
//! blocks with option-A or option-B shortcuts, global pooling, linear) learns a
//! synthetic, separable 4-class problem.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sturdy::evaluation::Evaluator;
use sturdy::gpu::Gpu;
use sturdy::models::{self, Model, ModelInput, ModelKind};
use sturdy::nn::{Mode, Shortcut, TrainActivation};
use sturdy::ops::noisy_relu::NoiseConfig;
use sturdy::train::{SgdConfig, Trainer};

const CLASSES: usize = 4;
const SIDE: usize = 12;
const BATCH: usize = 16;

/// Class k lights up quadrant k of a noisy grey image: separable, but only by
/// looking at where the energy is, which needs the convolutions and pooling to work.
fn synthetic_batch(rng: &mut StdRng) -> (Vec<f32>, Vec<u32>) {
    let labels: Vec<u32> = (0..BATCH).map(|_| rng.random_range(0..CLASSES as u32)).collect();
    let mut images = Vec::with_capacity(BATCH * SIDE * SIDE);
    for &label in &labels {
        let (qy, qx) = (label as usize / 2, label as usize % 2);
        for y in 0..SIDE {
            for x in 0..SIDE {
                let lit = y / (SIDE / 2) == qy && x / (SIDE / 2) == qx;
                images.push(if lit { 1.0 } else { 0.0 } + rng.random_range(-0.5..0.5));
            }
        }
    }
    (images, labels)
}

struct Outcome {
    context: String,
    /// Mean training loss of each block of 10 steps.
    losses: Vec<f64>,
    held_out_accuracy: f64,
}

/// 80 steps of SGD on the synthetic problem, then accuracy on 8 fresh batches.
fn train_synthetic(shortcut: Shortcut, activation: TrainActivation, mixup_alpha: f64) -> Outcome {
    let seed: u64 = rand::rng().random();
    let context = format!("shortcut {shortcut}, {activation:?}, mixup {mixup_alpha}, seed {seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let gpu = Gpu::from_env().unwrap();
    let input = ModelInput { batch: BATCH, channels: 1, height: SIDE, width: SIDE, classes: CLASSES };
    let model = Model { kind: ModelKind::Smallcnn, shortcut };
    let network = models::build(&gpu, model, input, 0.5, activation, &mut rng).unwrap();
    let sgd = SgdConfig { momentum: 0.9, nesterov: false, weight_decay: 5e-4, decay_norm: false };
    let trainer = Trainer::new(&gpu, network, &sgd, mixup_alpha, seed).unwrap();

    let mut losses = Vec::new();
    let mut buffers_after_first_step = None;
    for block in 0..8 {
        for step in 0..10 {
            let (images, labels) = synthetic_batch(&mut rng);
            trainer.train_step(&images, &labels, 0.05, block * 10 + step).unwrap();
            buffers_after_first_step.get_or_insert(gpu.buffers_created());
        }
        losses.push(trainer.take_totals().unwrap().mean_loss());
    }
    assert_eq!(Some(gpu.buffers_created()), buffers_after_first_step, "{context}: training steps allocated buffers");
    let evaluator = Evaluator::new(&gpu, &trainer.network).unwrap();
    for _ in 0..8 {
        let (images, labels) = synthetic_batch(&mut rng);
        evaluator.step(&images, &labels, Mode::Eval).unwrap();
    }
    let evaluation = evaluator.take_totals().unwrap();
    assert_eq!(evaluation.samples, (8 * BATCH) as f64);
    Outcome { context, losses, held_out_accuracy: evaluation.accuracy() }
}

#[test]
fn small_residual_cnn_learns_a_separable_problem() {
    for shortcut in [Shortcut::A, Shortcut::B] {
        let Outcome { context, losses, held_out_accuracy } = train_synthetic(shortcut, TrainActivation::Exact, 0.0);
        // Chance is ln 4 = 1.39; a working network ends far below it.
        let (first, last) = (losses[0], *losses.last().unwrap());
        assert!(last < first / 4.0, "{context}: loss fell only from {first} to {last}: {losses:?}");
        assert!(held_out_accuracy >= 0.95, "{context}: held-out accuracy {held_out_accuracy} (losses {losses:?})");
    }
}

/// The sturdiness recipes still learn: noise at a coarse target precision (alpha = 5,
/// noise of 1/32 of each site's bound) with Mixup, noise with a fixed bound, and training
/// through the polynomial.
#[test]
fn noise_mixup_and_polynomial_training_learn_too() {
    let noisy = TrainActivation::Noise { config: NoiseConfig::new(5), bound: None };
    let fixed = TrainActivation::Noise { config: NoiseConfig::new(5), bound: Some(4.0) };
    for (activation, mixup_alpha) in [(noisy, 1.0), (fixed, 0.0), (TrainActivation::Poly { alpha: 7 }, 0.0)] {
        let Outcome { context, losses, held_out_accuracy } =
            train_synthetic(Shortcut::default(), activation, mixup_alpha);
        // Noise makes single blocks noisy: compare the mean of the last three. Mixup's
        // blended targets have an entropy floor (about 0.4 nats for Beta(1, 1) blends of
        // 4 classes) above the 0.69 that halving ln 4 asks for: ask a quarter less there.
        let first = losses[0];
        let tail = losses[losses.len() - 3..].iter().sum::<f64>() / 3.0;
        let factor = if mixup_alpha > 0.0 { 0.75 } else { 0.5 };
        assert!(tail < first * factor, "{context}: loss fell only from {first} to {tail}: {losses:?}");
        assert!(held_out_accuracy >= 0.9, "{context}: held-out accuracy {held_out_accuracy} (losses {losses:?})");
    }
}
