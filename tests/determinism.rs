//! The same seed on the same adapter gives bit-identical results: two short `sturdy train`
//! runs with one seed agree in every metric (timing aside) and every checkpoint bit, and a
//! run with another seed does not; a study cell trained and swept after another cell on the
//! same device is the cell run alone. RELIABILITY.md says what may differ across adapters.

use std::path::Path;
use std::process::{Command, Stdio};

use sturdy::checkpoint::Checkpoint;
use sturdy::data::synthetic::{write_fashion_mnist_like, ScratchDir};
use sturdy::study::quick;
use sturdy::study::spec::{cells, StudySpec};
use sturdy::train::metrics::{read_records, EpochRecord};

/// Runs `command` (a `sturdy` command line), failing the test with its stderr if it fails.
fn succeed(command: &mut Command) {
    let output = command.stdout(Stdio::null()).stderr(Stdio::piped()).output().unwrap();
    assert!(output.status.success(), "{command:?} failed: {}", String::from_utf8_lossy(&output.stderr));
}

fn sturdy() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sturdy"))
}

/// Two epochs of the half-width small CNN on 320 training images (10 steps of 32).
fn train(data: &Path, out: &Path, seed: &str) {
    succeed(
        sturdy()
            .args(["train", "--dataset", "fashion-mnist", "--model", "smallcnn", "--width", "0.5"])
            .args(["--epochs", "2", "--batch-size", "32", "--lr", "0.05", "--seed", seed])
            .arg("--data-dir")
            .arg(data)
            .arg("--out")
            .arg(out),
    );
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

/// The quick study (its two cells: vanilla, then Mixup with noise, each swept with the
/// per-site search) shrunk to `data`'s 320 training images; returns its cells' ids.
fn write_study(path: &Path, data: &Path) -> Vec<String> {
    let mut spec = StudySpec::parse(quick::TOML, quick::NAME).unwrap();
    let train = &mut spec.train;
    (train.data_dir, train.train_limit, train.test_limit) = (Some(data.to_path_buf()), None, None);
    (train.epochs, train.batch_size) = (2, 32);
    let sweep = &mut spec.sweep;
    (sweep.alphas, sweep.calibration_images, sweep.validation_images) = (vec![5, 8], 64, 64);
    assert!(sweep.per_site_alpha, "the quick study no longer runs the per-site search");
    std::fs::write(path, toml::to_string(&spec).unwrap()).unwrap();
    cells(&spec).iter().map(|cell| cell.id()).collect()
}

/// What a cell's result says, its wall times and its folder aside.
fn sweep_result(cell: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(cell.join("result.json")).unwrap();
    let mut result: serde_json::Value = serde_json::from_str(&text).unwrap();
    result["train_seconds"] = serde_json::Value::Null;
    result["sweep_seconds"] = serde_json::Value::Null;
    result["sweep"]["checkpoint"] = serde_json::Value::Null;
    result
}

/// A cell shares its process's device with the cells before it (compiled kernels, scratch
/// grids shared by shape, memory the previous cell freed): none of that may reach its results.
#[test]
fn a_cell_after_another_in_one_process_is_the_cell_run_alone() {
    let scratch = ScratchDir::new("determinism-study");
    let data = scratch.path().join("fashion-mnist");
    std::fs::create_dir_all(&data).unwrap();
    write_fashion_mnist_like(&data, 320, 96, 1).unwrap();
    let file = scratch.path().join("pair.toml");
    let [first, second] = <[String; 2]>::try_from(write_study(&file, &data)).expect("the quick study has two cells");
    let (both, alone) = (scratch.path().join("both"), scratch.path().join("alone"));
    succeed(sturdy().arg("study").arg(&file).arg("--out").arg(&both));
    succeed(sturdy().args(["study", "--cell", &second]).arg(&file).arg("--out").arg(&alone));
    assert!(!alone.join("cells").join(&first).exists(), "--cell ran the other cell too");

    let (after, by_itself) = (both.join("cells").join(&second), alone.join("cells").join(&second));
    assert_eq!(metrics(&after), metrics(&by_itself), "the cell's training depends on the cell before it");
    assert!(weights(&after) == weights(&by_itself), "the cell's checkpoint depends on the cell before it");
    assert_eq!(sweep_result(&after), sweep_result(&by_itself), "the cell's sweep depends on the cell before it");
}
