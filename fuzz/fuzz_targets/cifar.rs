#![no_main]

#[path = "../../tests/fuzz_inputs/mod.rs"]
mod inputs;

libfuzzer_sys::fuzz_target!(|data: &[u8]| inputs::cifar(data));
