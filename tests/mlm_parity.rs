//! Masked-LM parity with transformers on the tiny fixtures (goldens written by
//! tools/make_mlm_fixtures.py), batching invariance, and loader errors.

mod common;

use maskner::mlm::{MaskedLm, MlmInput};
use std::path::Path;

/// The fixture model `name`, loaded.
fn load(name: &str) -> MaskedLm {
    MaskedLm::load(name, &common::fixture(name)).unwrap_or_else(|e| panic!("loading {name}: {e:#}"))
}

fn golden(name: &str) -> common::MlmGolden {
    common::mlm_golden(name)
}

fn check_parity(name: &str) {
    let model = load(name);
    let g = golden(name);
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
}

#[test]
fn cased_bin_vocab_txt_old_config_matches_transformers() {
    check_parity("tiny-bert-cased");
}

#[test]
fn uncased_safetensors_tokenizer_json_matches_transformers() {
    check_parity("tiny-bert-uncased");
}

#[test]
fn casing_is_detected() {
    assert!(!load("tiny-bert-cased").tokenizer().lowercase());
    assert!(load("tiny-bert-uncased").tokenizer().lowercase());
}

#[test]
fn batched_equals_unbatched_exactly() {
    let model = load("tiny-bert-cased");
    let g = golden("tiny-bert-cased");
    let inputs: Vec<MlmInput> =
        g.sentences.iter().map(|s| MlmInput { ids: s.input_ids.clone(), reads: s.reads.iter().map(|r| r.position).collect() }).collect();
    let batched = model.predict(&inputs).unwrap();
    for (i, inp) in inputs.iter().enumerate() {
        let single = model.predict(std::slice::from_ref(inp)).unwrap();
        assert!(single[0] == batched[i], "sentence {i} differs between batched and single runs");
    }
    // A different batch composition (reversed order, small token budget) gives the same bits.
    let mut small = load("tiny-bert-cased");
    small.set_token_budget(20);
    let rev: Vec<MlmInput> = inputs.iter().rev().cloned().collect();
    let out = small.predict(&rev).unwrap();
    for (i, o) in out.iter().rev().enumerate() {
        assert!(*o == batched[i], "sentence {i} differs under another batching");
    }
}

#[test]
fn over_long_input_is_refused() {
    let model = load("tiny-bert-cased");
    let ids = vec![model.tokenizer().cls; model.max_len() + 1];
    let err = model.predict(&[MlmInput { ids, reads: vec![0] }]).unwrap_err().to_string();
    assert!(err.contains("more than the model's maximum of 64"), "{err}");
}

fn load_err(dir: &Path) -> String {
    match MaskedLm::load("x", dir) {
        Ok(_) => panic!("{} loaded but should not", dir.display()),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn bad_files_give_one_line_errors_naming_the_file() {
    let tmp = common::tmp("badfiles");
    let src = common::fixture("tiny-bert-uncased");

    let d = tmp.join("corrupt-safetensors");
    common::copy_dir(&src, &d, &[]);
    std::fs::write(d.join("model.safetensors"), b"not a safetensors file at all").unwrap();
    let e = load_err(&d);
    assert!(e.contains("model.safetensors") && e.contains("not a valid safetensors"), "{e}");

    let d = tmp.join("no-weights");
    common::copy_dir(&src, &d, &[]);
    std::fs::remove_file(d.join("model.safetensors")).unwrap();
    let e = load_err(&d);
    assert!(e.contains("no model weights"), "{e}");

    let d = tmp.join("bad-config");
    common::copy_dir(&src, &d, &[]);
    std::fs::write(d.join("config.json"), b"{\"hidden_size\": 32}").unwrap();
    let e = load_err(&d);
    assert!(e.contains("config.json") && e.contains("not a valid BERT config"), "{e}");

    let d = tmp.join("vocab-mismatch");
    common::copy_dir(&src, &d, &[]);
    let cfg = std::fs::read_to_string(d.join("config.json")).unwrap().replace("\"vocab_size\": 368", "\"vocab_size\": 100");
    std::fs::write(d.join("config.json"), cfg).unwrap();
    let e = load_err(&d);
    assert!(e.contains("vocab mismatch"), "{e}");

    let d = tmp.join("legacy-bin");
    common::copy_dir(&common::fixture("tiny-bert-cased"), &d, &[]);
    std::fs::write(d.join("pytorch_model.bin"), b"\x80\x02legacy pickle").unwrap();
    let e = load_err(&d);
    assert!(e.contains("pytorch_model.bin") && e.contains("legacy (non-zip)"), "{e}");

    let d = tmp.join("truncated-bin");
    common::copy_dir(&common::fixture("tiny-bert-cased"), &d, &[]);
    let bytes = std::fs::read(d.join("pytorch_model.bin")).unwrap();
    std::fs::write(d.join("pytorch_model.bin"), &bytes[..bytes.len() / 2]).unwrap();
    let e = load_err(&d);
    assert!(e.contains("pytorch_model.bin"), "{e}");

    let e = load_err(&tmp.join("does-not-exist"));
    assert!(!e.contains('\n'), "errors are one line: {e}");
    let _ = std::fs::remove_dir_all(&tmp);
}
