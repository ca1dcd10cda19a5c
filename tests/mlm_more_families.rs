//! More masked-LM ensemble members through the existing `MaskedLm`, against transformers
//! (goldens written by tools/make_member_fixtures.py, same format as tests/mlm_parity.rs):
//!
//! * tiny-pubmedbert-large-uncased: microsoft/BiomedNLP-PubMedBERT-large-uncased-abstract's
//!   layout (BERT-large shape: 24 layers, 8 heads; uncased vocab.txt only, so lower-casing and
//!   accent stripping come from the vocabulary; a BertForPreTraining pytorch_model.bin with
//!   pooler and next-sentence head, which the loader ignores).
//! * tiny-medbert-cased: Charangan/MedBERT's layout (BERT-base shape from Bio_ClinicalBERT: cased
//!   vocab.txt + tokenizer_config.json, BertForMaskedLM pytorch_model.bin with the tied decoder
//!   stored, a config.json without model_type).

mod common;

use maskner::mlm::{MaskedLm, MlmInput};

/// The fixture model `name`, loaded.
fn load(name: &str) -> MaskedLm {
    MaskedLm::load(name, &common::fixture(name)).unwrap_or_else(|e| panic!("loading {name}: {e:#}"))
}

fn check_parity(name: &str) -> MaskedLm {
    let model = load(name);
    let g = common::mlm_golden(name);
    assert_eq!(g.sentences.len(), 12);
    let mut inputs = Vec::new();
    for s in &g.sentences {
        let enc = model.tokenizer().encode(&s.text, true).unwrap();
        assert_eq!(enc.ids, s.input_ids, "{name}: token ids differ for {:?}", s.text);
        inputs.push(MlmInput { ids: enc.ids, reads: s.reads.iter().map(|r| r.position).collect() });
    }
    let out = model.predict(&inputs).unwrap();
    let mut reads = 0;
    for (s, got) in g.sentences.iter().zip(&out) {
        for (r, l) in s.reads.iter().zip(got) {
            let top: Vec<u32> = l.top_k(10).iter().map(|p| p.id).collect();
            assert_eq!(top, r.top10, "{name}: top-10 differs for {:?} at {}", s.text, r.position);
            let max_diff = l.values().iter().zip(&r.logits).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(max_diff < 1e-4, "{name}: logits differ by {max_diff} for {:?} at {}", s.text, r.position);
            reads += 1;
        }
    }
    assert!(reads >= 24, "every sentence reads [CLS] and at least one [MASK]");
    model
}

#[test]
fn pubmedbert_large_uncased_layout_matches_transformers() {
    let model = check_parity("tiny-pubmedbert-large-uncased");
    assert_eq!(model.config().num_hidden_layers, 24);
    assert_eq!(model.config().num_attention_heads, 8);
    assert!(model.has_mlm_head());
    assert!(model.tokenizer().lowercase(), "uncased vocabulary, no tokenizer_config.json");
    // lower-casing and accent stripping: "Zoë Müller" and "zoe muller" tokenize alike
    let a = model.tokenizer().encode("Zoë Müller moved from Zürich", true).unwrap().ids;
    let b = model.tokenizer().encode("zoe muller moved from zurich", true).unwrap().ids;
    assert_eq!(a, b);
}

#[test]
fn medbert_cased_layout_matches_transformers() {
    let model = check_parity("tiny-medbert-cased");
    assert_eq!(model.config().num_hidden_layers, 3);
    assert!(model.config().model_type.is_none());
    assert!(!model.tokenizer().lowercase(), "do_lower_case false in tokenizer_config.json");
    let a = model.tokenizer().encode("Zoë", false).unwrap().ids;
    let b = model.tokenizer().encode("zoe", false).unwrap().ids;
    assert_ne!(a, b);
}
