//! `sturdy sweep` on a small trained backbone: a PANN of high precision matches the
//! backbone, a coarse one loses accuracy, and a bound forced too small is reported as
//! overflows rather than hidden. With `--per-site-alpha` the search lowers sites below
//! the cheapest uniform alpha while the validation accuracy stays within the tolerance,
//! and selects on held-out training images only: a different test set changes the test
//! figures and nothing the search chose.

use std::path::Path;
use std::process::{Command, Output};

use sturdy::data::synthetic::{write_fashion_mnist_like, ScratchDir};
use sturdy::pann::sweep::CheckpointSweep;

fn sturdy(args: &[&str], paths: &[(&str, &Path)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sturdy"));
    command.args(args);
    for (flag, path) in paths {
        command.arg(flag).arg(path);
    }
    let output = command.output().unwrap();
    assert!(output.status.success(), "sturdy {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    output
}

fn sweep(run: &Path, out: &Path, extra: &[&str]) -> CheckpointSweep {
    let mut args = vec!["sweep", "--alphas", "4,20", "--calibration-images", "256"];
    args.extend(extra);
    sturdy(&args, &[("--checkpoint", run), ("--out", out)]);
    let json = std::fs::read_to_string(out.join("sweep.json")).unwrap();
    let mut sweeps: Vec<CheckpointSweep> = serde_json::from_str(&json).unwrap();
    assert_eq!(sweeps.len(), 1);
    for extension in ["txt", "csv", "svg"] {
        assert!(out.join(format!("sweep.{extension}")).exists(), "no sweep.{extension}");
    }
    let png = std::fs::read(out.join("sweep.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "sweep.png is not a PNG");
    sweeps.remove(0)
}

#[test]
fn sweep_recovers_the_backbone_at_high_precision_and_counts_overflows() {
    let scratch = ScratchDir::new("sweep");
    let data = scratch.path().join("fashion-mnist");
    std::fs::create_dir_all(&data).unwrap();
    write_fashion_mnist_like(&data, 1280, 256, 5).unwrap();
    let run = scratch.path().join("run");
    let train =
        ["train", "--model", "smallcnn", "--width", "0.5", "--epochs", "2", "--batch-size", "32", "--lr", "0.05"];
    sturdy(&train, &[("--data-dir", &data), ("--out", &run)]);

    let calibrated = sweep(&run, &scratch.path().join("calibrated"), &[]);
    let [coarse, fine] = [&calibrated.rows[0], &calibrated.rows[1]];
    assert!(calibrated.backbone_accuracy > 0.5, "the backbone did not learn: {calibrated:?}");
    // At alpha 20 each activation is within 2^-20 B of ReLU: the same predictions up to
    // near-ties between logits.
    assert!(fine.agreement >= 0.99, "alpha 20 disagrees with the backbone: {fine:?}");
    assert!((fine.accuracy - calibrated.backbone_accuracy).abs() <= 0.01, "{calibrated:?}");
    // At alpha 4 (errors up to B/16 at every ReLU) the network falls apart.
    assert!(coarse.accuracy < calibrated.backbone_accuracy - 0.1, "alpha 4 kept its accuracy: {calibrated:?}");
    // Calibrated on training images: test images stay in range (margin 1 may let a few out).
    assert!(calibrated.bounds.iter().all(|(_, b)| *b > 0.0));
    assert_eq!(calibrated.cheapest_within_tolerance, Some(20), "{calibrated:?}");
    for row in &calibrated.rows {
        // No-clamp: the clamped PANN's correct images less those with an overflow. 256 test
        // images in whole batches of 32: no padding row counts, so an overflowing image
        // has at least one overflowing element and none is counted without one.
        let lost = row.overflowing_images as f64 / 256.0;
        assert!(row.no_clamp_accuracy <= row.accuracy && row.no_clamp_accuracy >= row.accuracy - lost, "{row:?}");
        assert!(row.overflowing_images <= row.overflows && (row.overflows == 0) == (row.overflowing_images == 0));
    }

    let forced = sweep(&run, &scratch.path().join("forced"), &["--bound", "0.01"]);
    assert!(forced.rows.iter().all(|r| r.overflows > 0), "a bound of 0.01 overflowed nowhere: {forced:?}");
    assert!(forced.bounds.iter().all(|(_, b)| *b == 0.01));
    // Under encryption every image is lost, whatever the clamped PANN predicts.
    assert!(forced.rows.iter().all(|r| r.overflowing_images == 256 && r.no_clamp_accuracy == 0.0), "{forced:?}");
    assert_eq!(forced.cheapest_within_tolerance, None);
    let shortfall = forced.shortfall.as_ref().expect("test inputs beyond 0.01 are reported");
    assert!(shortfall.flag == "--bound" && shortfall.suggested >= 0.01 * shortfall.ratio, "{shortfall:?}");
    let table = std::fs::read_to_string(scratch.path().join("forced").join("sweep.txt")).unwrap();
    assert!(table.contains("bound B = 0.0100 at all"), "the table must report the bound used: {table}");
    assert!(table.contains(&format!("--bound {}", shortfall.suggested)), "the table names the bound needed: {table}");

    // The bound it names keeps the backbone's test inputs in range, and at alpha 20
    // (errors of 2^-20 B) the PANN's too: no image is lost to an overflow.
    let suggested = shortfall.suggested.to_string();
    let fixed = sweep(&run, &scratch.path().join("fixed"), &["--bound", &suggested]);
    assert!(fixed.shortfall.is_none() && fixed.rows[1].overflowing_images == 0, "{fixed:?}");
}

const TOLERANCE: f64 = 0.03;
const SEARCH_ALPHAS: [u32; 3] = [6, 8, 10];

fn sweep_per_site(run: &Path, out: &Path) -> CheckpointSweep {
    let (tolerance, alphas) = (TOLERANCE.to_string(), SEARCH_ALPHAS.map(|a| a.to_string()).join(","));
    let args = [
        "sweep",
        "--alphas",
        &alphas,
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
    assert_eq!(search.passes, SEARCH_ALPHAS.len() + search.trace.len());
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
