//! `Precision::Bf16`: weight matrices held as bf16, arithmetic in fp32. Checked against the
//! fp32 goldens from transformers (tiny fixtures) and, on real weights, all-MiniLM-L6-v2's
//! hidden states; batch invariance; the map cache shared with fp32.

mod common;

use candle_core::DType;
use maskner::mlm::{MaskedLm, MlmInput, Precision};
use serde::Deserialize;

fn load(name: &str, precision: Precision) -> MaskedLm {
    MaskedLm::load_with(name, &common::fixture(name), precision).unwrap_or_else(|e| panic!("loading {name}: {e:#}"))
}

fn inputs(name: &str) -> (Vec<MlmInput>, Vec<common::GoldenSentence>) {
    let g = common::mlm_golden(name);
    let inputs =
        g.sentences.iter().map(|s| MlmInput { ids: s.input_ids.clone(), reads: s.reads.iter().map(|r| r.position).collect() }).collect();
    (inputs, g.sentences)
}

/// bf16 weights move logits a little, never the top of the list: on every fixture read the
/// top-1 is transformers' fp32 top-1, at least 9 of the top 10 are shared, and no logit moves
/// by more than 0.05 (the logits span several units). fp32 stays within 1e-4 (mlm_parity.rs),
/// so a bf16 run that silently fell back to fp32 would fail the `moved` check below.
#[test]
fn bf16_keeps_the_fp32_predictions_on_the_fixtures() {
    for name in ["tiny-bert-cased", "tiny-bert-uncased", "tiny-medbert-cased"] {
        let model = load(name, Precision::Bf16);
        assert_eq!(model.precision(), Precision::Bf16);
        assert_eq!(model.word_embeddings().dtype(), DType::BF16, "{name}: embeddings held as bf16");
        let (inputs, golden) = inputs(name);
        let out = model.predict(&inputs).unwrap();
        let mut moved = 0f32;
        for (s, got) in golden.iter().zip(&out) {
            for (r, l) in s.reads.iter().zip(got) {
                let top: Vec<u32> = l.top_k(10).iter().map(|p| p.id).collect();
                assert_eq!(top[0], r.top10[0], "{name}: top-1 differs at {}", r.position);
                let shared = top.iter().filter(|t| r.top10.contains(t)).count();
                assert!(shared >= 9, "{name}: only {shared} of the top 10 shared at {}", r.position);
                let diff = l.values().iter().zip(&r.logits).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
                assert!(diff < 0.05, "{name}: a logit moved by {diff} at {}", r.position);
                moved = moved.max(diff);
            }
        }
        assert!(moved > 1e-4, "{name}: bf16 logits equal fp32's ({moved}): the weights were not rounded");
    }
}

#[test]
fn bf16_is_batch_invariant() {
    let model = load("tiny-bert-cased", Precision::Bf16);
    let (inputs, _) = inputs("tiny-bert-cased");
    let batched = model.predict(&inputs).unwrap();
    for (i, inp) in inputs.iter().enumerate() {
        let single = model.predict(std::slice::from_ref(inp)).unwrap();
        assert!(single[0] == batched[i], "sentence {i} differs between batched and single runs");
    }
    let mut small = load("tiny-bert-cased", Precision::Bf16);
    small.set_token_budget(20);
    let rev: Vec<MlmInput> = inputs.iter().rev().cloned().collect();
    for (i, o) in small.predict(&rev).unwrap().iter().rev().enumerate() {
        assert!(*o == batched[i], "sentence {i} differs under another batching");
    }
}

/// Maps are built from the fp32 embeddings whatever the precision (read again from the
/// checkpoint), and found under the same cache key.
#[test]
fn bf16_models_build_and_find_the_fp32_maps() {
    let fp32 = load("tiny-bert-cased", Precision::Fp32);
    let bf16 = load("tiny-bert-cased", Precision::Bf16);
    let a = fp32.word_embeddings_f32().unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let b = bf16.word_embeddings_f32().unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert!(a == b, "the embeddings maps are built from differ between fp32 and bf16");
    let rounded = bf16.word_embeddings().to_dtype(DType::F32).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert!(rounded != a, "bf16 embeddings are not rounded");
    let tax = maskner::entity_map::Taxonomy::jan2022();
    let seeds = maskner::entity_map::SeedSet::builtin(&tax).unwrap();
    let opts = maskner::entity_map::BuildOptions::default();
    assert_eq!(
        maskner::entity_map::cache::map_dir(&fp32, &seeds, &opts, &tax),
        maskner::entity_map::cache::map_dir(&bf16, &seeds, &opts, &tax)
    );
}

/// Real weights: all-MiniLM-L6-v2 under bf16 against transformers' fp32 hidden states, cosine
/// per token at least 0.999.
#[test]
fn minilm_bf16_hidden_states_stay_close_to_fp32() {
    let Some(dir) = common::minilm_dir() else { return };
    #[derive(Deserialize)]
    struct Sentence {
        text: String,
        hidden: Vec<Vec<f32>>,
    }
    #[derive(Deserialize)]
    struct MiniGolden {
        sentences: Vec<Sentence>,
    }
    let model = MaskedLm::load_with("all-MiniLM-L6-v2", &dir, Precision::Bf16).expect("load MiniLM");
    let path = common::root().join("data/goldens/minilm-hidden.json");
    let g: MiniGolden = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let seqs: Vec<Vec<u32>> = g.sentences.iter().map(|s| model.tokenizer().encode(&s.text, true).unwrap().ids).collect();
    let hidden = model.hidden_states(&seqs).unwrap();
    let (mut worst, mut max_diff) = (1f64, 0f32);
    for (s, h) in g.sentences.iter().zip(hidden) {
        for (got, want) in h.to_vec2::<f32>().unwrap().iter().zip(&s.hidden) {
            let dot: f64 = got.iter().zip(want).map(|(a, b)| f64::from(*a) * f64::from(*b)).sum();
            let norm = |v: &[f32]| v.iter().map(|a| f64::from(*a).powi(2)).sum::<f64>().sqrt();
            worst = worst.min(dot / (norm(got) * norm(want)));
            max_diff = got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(max_diff, f32::max);
        }
    }
    assert!(worst >= 0.999, "a token's hidden state has cosine {worst} to fp32");
    assert!(max_diff > 1e-4, "bf16 hidden states equal fp32's: the weights were not rounded");
    eprintln!("MiniLM bf16: lowest per-token cosine to fp32 {worst:.6}, largest difference {max_diff}");
}
