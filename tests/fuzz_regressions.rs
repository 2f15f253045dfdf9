//! Every input that once crashed a fuzz target (`fuzz/regressions/<target>/`), replayed
//! through the same code the target runs: each must now pass without a panic.

mod fuzz_inputs;

#[test]
fn every_fuzz_regression_passes() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let mut replayed = 0;
    for (target, run) in fuzz_inputs::TARGETS {
        let Ok(entries) = std::fs::read_dir(root.join(target)) else { continue };
        for entry in entries {
            let path = entry.unwrap().path();
            run(&std::fs::read(&path).unwrap());
            replayed += 1;
        }
    }
    eprintln!("replayed {replayed} fuzz regressions");
}

/// The targets themselves run on valid inputs, so the fuzzers start from working code.
#[test]
fn every_target_accepts_empty_and_small_inputs() {
    for (_, run) in fuzz_inputs::TARGETS {
        for input in [&b""[..], b"\x00", b"\x01\x02\x03", b"\xff{}[]"] {
            run(input);
        }
    }
}
