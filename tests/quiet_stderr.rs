//! A command that succeeds prints nothing on stderr that looks like a failure, even on a
//! machine without XDG_RUNTIME_DIR (where Mesa's display probe used to print errors).

use std::process::Command;

#[test]
fn devices_without_a_runtime_dir_prints_no_error() {
    let output =
        Command::new(env!("CARGO_BIN_EXE_sturdy")).arg("devices").env_remove("XDG_RUNTIME_DIR").output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "sturdy devices failed: {stderr}");
    assert!(!stderr.to_lowercase().contains("error"), "stderr: {stderr}");
}
