//! `sturdy bench` end to end on a tiny configuration: every table has every row, every
//! figure is positive, and --out appends the tables under the adapter's name.

use std::process::Command;

use sturdy::data::synthetic::ScratchDir;
use sturdy::gpu::{Gpu, GpuOptions};
use sturdy::ops::gemm::Loader;

/// Table titles (their start) and the data rows each must have (None: at least one), on
/// an adapter with `loaders` GEMM loaders (the subgroup loader needs SUBGROUP). The step
/// profile needs GPU timestamps, so an adapter without them has no such table.
fn tables_expected(loaders: usize) -> [(&'static str, Option<usize>); 9] {
    let variants = loaders + 1;
    [
        ("Ceiling", Some(3 * loaders)),     // 3 shapes x the loaders
        ("conv2d", Some(8 * 3 * variants)), // 8 layers x 3 kernels x the variants (all fit at batch 2)
        ("linear", Some(2 * 3 * variants)), // 2 layers x 3 kernels x the variants
        ("Memory-bound", Some(6)),          // batch norm x 2, poly_relu x 2, relu over f32 and f16 storage
        ("Training step", Some(4)),         // 2 models x 2 recipes (vanilla, mixup-noise)
        ("Where a training step", None),
        ("Inference", Some(4)), // 2 models x (backbone, PANN)
        ("GPU memory", Some(8)),
        ("Kernel variants chosen", None),
    ]
}
const PROFILE: &str = "Where a training step";

/// The data rows of each `### title` table in `markdown`.
fn tables(markdown: &str) -> Vec<(String, Vec<Vec<String>>)> {
    let mut tables: Vec<(String, Vec<Vec<String>>)> = Vec::new();
    for line in markdown.lines() {
        if let Some(title) = line.strip_prefix("### ") {
            tables.push((title.to_string(), Vec::new()));
        } else if line.starts_with("| ") && !line.starts_with("| ---") {
            let cells = line.trim_matches('|').split('|').map(|c| c.trim().to_string()).collect();
            tables.last_mut().expect("rows follow a title").1.push(cells);
        }
    }
    // The first row of each table is its header.
    tables.into_iter().map(|(title, rows)| (title, rows.into_iter().skip(1).collect())).collect()
}

/// Every figure of a row is positive and finite (percentages may be 0); `may_lack` allows
/// "n/a" for what the adapter cannot measure.
fn check_figures(title: &str, cells: &[String], may_lack: bool) {
    for cell in cells {
        assert!(!cell.starts_with("n/a") || may_lack, "{title}: figure {cell:?}");
        if let Ok(value) = cell.trim_end_matches(" %").parse::<f64>() {
            assert!(value.is_finite() && (value > 0.0 || cell.ends_with('%')), "{title}: figure {cell:?}");
        }
    }
}

#[test]
fn quick_bench_reports_every_row_with_positive_figures() {
    let scratch = ScratchDir::new("bench-command");
    let out = scratch.path().join("BENCHMARKS.md");
    let output = Command::new(env!("CARGO_BIN_EXE_sturdy"))
        .args(["bench", "--quick", "--batch", "2", "--repeats", "1", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "sturdy bench failed: {}", String::from_utf8_lossy(&output.stderr));
    let found = tables(&stdout);
    let gpu = Gpu::new(&GpuOptions::from_env()).unwrap();
    let expected = tables_expected(Loader::available(&gpu).len());
    let expected: Vec<_> = expected.iter().filter(|(title, _)| *title != PROFILE || stdout.contains(PROFILE)).collect();
    assert_eq!(found.len(), expected.len(), "tables: {:?}", found.iter().map(|t| &t.0).collect::<Vec<_>>());
    for ((title, rows), (expected_title, expected_rows)) in found.iter().zip(expected) {
        assert!(title.starts_with(expected_title), "table {title:?}, expected {expected_title:?}");
        match expected_rows {
            Some(count) => assert_eq!(rows.len(), *count, "{title}: rows {rows:?}"),
            None => assert!(!rows.is_empty(), "{title}: no rows"),
        }
        for row in rows {
            if title.starts_with("conv2d") {
                // The whole op's figures always; the GEMM columns: none for the direct
                // kernels, a time for every GEMM where the adapter has timestamps.
                check_figures(title, &row[1..6], false);
                check_figures(title, &row[6..], true);
                let direct = row[2].contains("direct");
                assert_eq!(row[6] == "-", direct, "{title}: {row:?}");
                assert!(direct || (row[6] == "n/a") != gpu.has_timestamps(), "{title}: {row:?}");
            } else {
                // Only kernel-time columns may be missing, on adapters without timestamps,
                // and the f16 probe on adapters without SHADER_F16.
                let may_lack = title.starts_with("Training step") || row[0].contains("f16 storage");
                check_figures(title, &row[1..], may_lack);
            }
        }
    }
    let memory = &found.iter().find(|(title, _)| title.starts_with("GPU memory")).expect("a memory table").1;
    let ratio: f64 = memory.last().unwrap()[1].parse().unwrap();
    assert!((1.0..2.0).contains(&ratio), "allocated / needed = {ratio}: more than 2x is waste");
    let appended = std::fs::read_to_string(&out).unwrap();
    assert!(appended.contains("## ") && appended.contains(stdout.trim()), "--out must hold a heading and the tables");
}

#[test]
fn only_runs_the_sections_named() {
    let output = Command::new(env!("CARGO_BIN_EXE_sturdy"))
        .args(["bench", "--quick", "--batch", "2", "--repeats", "1", "--only", "memory,linear"])
        .output()
        .unwrap();
    assert!(output.status.success(), "sturdy bench failed: {}", String::from_utf8_lossy(&output.stderr));
    let titles: Vec<String> = tables(&String::from_utf8_lossy(&output.stdout)).into_iter().map(|t| t.0).collect();
    // In run order, whatever the order named, then the variants the linear layers chose.
    assert_eq!(titles.len(), 3, "tables: {titles:?}");
    assert!(titles[0].starts_with("linear") && titles[1].starts_with("GPU memory"), "tables: {titles:?}");
    assert!(titles[2].starts_with("Kernel variants chosen"), "tables: {titles:?}");
    let typo = Command::new(env!("CARGO_BIN_EXE_sturdy")).args(["bench", "--only", "convs"]).output().unwrap();
    let message = String::from_utf8_lossy(&typo.stderr);
    assert!(!typo.status.success() && message.contains("convs") && message.contains("conv"), "{message}");
}
