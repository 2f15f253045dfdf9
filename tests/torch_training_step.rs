//! sturdy's training step against PyTorch's: from the ResNet-20 fixture's weights
//! (option-A shortcuts, random batch-norm statistics), two SGD steps with momentum and
//! weight decay on every parameter, in training mode (batch statistics), on the batch
//! interop/torch/make_fixtures.py drew; the losses, every weight and every running
//! statistic afterwards agree with what PyTorch computed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rand::rngs::StdRng;
use rand::SeedableRng;
use sturdy::checkpoint::Checkpoint;
use sturdy::data::synthetic::ScratchDir;
use sturdy::export::torch::names::tensor_names;
use sturdy::export::torch::state_dict;
use sturdy::gpu::Gpu;
use sturdy::models::{self, Model, ModelInput, ModelKind};
use sturdy::nn::{Shortcut, TrainActivation};
use sturdy::train::config::CHECKPOINT_FILE;
use sturdy::train::{state, SgdConfig, Trainer};

/// make_fixtures.py's STEP_LR, STEP_MOMENTUM, STEP_WEIGHT_DECAY, STEP_BATCH.
const LR: f32 = 0.05;
const SGD: SgdConfig = SgdConfig { momentum: 0.9, nesterov: false, weight_decay: 5e-4, decay_norm: true };
const BATCH: usize = 8;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/torch").join(name)
}

fn norm(v: impl Iterator<Item = f64>) -> f64 {
    v.map(|x| x * x).sum::<f64>().sqrt()
}

#[test]
fn two_sgd_steps_match_pytorchs() {
    let scratch = ScratchDir::new("torch-step");
    let run = scratch.path().join("run");
    let output = Command::new(env!("CARGO_BIN_EXE_sturdy"))
        .args(["import", "torch", "--model", "resnet20", "--shortcut", "a", "--width", "0.25", "--dataset", "cifar10"])
        .arg("--weights")
        .arg(fixture("resnet20_a.safetensors"))
        .arg("--out")
        .arg(&run)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let mut expected = state_dict::read(&fixture("resnet20_a.steps.safetensors")).unwrap();
    let mut take = |name: &str| expected.remove(name).unwrap().data;
    let (images, labels, losses) = (take("images"), take("labels"), take("losses"));

    let gpu = Gpu::from_env().unwrap();
    let input = ModelInput { batch: BATCH, channels: 3, height: 32, width: 32, classes: 10 };
    let model = Model { kind: ModelKind::Resnet20, shortcut: Shortcut::A };
    let network =
        models::build(&gpu, model, input, 0.25, TrainActivation::Exact, &mut StdRng::seed_from_u64(0)).unwrap();
    let path = run.join(CHECKPOINT_FILE);
    state::restore_weights(&gpu, &network, &Checkpoint::load(&path).unwrap(), &path).unwrap();
    let before = state::snapshot(&gpu, &network).unwrap();
    let trainer = Trainer::new(&gpu, network, &SGD, 0.0, 0).unwrap();
    let labels: Vec<u32> = labels.iter().map(|&l| l as u32).collect();
    for (step, &loss) in losses.iter().enumerate() {
        trainer.train_step(&images, &labels, LR, step as u64).unwrap();
        let ours = trainer.take_totals().unwrap().mean_loss();
        // The loss is a mean of 8 log-softmaxes of logits computed in f32 on both sides;
        // 1e-4 relative is far above their rounding (about 1e-6) and far below the change
        // one step makes (a third of the loss here).
        assert!((ours - loss as f64).abs() <= 1e-4 * loss as f64, "step {step}: loss {ours} vs PyTorch's {loss}");
    }

    // Each tensor's change over the two steps, against PyTorch's. Both sides round in
    // f32: a sum of n terms is within n u of the exact one relative to the sum of the
    // terms' magnitudes (u = 2^-24), n up to 8 x 32 x 32 = 8192 for a weight gradient
    // (5e-4 worst case per layer), while rounding errors of random sign grow as sqrt(n) u
    // (5e-6). 2e-3 of the change's norm lies between the two through 20 layers; a wrong
    // gradient (a shortcut's, a batch norm's with the unbiased variance, weight decay
    // skipped on the batch-norm scales) changes the update by a good part of its norm.
    let after = state::snapshot(&gpu, &trainer.network).unwrap();
    let value = |checkpoint: &Checkpoint, name: &str| -> Vec<f64> {
        checkpoint.tensors.iter().find(|t| t.name == name).unwrap().data.iter().map(|&v| v as f64).collect()
    };
    let mut worst = (0.0f64, String::new());
    for name in tensor_names(ModelKind::Resnet20, &trainer.network) {
        let (start, ours) = (value(&before, &name.sturdy), value(&after, &name.sturdy));
        let theirs: Vec<f64> = take(&format!("after.{}", name.torch)).into_iter().map(f64::from).collect();
        let change = norm(start.iter().zip(&theirs).map(|(s, t)| t - s));
        let difference = norm(ours.iter().zip(&theirs).map(|(o, t)| o - t));
        let relative = difference / change.max(f64::MIN_POSITIVE);
        if relative > worst.0 {
            worst = (relative, name.torch.clone());
        }
        assert!(relative <= 2e-3, "{}: sturdy's change differs from PyTorch's by {relative:.2e} of it", name.torch);
    }
    eprintln!("largest relative difference of a tensor's change: {:.2e} ({})", worst.0, worst.1);
}
