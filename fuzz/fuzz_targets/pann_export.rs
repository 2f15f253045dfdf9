#![no_main]

// The targets share one module of what each does with its input (also replayed in CI).
#[allow(dead_code)]
#[path = "../../tests/fuzz_inputs/mod.rs"]
mod inputs;

libfuzzer_sys::fuzz_target!(|data: &[u8]| inputs::pann_export(data));
