//! The `--shortcut` setting as runs see it: new runs get option A, runs saved before the
//! setting existed (a run.json without it) read as the option B they were trained with
//! and keep loading and evaluating as before, and an option-A network has no shortcut
//! parameters.

use std::path::Path;
use std::process::{Command, Stdio};

use sturdy::data::synthetic::fashion_mnist_scratch;
use sturdy::gpu::{Gpu, GpuOptions};
use sturdy::nn::{Mode, Shortcut};
use sturdy::train::config::RUN_FILE;
use sturdy::train::settings::TrainSettings;

fn train(data: &Path, run: &Path, shortcut: Option<&str>) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sturdy"));
    command.args(["train", "--dataset", "fashion-mnist", "--epochs", "1", "--width", "0.25", "--batch-size", "16"]);
    command.args(shortcut.map(|s| ["--shortcut", s]).iter().flatten());
    command.arg("--data-dir").arg(data).arg("--out").arg(run);
    let output = command.stdout(Stdio::null()).stderr(Stdio::piped()).output().unwrap();
    assert!(output.status.success(), "sturdy train failed: {}", String::from_utf8_lossy(&output.stderr));
}

fn recorded_shortcut(run: &Path) -> serde_json::Value {
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(run.join(RUN_FILE)).unwrap()).unwrap();
    json["config"]["shortcut"].clone()
}

/// The run's backbone's predictions on its test set, and its parameter names.
fn evaluate(gpu: &Gpu, run: &Path) -> (Vec<u32>, Vec<String>) {
    let opened = sturdy::evaluation::TrainedRun::open(gpu, run).unwrap();
    let evaluator = opened.evaluator(gpu).unwrap();
    let result = evaluator.evaluate(&opened.datasets.test, &opened.file.normalization, Mode::Eval).unwrap();
    let names = opened.network.params().iter().map(|p| p.name.clone()).collect();
    (result.predictions, names)
}

#[test]
fn new_runs_default_to_option_a() {
    assert_eq!(TrainSettings::default().shortcut, Shortcut::A);
    assert_eq!(TrainSettings::default().run_config().shortcut, Shortcut::A);
}

#[test]
fn a_run_json_without_the_setting_reads_as_option_b_and_keeps_evaluating() {
    let (scratch, data) = fashion_mnist_scratch("shortcut-legacy", 64, 32, 5);
    let gpu = Gpu::new(&GpuOptions::from_env()).unwrap();

    let option_b = scratch.path().join("b");
    train(&data, &option_b, Some("b"));
    assert_eq!(recorded_shortcut(&option_b), "b");
    let (predictions, names) = evaluate(&gpu, &option_b);
    assert!(names.iter().any(|n| n == "block1.shortcut.conv.weight"), "{names:?}");

    // The run.json of a run from before the setting: the same file without the field.
    let path = option_b.join(RUN_FILE);
    let mut json: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    json["config"].as_object_mut().unwrap().remove("shortcut").expect("run.json records the shortcut");
    std::fs::write(&path, serde_json::to_vec_pretty(&json).unwrap()).unwrap();
    assert_eq!(evaluate(&gpu, &option_b), (predictions, names), "an old run evaluates as it did");

    let option_a = scratch.path().join("a");
    train(&data, &option_a, None);
    assert_eq!(recorded_shortcut(&option_a), "a");
    let (_, names) = evaluate(&gpu, &option_a);
    assert!(names.iter().all(|n| !n.contains("shortcut")), "option A has no parameters: {names:?}");
}
