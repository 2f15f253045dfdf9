//! Fused passes end to end: for every kind of training activation (exact, additive,
//! multiplicative and replay noise, the polynomial), a short training run with fused
//! passes follows the run with `STURDY_FUSE=off` (each layer on its own), and both
//! evaluate the same PANN.

use std::path::Path;
use std::process::{Command, Stdio};

use sturdy::data::synthetic::{write_fashion_mnist_like, ScratchDir};
use sturdy::gpu::FUSE_ENV;
use sturdy::train::metrics::read_records;

/// Three epochs of the half-width small CNN on 320 images (10 steps of 32 each) with the
/// `activation` flags, passes fused or not; the per-epoch training losses.
fn train(data: &Path, out: &Path, activation: &[&str], fused: bool) -> Vec<f64> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sturdy"));
    command
        .args(["train", "--dataset", "fashion-mnist", "--model", "smallcnn", "--width", "0.5"])
        .args(["--epochs", "3", "--batch-size", "32", "--lr", "0.05", "--seed", "5", "--kernels", "texture"])
        .args(activation)
        .arg("--data-dir")
        .arg(data)
        .arg("--out")
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if !fused {
        command.env(FUSE_ENV, "off");
    }
    let output = command.output().unwrap();
    assert!(output.status.success(), "sturdy train {activation:?}: {}", String::from_utf8_lossy(&output.stderr));
    read_records(&out.join("metrics.jsonl")).unwrap().iter().map(|r| r.train_loss).collect()
}

/// The fused kernels compute each batch-norm output with the same f32 operations as the
/// batch norm's own kernel (`batch_normalized`, shaders/common/batch_norm.wgsl), and the
/// site's running max |x| from the channel's extremes through the same transform, which
/// rounding keeps monotone (a residual sum measures the very values it writes), so they differ at most where a compiler contracts a product
/// and a sum into one fused multiply-add in one kernel and not in the other: within 2 u
/// of each value (u = 2^-24). To first order such differences add up over the layers of a
/// step and over the steps (SGD at this learning rate does not amplify them within 30
/// steps): 30 steps x 12 layers x 2 u relative, about 4e-5. A wrong channel, statistic,
/// noise stream or gradient changes the loss by far more (order 1e-2 or more).
const BOUND: f64 = 30.0 * 12.0 * 2.0 * f32::EPSILON as f64 / 2.0;

#[test]
fn fused_training_follows_the_unfused_layers_for_every_activation() {
    let scratch = ScratchDir::new("fused-passes");
    let data = scratch.path().join("fashion-mnist");
    std::fs::create_dir_all(&data).unwrap();
    write_fashion_mnist_like(&data, 320, 64, 1).unwrap();
    let activations: [&[&str]; 5] = [
        &["--recipe", "vanilla"],
        &["--recipe", "noise", "--alpha-target", "6"],
        &["--recipe", "noise", "--alpha-target", "6", "--noise-form", "multiplicative"],
        &["--recipe", "replay", "--alpha-target", "6"],
        &["--recipe", "poly", "--alpha-target", "8"],
    ];
    for (index, activation) in activations.iter().enumerate() {
        let fused = train(&data, &scratch.path().join(format!("fused-{index}")), activation, true);
        let unfused = train(&data, &scratch.path().join(format!("unfused-{index}")), activation, false);
        assert_eq!(fused.len(), 3);
        for (epoch, (loss, reference)) in fused.iter().zip(&unfused).enumerate() {
            let error = (loss - reference).abs() / reference.abs();
            eprintln!("{activation:?} epoch {epoch}: fused {loss} unfused {reference} ({error:.1e})");
            assert!(
                error <= BOUND,
                "{activation:?}, epoch {epoch}: fused loss {loss} against unfused {reference} ({error:e} > {BOUND:e})"
            );
        }
    }
}
