#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| maskner::fuzzing::server::ner_body(data));
