//! The same seed on the same adapter gives bit-identical results: two short `sturdy train`
//! runs with one seed agree in every metric (timing aside) and every checkpoint bit, and a
//! run with another seed does not. RELIABILITY.md says what may differ across adapters.

use std::path::Path;
use std::process::{Command, Stdio};

use sturdy::checkpoint::Checkpoint;
use sturdy::data::synthetic::{write_fashion_mnist_like, ScratchDir};
use sturdy::train::metrics::{read_records, EpochRecord};

/// Two epochs of the half-width small CNN on 320 training images (10 steps of 32).
fn train(data: &Path, out: &Path, seed: &str) {
    let output = Command::new(env!("CARGO_BIN_EXE_sturdy"))
        .args(["train", "--dataset", "fashion-mnist", "--model", "smallcnn", "--width", "0.5"])
        .args(["--epochs", "2", "--batch-size", "32", "--lr", "0.05", "--seed", seed])
        .arg("--data-dir")
        .arg(data)
        .arg("--out")
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(output.status.success(), "sturdy train failed: {}", String::from_utf8_lossy(&output.stderr));
}

/// Metrics with the wall-clock fields zeroed, as bit patterns so -0.0 / NaN compare exactly.
fn metrics(out: &Path) -> Vec<(EpochRecord, [u64; 5])> {
    read_records(&out.join("metrics.jsonl"))
        .unwrap()
        .into_iter()
        .map(|r| {
            let bits = [r.train_loss, r.train_accuracy, r.test_loss, r.test_accuracy, r.lr].map(f64::to_bits);
            (EpochRecord { epoch_seconds: 0.0, images_per_second: 0.0, ..r }, bits)
        })
        .collect()
}

/// Every checkpoint tensor as (name, shape, f32 bit patterns).
fn weights(out: &Path) -> Vec<(String, Vec<usize>, Vec<u32>)> {
    let checkpoint = Checkpoint::load(&out.join("checkpoint.safetensors")).unwrap();
    checkpoint.tensors.into_iter().map(|t| (t.name, t.shape, t.data.iter().map(|v| v.to_bits()).collect())).collect()
}

#[test]
fn same_seed_same_bits_other_seed_other_result() {
    let scratch = ScratchDir::new("determinism");
    let data = scratch.path().join("fashion-mnist");
    std::fs::create_dir_all(&data).unwrap();
    write_fashion_mnist_like(&data, 320, 96, 1).unwrap();
    let [a, b, c] = ["a", "b", "c"].map(|name| scratch.path().join(name));
    train(&data, &a, "7");
    train(&data, &b, "7");
    train(&data, &c, "8");

    let (metrics_a, weights_a) = (metrics(&a), weights(&a));
    assert_eq!(metrics_a.len(), 2);
    assert_eq!(metrics_a, metrics(&b), "same seed, different metrics");
    assert!(weights_a == weights(&b), "same seed, different checkpoint bits");

    assert_ne!(metrics_a, metrics(&c), "seeds 7 and 8 gave the same metrics");
    let weights_c = weights(&c);
    assert_eq!(weights_a.len(), weights_c.len());
    // Every trained tensor depends on the seed (initialisation and shuffling); SGD's
    // momentum buffers and batch-norm statistics too. The sites' running max |x| is
    // only kept by the noise and poly recipes: with vanilla it stays zero.
    let trained: Vec<_> = weights_a.iter().zip(&weights_c).filter(|(x, _)| x.0 != "sites.max_abs").collect();
    let differing = trained.iter().filter(|(x, y)| x.2 != y.2).count();
    assert_eq!(differing, trained.len(), "only {differing} of {} tensors differ between seeds", trained.len());
}
