#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| maskner::fuzzing::text::text_stage(data));
