//! Fuzz targets: inputs.

pub fn jsonl_record(data: &[u8]) {
    let _ = data; // TODO: filled in by the fuzzing work
}

pub fn engine_config(data: &[u8]) {
    let _ = data; // TODO: filled in by the fuzzing work
}
