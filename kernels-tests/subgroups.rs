//! The subgroup GEMM (shaders/gemm_subgroup.wgsl) at other subgroup widths. Its lanes share
//! B's texels in groups of up to 8 within a subgroup. lavapipe's subgroup is one SIMD vector,
//! 8 lanes at its default 256 bits, so each subgroup holds at most one group of 8 and code
//! right only for a subgroup's first group of 8 passes there; GPUs have 32 or 64 lanes.
//! llvmpipe's vector width (LP_NATIVE_VECTOR_WIDTH, read once per process) sets its
//! subgroup size, so this reruns the GEMM tests of this binary at 128 bits (4 lanes, fewer
//! than a group of 8, where groups of 8 lanes load B themselves) and 512 (16 lanes, two
//! groups of 8). A shuffle from lane `lane_base % 8 + i` instead of `lane_base + i` passed
//! the default run and failed both reruns (checked by hand, 2026-12-04).

use std::process::Command;

use super::harness::gpu;

const WIDTH: &str = "LP_NATIVE_VECTOR_WIDTH";
const WIDTHS: [u32; 2] = [128, 512];

/// The tests rerun: every op with a subgroup variant, and the check that the width took.
const RERUN: [&str; 4] = ["matmul::", "conv2d::", "linear::", "subgroups::rerun_adapter_has_the_requested_width"];

#[test]
fn gemm_tests_pass_at_other_subgroup_widths() {
    if std::env::var_os(WIDTH).is_some() {
        // A rerun (or a width the user chose): that width's run is this process.
        return;
    }
    if !gpu().info.name.starts_with("llvmpipe") || !gpu().has_subgroups() {
        eprintln!("skipped: {} is not lavapipe with SUBGROUP", gpu().adapter_name());
        return;
    }
    let binary = std::env::current_exe().expect("the test binary's path");
    for bits in WIDTHS {
        let run = |extra: &[&str]| {
            let output = Command::new(&binary).env(WIDTH, bits.to_string()).args(RERUN).args(extra).output();
            let output = output.expect("the test binary reruns");
            let log = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
            assert!(output.status.success(), "at {bits} bits:\n{log}");
            log
        };
        let listed = run(&["--list"]).lines().filter(|line| line.ends_with(": test")).count();
        let log = run(&[]);
        let passed = log.lines().filter(|line| line.starts_with("test ") && line.ends_with(" ... ok")).count();
        assert!(listed > RERUN.len(), "at {bits} bits the filter found {listed} tests");
        assert_eq!(passed, listed, "at {bits} bits:\n{log}");
    }
}

/// In a rerun at a width, the adapter is llvmpipe at that width (its name says so), so that
/// the rerun is not the default width's run again.
#[test]
fn rerun_adapter_has_the_requested_width() {
    let Ok(bits) = std::env::var(WIDTH) else {
        return;
    };
    if gpu().info.name.starts_with("llvmpipe") {
        assert!(gpu().info.name.contains(&format!("{bits} bits")), "{WIDTH}={bits}: {}", gpu().adapter_name());
    }
}
