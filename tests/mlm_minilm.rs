//! Encoder parity on real weights: all-MiniLM-L6-v2 (a `BertModel` checkpoint without MLM
//! head, uncased, tokenizer.json padding/truncating to 128) against transformers' last hidden
//! states (goldens from tools/make_mlm_fixtures.py --minilm).

mod common;

use maskner::mlm::MaskedLm;
use serde::Deserialize;

#[derive(Deserialize)]
struct Golden {
    sentences: Vec<Sentence>,
}

#[derive(Deserialize)]
struct Sentence {
    text: String,
    input_ids: Vec<u32>,
    hidden: Vec<Vec<f32>>,
}

#[test]
fn minilm_hidden_states_match_transformers() {
    let Some(dir) = common::minilm_dir() else { return };
    let model = MaskedLm::load("all-MiniLM-L6-v2", &dir).expect("load MiniLM");
    assert!(model.tokenizer().lowercase());
    assert!(!model.has_mlm_head());
    let path = common::root().join("data/goldens/minilm-hidden.json");
    let g: Golden = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut seqs = Vec::new();
    for s in &g.sentences {
        let enc = model.tokenizer().encode(&s.text, true).unwrap();
        assert_eq!(enc.ids, s.input_ids, "token ids (no padding to 128) for {:?}", s.text);
        seqs.push(enc.ids);
    }
    let hidden = model.hidden_states(&seqs).unwrap();
    for (s, h) in g.sentences.iter().zip(hidden) {
        let rows: Vec<Vec<f32>> = h.to_vec2().unwrap();
        assert_eq!(rows.len(), s.hidden.len());
        let max = rows.iter().flatten().zip(s.hidden.iter().flatten()).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(max < 1e-4, "hidden states differ by {max} for {:?}", s.text);
    }
}

#[test]
fn fill_mask_on_an_encoder_without_head_is_a_clear_error() {
    let Some(dir) = common::minilm_dir() else { return };
    let model = MaskedLm::load("all-MiniLM-L6-v2", &dir).unwrap();
    let ids = model.tokenizer().encode("a [MASK] b", true).unwrap().ids;
    let err = model.predict(&[maskner::mlm::MlmInput { ids, reads: vec![0] }]).unwrap_err().to_string();
    assert!(err.contains("no masked-LM head"), "{err}");
}
