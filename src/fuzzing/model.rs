//! Fuzz targets: model files (`config.json`, safetensors and zip `.bin` checkpoints) as
//! downloaded from a hub, i.e. written by anyone.

use crate::mlm::bert::Bert;
use crate::mlm::config::{self, BertConfig};
use crate::mlm::weights::Weights;
use crate::token_classify::deberta::DebertaV2Config;
use candle_core::{DType, Device};
use std::path::Path;

/// A `config.json`, read both as a BERT and as a DeBERTa-v2 config. An accepted config is one
/// the loaders can size tensors from without overflow: every size within its bound, the heads
/// splitting the width exactly, epsilon a small positive number, the pad id in the vocabulary.
pub fn model_config(data: &[u8]) {
    if let Ok(c) = BertConfig::from_slice(data) {
        assert!(c.vocab_size >= 1 && c.vocab_size <= config::MAX_VOCAB, "vocab_size {}", c.vocab_size);
        assert!(c.hidden_size <= config::MAX_WIDTH && c.intermediate_size <= config::MAX_WIDTH);
        assert!(c.num_hidden_layers >= 1 && c.num_hidden_layers <= config::MAX_LAYERS);
        assert!(c.max_position_embeddings <= config::MAX_POSITIONS && c.type_vocab_size <= config::MAX_TYPE_VOCAB);
        assert_eq!(c.head_dim() * c.num_attention_heads, c.hidden_size, "heads split the width");
        assert!(c.layer_norm_eps.is_finite() && c.layer_norm_eps > 0.0, "eps {}", c.layer_norm_eps);
        assert!((c.pad_token_id as usize) < c.vocab_size, "pad id in the vocabulary");
    }
    if let Ok(c) = DebertaV2Config::from_slice(data) {
        assert!(c.vocab_size >= 1 && c.vocab_size <= config::MAX_VOCAB, "vocab_size {}", c.vocab_size);
        assert_eq!(c.head_dim().checked_mul(c.num_attention_heads), Some(c.hidden_size), "heads split the width");
        assert!(c.layer_norm_eps.is_finite() && c.layer_norm_eps > 0.0, "eps {}", c.layer_norm_eps);
        if c.relative_attention {
            assert!(c.att_span() >= 1 && c.att_span() as usize <= config::MAX_POSITIONS, "span {}", c.att_span());
        }
    }
}

/// The configuration the safetensors seeds (`tools/make_fuzz_model_seeds.py`) were written
/// for: a BERT small enough that a forward pass costs microseconds.
pub const SEED_CONFIG: &str = r#"{"model_type": "bert", "vocab_size": 16, "hidden_size": 4, "num_hidden_layers": 1,
"num_attention_heads": 2, "intermediate_size": 8, "max_position_embeddings": 8, "type_vocab_size": 2}"#;

fn seed_config() -> BertConfig {
    BertConfig::from_slice(SEED_CONFIG.as_bytes()).expect("the seed config is valid")
}

/// A safetensors checkpoint in memory. Loaded weights are float and finite; when they fit
/// [`SEED_CONFIG`] the encoder (and head) runs on a short sequence and gives one hidden row per
/// token (and one vocabulary row per read).
pub fn model_safetensors(data: &[u8]) {
    let Ok(w) = Weights::from_safetensors_bytes(data, Path::new("fuzz.safetensors"), &Device::Cpu) else { return };
    run_seed_model(&w);
}

/// Runs a checkpoint that loaded against [`SEED_CONFIG`], asserting the output shapes.
pub fn run_seed_model(w: &Weights) {
    let cfg = seed_config();
    let Ok(bert) = Bert::load(w, &cfg, &Device::Cpu) else { return };
    let ids = [1u32, 5, 2];
    let hidden = bert.encode(&ids, &[ids.len()]).expect("a loaded model encodes a valid sequence");
    assert_eq!(hidden.dims(), &[ids.len(), cfg.hidden_size]);
    if bert.has_mlm_head() {
        let logits = bert.mlm_logits(&hidden, &[0, 1]).expect("a loaded head reads valid rows");
        assert_eq!(logits.dims(), &[2, cfg.vocab_size]);
    }
}

/// Loads the bytes as a PyTorch zip checkpoint (`pytorch_model.bin`). Beyond "no panic": a load
/// that succeeds yields at least one tensor, every one f32 with a shape whose element count does
/// not overflow and whose data has exactly that many elements; a refusal is one line naming the
/// source.
pub fn model_bin_zip(data: &[u8]) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_with_absurd_sizes_are_refused_with_the_field_named() {
        let base = r#""vocab_size": 30, "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 16"#;
        let cases = [
            (
                r#""vocab_size": 99999999999, "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 16"#,
                "vocab_size 99999999999 is larger than any supported model",
            ),
            (&format!(r#"{base}, "max_position_embeddings": 100000000"#), "max_position_embeddings 100000000 is larger"),
            (&format!(r#"{base}, "layer_norm_eps": 0"#), "layer_norm_eps 0 must be a positive number"),
            (&format!(r#"{base}, "layer_norm_eps": -1e-5"#), "layer_norm_eps -0.00001 must be a positive number"),
            (&format!(r#"{base}, "pad_token_id": 30"#), "pad_token_id 30 is outside the vocabulary (vocab_size 30)"),
        ];
        for (fields, want) in cases {
            let json = format!("{{{fields}}}");
            let err = BertConfig::from_slice(json.as_bytes()).expect_err(&json).to_string();
            assert!(err.contains(want), "{json}: {err}");
            assert!(!err.contains('\n'), "one line: {err}");
        }
        assert!(BertConfig::from_slice(format!("{{{base}}}").as_bytes()).is_ok());
    }

    #[test]
    fn a_deberta_head_size_that_overflows_is_refused() {
        let json = r#"{"vocab_size": 30, "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 4,
            "intermediate_size": 16, "attention_head_size": 9223372036854775807}"#;
        let err = DebertaV2Config::from_slice(json.as_bytes()).expect_err("overflow").to_string();
        assert!(err.contains("attention_head_size * num_attention_heads must equal hidden_size"), "{err}");
    }
}
