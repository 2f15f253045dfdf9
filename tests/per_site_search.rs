//! `sturdy sweep --per-site-alpha` on a small trained backbone: the search lowers sites
//! below the cheapest uniform alpha while the validation accuracy stays within the
//! tolerance, and selects on held-out training images only: a different test set changes
//! the test figures and nothing the search chose.

use std::path::Path;
use std::process::Command;

use sturdy::data::synthetic::{write_fashion_mnist_like, ScratchDir};
use sturdy::pann::sweep::CheckpointSweep;

const TOLERANCE: f64 = 0.03;
const ALPHAS: [u32; 3] = [6, 8, 10];

fn sturdy(args: &[&str], paths: &[(&str, &Path)]) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sturdy"));
    command.args(args);
    for (flag, path) in paths {
        command.arg(flag).arg(path);
    }
    let output = command.output().unwrap();
    assert!(output.status.success(), "sturdy {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
}

fn sweep_per_site(run: &Path, out: &Path) -> CheckpointSweep {
    let tolerance = TOLERANCE.to_string();
    let args = [
        "sweep",
        "--alphas",
        "6,8,10",
        "--calibration-images",
        "256",
        "--per-site-alpha",
        "--validation-images",
        "256",
        "--max-probes",
        "30",
        "--tolerance",
        &tolerance,
    ];
    sturdy(&args, &[("--checkpoint", run), ("--out", out)]);
    let mut sweeps: Vec<CheckpointSweep> =
        serde_json::from_str(&std::fs::read_to_string(out.join("sweep.json")).unwrap()).unwrap();
    for file in ["sweep-sites.csv", "run.site-alphas.json"] {
        assert!(out.join(file).exists(), "no {file}");
    }
    sweeps.remove(0)
}

#[test]
fn the_search_lowers_sites_within_tolerance_on_validation_data_only() {
    let scratch = ScratchDir::new("per-site-search");
    let data = scratch.path().join("fashion-mnist");
    write_fashion_mnist_like(&data, 1280, 256, 5).unwrap();
    let run = scratch.path().join("run");
    let train =
        ["train", "--model", "smallcnn", "--width", "0.5", "--epochs", "2", "--batch-size", "32", "--lr", "0.05"];
    sturdy(&train, &[("--data-dir", &data), ("--out", &run)]);

    let sweep = sweep_per_site(&run, &scratch.path().join("first"));
    let result = sweep.per_site.as_ref().expect("a per-site result");
    let search = &result.search;
    let start = search.uniform_alpha.expect("a uniform alpha within 3 points on validation");
    let floor = search.validation_backbone_accuracy - TOLERANCE;
    assert!(search.validation_accuracy >= floor, "{search:?}");
    assert!(search.trace.iter().filter(|p| p.kept).all(|p| p.validation_accuracy >= floor), "{search:?}");
    assert!(search.sites.iter().any(|s| s.alpha < start), "no site lowered from alpha {start}: {search:?}");
    assert!(search.sites.iter().all(|s| s.alpha <= start), "{search:?}");
    assert!(search.cost < search.uniform_cost, "{search:?}");
    assert_eq!(search.cost, search.sites.iter().map(|s| s.cost).sum::<f64>());
    // Every uniform alpha, then one pass per probe.
    assert_eq!(search.passes, ALPHAS.len() + search.trace.len());
    assert!(search.trace.len() <= 30);
    // From alpha 6 or more every site can step down: each has a sensitivity.
    assert!(search.sites.iter().all(|s| s.sensitivity.is_some()), "{search:?}");
    assert_eq!(search.validation_images, 256);
    assert_eq!(result.calibration_overlap, 0, "256 + 256 of 1280 training images");

    // Another test set (same training images): the test figures are measured on it, the
    // selection is unchanged.
    let other = scratch.path().join("other");
    write_fashion_mnist_like(&other, 1280, 256, 6).unwrap();
    for file in ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"] {
        std::fs::copy(other.join(file), data.join(file)).unwrap();
    }
    let again = sweep_per_site(&run, &scratch.path().join("second"));
    assert_ne!(again.backbone_accuracy, sweep.backbone_accuracy, "the test set was not replaced");
    assert_eq!(again.per_site.as_ref().unwrap().search, *search, "the test set changed the selection");
}
