//! The reference encrypted-inference runner (`interop/openfhe/infer`, OpenFHE's CKKS) on a
//! tiny HE-ready export: a small CNN at width 0.25, alpha 5, one image, on the smallest
//! ring that holds the image (no security: a test). The decrypted logits are sturdy's own
//! f64 logits, the class is the same, and what it did (rotations, plaintext products,
//! levels) is what the export's `he_cost` says. Bad input is refused with the fix named:
//! an export in the plain layout, a level budget below the export's depth. And the
//! runner's packing, run in the clear (`--simulate`), computes a ResNet-20's logits (its
//! identity shortcuts scaled, its strides on the gapped grid).
//! Needs the runner's environment (`.ci/setup` makes it; `infer` makes it when missing).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sturdy::data::synthetic::{write_fashion_mnist_like, ScratchDir};
use sturdy::export::load;

fn sturdy(args: &[&str], paths: &[(&str, &Path)]) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sturdy"));
    command.args(args);
    for (flag, path) in paths {
        command.arg(flag).arg(path);
    }
    let output = command.output().unwrap();
    assert!(output.status.success(), "sturdy {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
}

fn infer(stem: &Path, data: &Path, extra: &[&str]) -> Output {
    let simulated = extra.contains(&"--simulate");
    Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/interop/openfhe/infer"))
        .arg("--export")
        .arg(stem)
        .arg("--data-dir")
        .arg(data)
        .args(if simulated { &["--images", "3"][..] } else { &["--images", "1", "--insecure-small-ring"] })
        .args(extra)
        .env("STURDY", env!("CARGO_BIN_EXE_sturdy"))
        .output()
        .unwrap()
}

/// The number after `key` in `line`.
fn figure(line: &str, key: &str) -> f64 {
    let rest = &line[line.find(key).unwrap_or_else(|| panic!("{key:?} not in {line}")) + key.len()..];
    rest.split([' ', ',', '/']).find(|s| !s.is_empty()).unwrap().parse().unwrap()
}

/// Trains `model` at width 0.25 for an epoch on Fashion-MNIST-format files and exports it
/// at `alpha`, HE-ready and plain; returns the data folder and the two stems.
fn train_and_export(scratch: &ScratchDir, model: &str, alpha: &str) -> (PathBuf, PathBuf, PathBuf) {
    let data = scratch.path().join("fashion-mnist");
    std::fs::create_dir_all(&data).unwrap();
    write_fashion_mnist_like(&data, 128, 16, 9).unwrap();
    let run = scratch.path().join("run");
    let train = ["train", "--dataset", "fashion-mnist", "--model", model, "--width", "0.25", "--epochs", "1"];
    sturdy(&[&train[..], &["--batch-size", "16", "--seed", "1"]].concat(), &[("--data-dir", &data), ("--out", &run)]);
    let (he, plain) = (scratch.path().join("he"), scratch.path().join("plain"));
    let export = ["export", "--alpha", alpha, "--per-site", "--calibration-images", "128"];
    sturdy(&[&export[..], &["--he"]].concat(), &[("--checkpoint", &run), ("--out", &he)]);
    sturdy(&export, &[("--checkpoint", &run), ("--out", &plain)]);
    (data, he, plain)
}

#[test]
fn the_encrypted_network_computes_sturdys_logits() {
    let scratch = ScratchDir::new("encrypted");
    let (data, he, plain) = train_and_export(&scratch, "smallcnn", "5");
    let depth = load::load(&he).unwrap().manifest.he_cost.unwrap().depth;

    let output = infer(&he, &data, &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "infer failed: {stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    eprintln!("{stdout}");
    let last = stdout.lines().last().unwrap();
    assert!(last.starts_with("1 images: ") && last.contains("agreement 1/1"), "{last}");
    // CKKS at scale 2^50 computes each product to about 2^-30 of its operands after a few
    // dozen levels of rescaling noise (OpenFHE's CKKS precision tables); the logits of this
    // network are of order 1 to 10, so 1e-6 leaves three orders of magnitude to spare and
    // still catches any wrong layer (whose error is of the order of the logits).
    assert!(figure(last, "max logit diff ") < 1e-6, "{last}");
    assert_eq!(figure(last, "depth ") as u32, depth, "{last}");
    let counted = stdout.lines().find(|l| l.starts_with("counted per image")).unwrap();
    assert!(!counted.contains("MISMATCH"), "the runner did other work than the export states: {counted}");

    let output = infer(&plain, &data, &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.contains("export it with `sturdy export --he`"), "{stderr}");
    let low = (depth - 1).to_string();
    let output = infer(&he, &data, &["--depth", &low]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "a level budget of {low} was accepted");
    assert!(stderr.contains(&format!("needs a level budget of {depth}")) && stderr.contains("--depth"), "{stderr}");
}

#[test]
fn the_runners_packing_computes_a_resnets_logits() {
    let scratch = ScratchDir::new("encrypted-resnet");
    let (data, he, _) = train_and_export(&scratch, "resnet20", "7");
    let output = infer(&he, &data, &["--simulate"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "infer failed: {stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let last = stdout.lines().last().unwrap();
    assert!(last.starts_with("3 images (simulated, not encrypted): ") && last.contains("agreement 3/3"), "{last}");
    // The same f64 arithmetic as sturdy's evaluator in another order (rotations move values
    // exactly, the masks are 0 and 1): sums of a few thousand terms of order 10 differ by
    // far less than 1e-9.
    assert!(figure(last, "max logit diff ") < 1e-9, "{last}");
    let counted = stdout.lines().find(|l| l.starts_with("counted per image")).unwrap();
    assert!(!counted.contains("MISMATCH"), "the runner did other work than the export states: {counted}");
}
