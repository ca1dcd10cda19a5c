//! Fuzz targets: maps.

pub fn taxonomy(data: &[u8]) {
    let _ = data; // TODO: filled in by the fuzzing work
}

pub fn seed_list(data: &[u8]) {
    let _ = data; // TODO: filled in by the fuzzing work
}

pub fn labels_import(data: &[u8]) {
    let _ = data; // TODO: filled in by the fuzzing work
}
