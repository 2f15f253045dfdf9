//! `sturdy predict --checkpoint`: per-image logits of a run's backbone or PANN, the same as
//! predicting from the export `sturdy export` writes with the same settings.

use std::path::Path;
use std::process::{Command, Output};

use sturdy::data::synthetic::{write_fashion_mnist_like, ScratchDir};

fn sturdy(args: &[&str], paths: &[(&str, &Path)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sturdy"));
    command.args(args);
    for (flag, path) in paths {
        command.arg(flag).arg(path);
    }
    command.output().unwrap()
}

fn succeeded(output: Output, what: &str) -> Output {
    assert!(output.status.success(), "{what} failed: {}", String::from_utf8_lossy(&output.stderr));
    output
}

/// (label, predicted, logits) per CSV row, after checking the header.
fn rows(csv: &Path) -> Vec<(u32, usize, Vec<f64>)> {
    let text = std::fs::read_to_string(csv).unwrap();
    let mut lines = text.lines();
    let logits: Vec<String> = (0..10).map(|c| format!("logit_{c}")).collect();
    assert_eq!(lines.next().unwrap(), format!("index,label,predicted,{}", logits.join(",")));
    lines
        .enumerate()
        .map(|(i, line)| {
            let cells: Vec<&str> = line.split(',').collect();
            assert_eq!(cells[0].parse::<usize>().unwrap(), i);
            let logits: Vec<f64> = cells[3..].iter().map(|c| c.parse().unwrap()).collect();
            (cells[1].parse().unwrap(), cells[2].parse().unwrap(), logits)
        })
        .collect()
}

#[test]
fn a_runs_pann_predictions_are_its_exports_and_the_backbone_is_the_exact_one() {
    let scratch = ScratchDir::new("predict-checkpoint");
    let data = scratch.path().join("fashion-mnist");
    std::fs::create_dir_all(&data).unwrap();
    write_fashion_mnist_like(&data, 256, 64, 5).unwrap();
    let run = scratch.path().join("run");
    let train = ["train", "--dataset", "fashion-mnist", "--model", "smallcnn", "--width", "0.25", "--epochs", "1"];
    succeeded(sturdy(&train, &[("--data-dir", &data), ("--out", &run)]), "train");

    let calibrate = ["--alpha", "7", "--calibration-images", "64", "--margin", "1.1"];
    let stem = scratch.path().join("a7");
    let export = [&["export"][..], &calibrate[..]].concat();
    succeeded(sturdy(&export, &[("--checkpoint", &run), ("--out", &stem)]), "export");
    let [from_run, from_export, backbone] = ["run.csv", "export.csv", "backbone.csv"].map(|f| scratch.path().join(f));
    let predict = [&["predict", "--limit", "40"][..], &calibrate[..]].concat();
    let paths = [("--checkpoint", run.as_path()), ("--data-dir", &data), ("--out", &from_run)];
    succeeded(sturdy(&predict, &paths), "predict --checkpoint --alpha");
    let paths = [("--export", stem.as_path()), ("--data-dir", &data), ("--out", &from_export)];
    succeeded(sturdy(&["predict", "--limit", "40"], &paths), "predict --export");
    // The same run, calibration and polynomial in the same f64 evaluator: the same bits.
    let pann = rows(&from_run);
    assert_eq!(pann.len(), 40);
    assert_eq!(pann, rows(&from_export), "predicting from the run computes what its export computes");

    let paths = [("--checkpoint", run.as_path()), ("--data-dir", &data), ("--out", &backbone)];
    succeeded(sturdy(&["predict", "--limit", "40"], &paths), "predict --checkpoint");
    let exact = rows(&backbone);
    for (label, predicted, logits) in exact.iter().chain(&pann) {
        let argmax = (0..logits.len()).max_by(|&a, &b| logits[a].total_cmp(&logits[b])).unwrap();
        assert_eq!(*predicted, argmax);
        assert!(*label < 10);
    }
    assert_ne!(exact, pann, "alpha 7 approximates: its logits differ from the exact ReLUs'");
}

#[test]
fn bad_predict_flags_are_refused() {
    let refused = |args: &[&str], needle: &str| {
        let output = sturdy(args, &[]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success() && stderr.contains(needle), "{args:?}: {stderr}");
    };
    refused(&["predict", "--out", "x.csv"], "--checkpoint");
    refused(&["predict", "--checkpoint", "r", "--export", "e", "--out", "x.csv"], "cannot be used with");
    refused(&["predict", "--checkpoint", "r", "--alpha", "21", "--out", "x.csv"], "--alpha");
    refused(&["predict", "--export", "e", "--alpha", "7", "--out", "x.csv"], "cannot be used with");
    refused(&["predict", "--checkpoint", "/nonexistent/sturdy-run", "--out", "/nonexistent/x.csv"], "run.json");
}
