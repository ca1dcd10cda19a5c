#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| maskner::fuzzing::eval::eval_readers(data));
