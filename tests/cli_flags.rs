//! Every numeric flag of `sturdy train` and `sturdy approx`, and `--kernels`, refuses an
//! out-of-range value before any work starts: non-zero exit, and a message naming the flag
//! and what is allowed.

use std::process::Command;

/// Runs `sturdy <args>` and returns its stderr, asserting a failing exit.
fn refused(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_sturdy")).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "sturdy {} was accepted", args.join(" "));
    stderr
}

#[test]
fn train_flags_out_of_range() {
    // (flag and value, what the message must say is allowed)
    let cases: &[(&[&str], &str)] = &[
        (&["--lr", "0"], "must be > 0"),
        (&["--lr=-1"], "must be > 0"),
        (&["--lr", "-1"], "must be > 0"),
        (&["--lr", "nan"], "not finite"),
        (&["--lr", "fast"], "is not a number"),
        (&["--batch-size", "1"], "must be >= 2"),
        (&["--batch-size", "2.5"], "not a whole number >= 2"),
        (&["--momentum", "1.5"], "must be in [0, 1]"),
        (&["--momentum", "-0.1"], "must be in [0, 1]"),
        (&["--gamma", "2"], "must be in [0, 1]"),
        (&["--width", "0"], "must be in (0, 16]"),
        (&["--width", "1e9"], "must be in (0, 16]"),
        (&["--epochs", "0"], "must be >= 1"),
        (&["--epochs", "-3"], "not a whole number >= 1"),
        (&["--warmup-epochs", "-1"], "must be >= 0"),
        (&["--weight-decay=-1e-4"], "must be >= 0"),
        (&["--train-limit", "0"], "must be >= 1"),
        (&["--test-limit", "0"], "must be >= 1"),
        (&["--seed", "-1"], "not a whole number >= 0"),
        (&["--milestones", "100,-5"], "not a whole number >= 0"),
    ];
    for (flag, allowed) in cases {
        let mut args = vec!["train"];
        args.extend_from_slice(flag);
        // Never reached: parsing fails first. Still, keep any run out of the work tree.
        args.extend(["--out", "/nonexistent/sturdy-cli-flags"]);
        let stderr = refused(&args);
        let name = flag[0].split('=').next().unwrap();
        assert!(stderr.contains(name) && stderr.contains(allowed), "{flag:?}: {stderr}");
    }
    let stderr = refused(&["train", "--nesterov", "--momentum", "0", "--out", "/nonexistent/sturdy-cli-flags"]);
    assert!(stderr.contains("--nesterov needs --momentum > 0"), "{stderr}");
}

#[test]
fn unknown_kernel_family_is_refused_by_flag_and_by_environment() {
    let stderr = refused(&["--kernels", "fast", "devices"]);
    assert!(stderr.contains("--kernels") && stderr.contains("auto, texture, subgroup, tiled, direct"), "{stderr}");
    let output =
        Command::new(env!("CARGO_BIN_EXE_sturdy")).arg("devices").env("STURDY_KERNELS", "fast").output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.contains("fast") && stderr.contains("tiled"), "{stderr}");
}

#[test]
fn approx_flags_out_of_range() {
    for alpha in ["3", "21", "-1", "0", "13.5", "x"] {
        let stderr = refused(&["approx", "--alpha", alpha]);
        assert!(
            stderr.contains("--alpha") && (stderr.contains("4..=20") || stderr.contains("whole number")),
            "{stderr}"
        );
    }
    let stderr = refused(&["approx", "--json", "/nonexistent/relu.json"]);
    assert!(stderr.contains("--alpha"), "{stderr}");
    let stderr = refused(&["approx"]);
    assert!(stderr.contains("nothing to do"), "{stderr}");
}

#[test]
fn eval_of_a_folder_without_a_run_names_it() {
    let stderr = refused(&["eval", "--checkpoint", "/nonexistent/sturdy-run"]);
    assert!(stderr.contains("/nonexistent/sturdy-run/run.json") && stderr.contains("sturdy train --out"), "{stderr}");
}
