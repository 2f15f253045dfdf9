//! `sturdy study` as a user runs it, on Fashion-MNIST-format files: killed with SIGKILL
//! between cells, summarised with a cell missing, a cell run alone from `--list-jobs`,
//! and the whole study run again, which skips what is finished.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use sturdy::data::synthetic::{write_fashion_mnist_like, ScratchDir};
use sturdy::train::metrics::read_records;

const FIRST: &str = "vanilla_wd1e-4_seed0";
const SECOND: &str = "replay_wd1e-4_seed0";
const EPOCHS: usize = 3;

/// A 2-cell study on `data`, writing into `out`.
fn write_study(dir: &Path, data: &Path, out: &Path) -> PathBuf {
    let text = format!(
        r#"out = "{out}"
[[grid]]
recipes = ["vanilla", "replay"]
weight_decays = [1e-4]

[train]
data_dir = "{data}"
width = 0.5
epochs = {EPOCHS}
batch_size = 32
lr = 0.05
crop_padding = 0
alpha_target = 7

[sweep]
alphas = [6, 8]
per_site = true
calibration_images = 64
"#,
        out = out.display(),
        data = data.display()
    );
    let path = dir.join("tiny.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn study(file: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sturdy"));
    command.arg("study").arg(file);
    command
}

fn succeed(command: &mut Command) -> Output {
    let output = command.output().unwrap();
    assert!(output.status.success(), "sturdy study failed: {}", String::from_utf8_lossy(&output.stderr));
    output
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Content and modification time: a skipped cell's files keep both.
fn fingerprint(path: &Path) -> (Vec<u8>, SystemTime) {
    (std::fs::read(path).unwrap(), std::fs::metadata(path).unwrap().modified().unwrap())
}

#[test]
fn killed_study_skips_finished_cells_and_resumes_the_rest() {
    let scratch = ScratchDir::new("study-command");
    let data = scratch.path().join("fashion-mnist");
    std::fs::create_dir_all(&data).unwrap();
    write_fashion_mnist_like(&data, 320, 96, 1).unwrap();
    let out = scratch.path().join("study");
    let file = write_study(scratch.path(), &data, &out);
    let first = out.join("cells").join(FIRST);
    let second = out.join("cells").join(SECOND);

    // SIGKILL once the first cell is finished and the second has a checkpoint: the second
    // is then inside training (or its sweep), and must resume.
    let log = std::fs::File::create(scratch.path().join("killed.log")).unwrap();
    let mut child = study(&file).stdout(Stdio::null()).stderr(log).spawn().unwrap();
    let started = Instant::now();
    while !(first.join("result.json").exists() && second.join("checkpoint.safetensors").exists()) {
        if let Some(status) = child.try_wait().unwrap() {
            let log = std::fs::read_to_string(scratch.path().join("killed.log")).unwrap();
            panic!("the study ended ({status}) before the kill: {log}");
        }
        assert!(started.elapsed() < Duration::from_secs(600), "no progress after 600 s");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!second.join("result.json").exists(), "the kill came after the second cell finished");
    let before = ["result.json", "checkpoint.safetensors", "metrics.jsonl"].map(|f| fingerprint(&first.join(f)));

    // --collect with a cell missing: the summary of the one finished, and the missing one named.
    let collected = succeed(study(&file).arg("--collect"));
    let table = text(&collected.stdout);
    assert!(table.contains("1 of 2 cells finished") && table.contains(SECOND), "{table}");
    assert!(table.contains("training:") || table.contains("trained, not swept"), "{table}");
    for name in ["summary.txt", "summary.csv", "summary.json", "summary.svg", "summary.png"] {
        assert!(out.join(name).exists(), "--collect wrote no {name}");
    }

    // --list-jobs: one command per cell; the second, run as printed, resumes its cell.
    let listed = text(&succeed(study(&file).arg("--list-jobs")).stdout);
    let commands: Vec<&str> = listed.lines().collect();
    assert_eq!(commands.len(), 2, "{listed}");
    assert!(commands[0].ends_with(&format!("--cell {FIRST}")) && commands[1].ends_with(&format!("--cell {SECOND}")));
    let command = commands[1].replacen("sturdy", env!("CARGO_BIN_EXE_sturdy"), 1);
    let resumed = succeed(Command::new("sh").arg("-c").arg(&command));
    assert!(
        text(&resumed.stderr).contains(&format!("cell {SECOND}: resuming after epoch")),
        "{}",
        text(&resumed.stderr)
    );
    let epochs: Vec<usize> = read_records(&second.join("metrics.jsonl")).unwrap().iter().map(|r| r.epoch).collect();
    assert_eq!(epochs, (1..=EPOCHS).collect::<Vec<_>>());

    // The whole study again: both cells finished, skipped, untouched; the summary has both.
    let rerun = succeed(&mut study(&file));
    let log = text(&rerun.stderr);
    for id in [FIRST, SECOND] {
        assert!(log.contains(&format!("cell {id}: finished, skipped")), "{log}");
    }
    let after = ["result.json", "checkpoint.safetensors", "metrics.jsonl"].map(|f| fingerprint(&first.join(f)));
    assert!(before == after, "the finished cell's files changed on the rerun");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["cells_finished"], 2);
    assert_eq!(summary["missing"].as_array().unwrap().len(), 0);
    let groups: Vec<&str> = summary["rows"].as_array().unwrap().iter().map(|r| r["group"].as_str().unwrap()).collect();
    assert_eq!(groups, ["vanilla_wd1e-4", "replay_wd1e-4"]);
    for row in summary["rows"].as_array().unwrap() {
        assert_eq!(row["pann"].as_array().unwrap().len(), 2, "{row}");
    }
    let svg = std::fs::read_to_string(out.join("summary.svg")).unwrap();
    assert!(svg.contains("vanilla_wd1e-4") && svg.contains("replay_wd1e-4"));
    assert!(text(&rerun.stdout).contains("2 of 2 cells finished"));
}

#[test]
fn list_jobs_prints_one_command_per_cell_without_a_gpu() {
    let scratch = ScratchDir::new("study-jobs");
    let file = write_study(scratch.path(), Path::new("/nonexistent"), &scratch.path().join("out"));
    let listed = text(&succeed(study(&file).arg("--list-jobs")).stdout);
    let expected: Vec<String> =
        [FIRST, SECOND].iter().map(|id| format!("sturdy study {} --cell {id}", file.display())).collect();
    assert_eq!(listed.lines().collect::<Vec<_>>(), expected);
    let unknown = study(&file).args(["--cell", "nope"]).output().unwrap();
    assert!(!unknown.status.success() && text(&unknown.stderr).contains(FIRST), "{}", text(&unknown.stderr));
}

#[test]
fn bad_study_files_name_the_file_and_the_key() {
    let scratch = ScratchDir::new("study-bad");
    let path = scratch.path().join("bad.toml");
    let cases = [
        ("[[grid]]\nrecipes = [\"vanila\"]\nweight_decays = [0.0]\n", "recipes"),
        ("[[grid]]\nrecipes = [\"noise\"]\nweight_decays = [0.0]\n[train]\nlr = -0.1\n", "train.lr"),
        ("[[grid]]\nrecipes = [\"noise\"]\nweight_decays = [0.0]\n[sweep]\nmargins = 2.0\n", "margins"),
    ];
    for (toml, key) in cases {
        std::fs::write(&path, toml).unwrap();
        let output = study(&path).output().unwrap();
        let stderr = text(&output.stderr);
        assert!(!output.status.success(), "accepted: {toml}");
        assert!(stderr.contains("bad.toml") && stderr.contains(key), "{key:?} not named: {stderr}");
    }
}
