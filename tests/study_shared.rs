//! A study of 20 small cells run by two `sturdy study` processes at once on one study
//! folder, as two workers of a scheduler would: every cell is trained and swept exactly
//! once, both summaries list every cell, and no file is damaged.

use std::path::Path;
use std::process::{Command, Stdio};

use sturdy::data::synthetic::fashion_mnist_scratch;

const CELLS: usize = 20;

fn write_study(dir: &Path, data: &Path, out: &Path) -> std::path::PathBuf {
    let text = format!(
        r#"out = "{out}"
seeds = [0, 1, 2, 3, 4]

[[grid]]
recipes = ["vanilla", "mixup"]
weight_decays = [5e-4, 1e-4]

[train]
data_dir = "{data}"
width = 0.25
epochs = 1
batch_size = 16
crop_padding = 0

[sweep]
alphas = [6]
calibration_images = 32
"#,
        out = out.display(),
        data = data.display()
    );
    let path = dir.join("twenty.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn two_processes_share_a_study_folder_and_run_each_cell_once() {
    let (scratch, data) = fashion_mnist_scratch("study-shared", 48, 32, 5);
    let out = scratch.path().join("study");
    let file = write_study(scratch.path(), &data, &out);
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_sturdy"))
            .arg("study")
            .arg(&file)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let workers = [spawn(), spawn()];
    let outputs: Vec<_> = workers.into_iter().map(|w| w.wait_with_output().unwrap()).collect();
    let mut trained = Vec::new();
    for output in &outputs {
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "a worker failed: {stderr}");
        trained.extend(
            stderr.lines().filter_map(|l| l.split_once("cell ")?.1.strip_suffix(": training")).map(String::from),
        );
        let summary = String::from_utf8_lossy(&output.stdout);
        assert!(summary.contains(&format!("{CELLS} of {CELLS} cells finished")), "an incomplete summary:\n{summary}");
    }
    trained.sort();
    let mut unique = trained.clone();
    unique.dedup();
    assert_eq!(unique.len(), CELLS, "cells trained: {trained:?}");
    assert_eq!(trained.len(), CELLS, "some cells were trained twice: {trained:?}");
    for entry in std::fs::read_dir(out.join("cells")).unwrap() {
        let result = entry.unwrap().path().join("result.json");
        let text = std::fs::read_to_string(&result).unwrap();
        assert!(serde_json::from_str::<serde_json::Value>(&text).is_ok(), "{} is damaged", result.display());
    }
    let summary = std::fs::read_to_string(out.join("summary.json")).unwrap();
    assert!(serde_json::from_str::<serde_json::Value>(&summary).is_ok(), "summary.json is damaged");
}

/// SIGINT stops the whole study at the running cell's next safe point: exit status 130,
/// and no later cell is started (before, the study went on to the next cell).
#[test]
fn a_signal_stops_the_study_not_just_its_cell() {
    use std::io::{BufRead, BufReader};
    // 704 images in batches of 16: the first cell's first save point (step 20) is mid-epoch.
    let (scratch, data) = fashion_mnist_scratch("study-signal", 704, 32, 5);
    let out = scratch.path().join("study");
    let file = write_study(scratch.path(), &data, &out);
    let mut child = Command::new(env!("CARGO_BIN_EXE_sturdy"))
        .arg("study")
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines().map(|l| l.unwrap());
    let first = lines.by_ref().find(|l| l.ends_with(": training")).expect("no cell started");
    let kill = Command::new("kill").arg("-INT").arg(child.id().to_string()).status().unwrap();
    assert!(kill.success());
    let rest: Vec<String> = lines.collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{}", rest.join("\n"));
    assert!(
        !rest.iter().any(|l| l.ends_with(": training")),
        "{first}, then another cell started:\n{}",
        rest.join("\n")
    );
}
