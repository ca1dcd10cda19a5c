//! Fuzz targets: text.

pub fn text_stage(data: &[u8]) {
    let _ = data; // TODO: filled in by the fuzzing work
}

pub fn tokenize_prompt(data: &[u8]) {
    let _ = data; // TODO: filled in by the fuzzing work
}
