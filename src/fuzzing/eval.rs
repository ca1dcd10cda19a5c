//! Fuzz targets: eval.

pub fn eval_readers(data: &[u8]) {
    let _ = data; // TODO: filled in by the fuzzing work
}

pub fn eval_config(data: &[u8]) {
    let _ = data; // TODO: filled in by the fuzzing work
}
