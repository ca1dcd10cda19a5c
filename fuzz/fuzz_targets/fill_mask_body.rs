#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| maskner::fuzzing::server::fill_mask_body(data));
