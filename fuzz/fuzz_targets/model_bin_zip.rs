#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| maskner::fuzzing::model::model_bin_zip(data));
