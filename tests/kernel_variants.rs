//! Kernel variants end to end: a short training run with each forced family (`--kernels`)
//! follows the direct kernels' loss curve, and `auto` measures once, caches its choices
//! per adapter, and survives a damaged or stale cache file.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sturdy::data::synthetic::{write_fashion_mnist_like, ScratchDir};
use sturdy::train::metrics::read_records;

/// Three epochs of the half-width small CNN on 320 images (10 steps of 32 each) with
/// `--kernels kernels`, the measurement cache in `cache`; the per-epoch training losses
/// and what the run wrote on stderr.
fn train(data: &Path, out: &Path, kernels: &str, cache: &Path) -> (Vec<f64>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_sturdy"))
        .args(["train", "--dataset", "fashion-mnist", "--model", "smallcnn", "--width", "0.5"])
        .args(["--epochs", "3", "--batch-size", "32", "--lr", "0.05", "--seed", "3", "--kernels", kernels])
        .arg("--data-dir")
        .arg(data)
        .arg("--out")
        .arg(out)
        .env("STURDY_CACHE_DIR", cache)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "sturdy train --kernels {kernels} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let losses = read_records(&out.join("metrics.jsonl")).unwrap().iter().map(|r| r.train_loss).collect();
    (losses, String::from_utf8_lossy(&output.stderr).into_owned())
}

fn data(scratch: &ScratchDir) -> PathBuf {
    let data = scratch.path().join("fashion-mnist");
    std::fs::create_dir_all(&data).unwrap();
    write_fashion_mnist_like(&data, 320, 64, 1).unwrap();
    data
}

/// The variants differ only in the order f32 sums are added: each product sum of K terms
/// is within K u of the exact one relative to the sum of |terms| (Higham, Thm 3.1; u =
/// 2^-24). To first order these differences add up over the layers of a step and over
/// the steps (SGD at this learning rate does not amplify them within 30 steps), so the
/// loss of every epoch agrees within steps x layers x K_max x u relative: 30 steps, 12
/// layers with products (convolutions, their gradients, the classifier), K at most
/// 16 x 9 = 144 (the widest 3x3 convolution here), about 3e-3. An indexing error changes
/// the loss by far more (order 1).
const STEPS: f64 = 30.0;
const LAYERS: f64 = 12.0;
const K_MAX: f64 = 144.0;
const BOUND: f64 = STEPS * LAYERS * K_MAX * f32::EPSILON as f64 / 2.0;

#[test]
fn every_forced_family_trains_like_the_direct_kernels() {
    let scratch = ScratchDir::new("kernel-families");
    let data = data(&scratch);
    let cache = scratch.path().join("cache");
    let (direct, _) = train(&data, &scratch.path().join("direct"), "direct", &cache);
    assert_eq!(direct.len(), 3);
    for family in ["texture", "subgroup", "tiled"] {
        let (losses, _) = train(&data, &scratch.path().join(family), family, &cache);
        for (epoch, (loss, reference)) in losses.iter().zip(&direct).enumerate() {
            let error = (loss - reference).abs() / reference.abs();
            assert!(
                error <= BOUND,
                "{family}, epoch {epoch}: loss {loss} against direct {reference} ({error:e} > {BOUND:e})"
            );
        }
    }
    assert!(!cache.exists(), "a forced family measures nothing, so it writes no cache");
}

/// The one cache file in `cache`, parsed.
fn cache_file(cache: &Path) -> (PathBuf, serde_json::Value) {
    let files: Vec<_> = std::fs::read_dir(cache)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    assert_eq!(files.len(), 1, "one cache file per adapter: {files:?}");
    let value = serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).expect("the cache file is JSON");
    (files[0].clone(), value)
}

#[test]
fn auto_caches_its_choices_and_rewrites_a_damaged_or_stale_cache() {
    let scratch = ScratchDir::new("kernel-cache");
    let data = data(&scratch);
    let cache = scratch.path().join("cache");
    let (first, said) = train(&data, &scratch.path().join("first"), "auto", &cache);
    let (path, value) = cache_file(&cache);
    let fastest = value["fastest"].as_object().expect("a map of choices").clone();
    let timed = format!("timed the kernel variants of {} op shapes in", fastest.len());
    assert!(said.contains(&timed), "the run does not say `{timed}`: {said}");
    let forward = fastest.keys().find(|key| key.starts_with("conv2d forward N32 1->8 28x28"));
    assert!(forward.is_some(), "the stem's forward convolution was measured: {fastest:?}");
    let names = ["direct", "texture", "subgroup", "tiled 64x64", "tiled 128x32"];
    assert!(fastest.values().all(|v| names.contains(&v.as_str().unwrap())), "{fastest:?}");

    // A second run reads the choices, so it computes exactly what the first did.
    let (again, said) = train(&data, &scratch.path().join("again"), "auto", &cache);
    assert_eq!(first, again, "the same cached variants give the same bits");
    assert!(!said.contains("timed the kernel variants"), "a run with every choice cached timed some: {said}");

    std::fs::write(&path, b"{ not json").unwrap();
    train(&data, &scratch.path().join("damaged"), "auto", &cache);
    let (_, rewritten) = cache_file(&cache);
    assert_eq!(rewritten["fastest"].as_object().unwrap().len(), fastest.len(), "a damaged cache is measured anew");

    let mut stale = rewritten.clone();
    stale["build"] = "another build".into();
    stale["fastest"] = serde_json::json!({ "conv2d forward N32 1->8 28x28 k3 s1 p1": "no such variant" });
    std::fs::write(&path, serde_json::to_vec(&stale).unwrap()).unwrap();
    train(&data, &scratch.path().join("stale"), "auto", &cache);
    let (_, renewed) = cache_file(&cache);
    assert_eq!(renewed["build"], rewritten["build"], "a stale cache is rewritten for this build");
    assert_eq!(renewed["fastest"].as_object().unwrap().len(), fastest.len());
}
