//! Every input that once crashed a fuzz target (`fuzz/regressions/<target>/`), replayed
//! through the same code the target runs, and a few small inputs for every target: each
//! must pass without a panic. One test, since the targets share this process's folders.

mod fuzz_inputs;

#[test]
fn every_fuzz_target_passes_its_regressions_and_small_inputs() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let mut replayed = 0;
    for (target, run) in fuzz_inputs::TARGETS {
        for input in [&b""[..], b"\x00", b"\x01\x02\x03", b"\xff{}[]"] {
            run(input);
        }
        let Ok(entries) = std::fs::read_dir(root.join(target)) else { continue };
        for entry in entries {
            let path = entry.unwrap().path();
            run(&std::fs::read(&path).unwrap());
            replayed += 1;
        }
    }
    eprintln!("replayed {replayed} fuzz regressions");
    fuzz_inputs::clean_up();
}
