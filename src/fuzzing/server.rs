//! Fuzz targets: server.

pub fn ner_body(data: &[u8]) {
    let _ = data; // TODO: filled in by the fuzzing work
}

pub fn fill_mask_body(data: &[u8]) {
    let _ = data; // TODO: filled in by the fuzzing work
}
