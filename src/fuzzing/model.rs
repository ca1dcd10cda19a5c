//! Fuzz targets: model.

pub fn model_config(data: &[u8]) {
    let _ = data; // TODO: filled in by the fuzzing work
}

pub fn model_safetensors(data: &[u8]) {
    let _ = data; // TODO: filled in by the fuzzing work
}

/// Loads the bytes as a PyTorch zip checkpoint (`pytorch_model.bin`). Beyond "no panic": a load
/// that succeeds yields at least one tensor, every one f32 with a shape whose element count does
/// not overflow and whose data has exactly that many elements; a refusal is one line naming the
/// source.
pub fn model_bin_zip(data: &[u8]) {
    check_bin_zip(data);
}

fn check_bin_zip(data: &[u8]) {
    use crate::mlm::weights::Weights;
    use candle_core::{DType, Device};
    match Weights::from_pytorch_bin_bytes(data, "fuzz.bin", &Device::Cpu) {
        Ok(w) => {
            let mut n = 0;
            for (name, t) in w.iter() {
                n += 1;
                assert_eq!(t.dtype(), DType::F32, "{name}: loaded as {:?}", t.dtype());
                let numel = t.dims().iter().try_fold(1usize, |a, &d| a.checked_mul(d));
                assert_eq!(numel, Some(t.elem_count()), "{name}: shape {:?}", t.dims());
                let flat = t.flatten_all().and_then(|f| f.to_vec1::<f32>()).expect("an f32 tensor reads back");
                assert_eq!(flat.len(), t.elem_count(), "{name}");
            }
            assert!(n > 0, "a checkpoint loaded with no tensors");
        }
        Err(e) => {
            let msg = format!("{e:#}");
            assert!(msg.starts_with("fuzz.bin: "), "error does not name the source: {msg}");
            assert!(!msg.contains('\n'), "error is not one line: {msg}");
        }
    }
}
