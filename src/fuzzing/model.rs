//! Fuzz targets: model.

pub fn model_config(data: &[u8]) {
    let _ = data; // TODO: filled in by the fuzzing work
}

pub fn model_safetensors(data: &[u8]) {
    let _ = data; // TODO: filled in by the fuzzing work
}

pub fn model_bin_zip(data: &[u8]) {
    let _ = data; // TODO: filled in by the fuzzing work
}
