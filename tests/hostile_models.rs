//! Hostile model files (issue 17): each is refused with a one-line error that names the file and
//! the problem, never a panic. Every case starts from a copy of a fixture model and breaks one
//! thing. (PyTorch `.bin` pickles: `tests/hostile_pickle.rs`.)

mod common;

use maskner::mlm::{MaskedLm, MlmInput};
use std::path::{Path, PathBuf};

/// A copy of fixture `name` in a scratch directory, to break.
fn copy_fixture(name: &str, tag: &str) -> PathBuf {
    let dir = common::tmp(&format!("hostile-{tag}"));
    for entry in std::fs::read_dir(common::fixture(name)).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    dir
}

/// The error of loading `dir`, as the CLI prints it (`{:#}`: the context chain on one line).
fn load_error(dir: &Path) -> String {
    let err = match MaskedLm::load("hostile", dir) {
        Ok(_) => panic!("{} loaded", dir.display()),
        Err(e) => format!("{e:#}"),
    };
    assert!(!err.contains('\n'), "one line: {err}");
    err
}

fn edit_config(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join("config.json");
    let mut cfg: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut cfg);
    std::fs::write(&path, serde_json::to_vec(&cfg).unwrap()).unwrap();
}

/// The header of a safetensors file: (its JSON, the offset where the data starts).
fn header(bytes: &[u8]) -> (serde_json::Value, usize) {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    (serde_json::from_slice(&bytes[8..8 + n]).unwrap(), 8 + n)
}

#[test]
fn a_truncated_safetensors_file_is_refused() {
    let dir = copy_fixture("tiny-bert-uncased", "st-truncated");
    let file = dir.join("model.safetensors");
    let bytes = std::fs::read(&file).unwrap();
    // inside the header, then inside the data
    for cut in [5, 200, bytes.len() - 100] {
        std::fs::write(&file, &bytes[..cut]).unwrap();
        let err = load_error(&dir);
        assert!(err.contains(&format!("{}: not a valid safetensors file", file.display())), "cut at {cut}: {err}");
        assert!(err.contains("download it again"), "{err}");
    }
}

#[test]
fn an_oversized_safetensors_header_length_is_refused_without_allocating_it() {
    let dir = copy_fixture("tiny-bert-uncased", "st-oversized");
    let file = dir.join("model.safetensors");
    let mut bytes = std::fs::read(&file).unwrap();
    // 1 EiB: an allocation of that size would abort the process, not return an error
    bytes[..8].copy_from_slice(&(1u64 << 60).to_le_bytes());
    std::fs::write(&file, &bytes).unwrap();
    let err = load_error(&dir);
    assert!(err.contains("not a valid safetensors file"), "{err}");
    assert!(err.contains("header too large"), "{err}");
}

#[test]
fn tensors_whose_shapes_disagree_with_the_config_are_refused() {
    let dir = copy_fixture("tiny-bert-uncased", "shapes");
    let inter = {
        let cfg: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
        cfg["intermediate_size"].as_u64().unwrap()
    };
    edit_config(&dir, |c| c["intermediate_size"] = (inter + 1).into());
    let err = load_error(&dir);
    assert!(err.contains("tensor bert.encoder.layer.0.intermediate.dense.weight has shape"), "{err}");
    assert!(err.contains(&format!("but config.json implies [{}, ", inter + 1)), "{err}");
    assert!(err.contains("belong to different models"), "{err}");
}

#[test]
fn a_tokenizer_larger_than_the_embeddings_is_refused() {
    let dir = copy_fixture("tiny-bert-cased", "tok-large");
    let lines = std::fs::read_to_string(dir.join("vocab.txt")).unwrap();
    let n = lines.lines().count();
    let extra: String = (0..5).map(|i| format!("extra{i}\n")).collect();
    std::fs::write(dir.join("vocab.txt"), format!("{lines}{extra}")).unwrap();
    let err = load_error(&dir);
    assert!(err.contains(&format!("vocab mismatch: the tokenizer has {} tokens but config.json says vocab_size {n}", n + 5)), "{err}");
    assert!(err.contains("the tokenizer files belong to another model"), "{err}");
}

#[test]
fn a_tokenizer_smaller_than_the_embeddings_predicts_only_its_own_tokens() {
    let dir = copy_fixture("tiny-bert-cased", "tok-small");
    let text = std::fs::read_to_string(dir.join("vocab.txt")).unwrap();
    let all: Vec<&str> = text.lines().collect();
    let keep = all.len() - 30;
    std::fs::write(dir.join("vocab.txt"), all[..keep].join("\n") + "\n").unwrap();
    let lm = MaskedLm::load("small-tok", &dir).unwrap();
    assert_eq!(lm.config().vocab_size, all.len(), "the embeddings keep their rows");
    let tok = lm.tokenizer();
    let enc = tok.encode("Paris is a [MASK] .", true).unwrap();
    let mask = enc.ids.iter().position(|&i| i == tok.id("[MASK]").unwrap()).unwrap();
    let out = lm.predict(&[MlmInput { ids: enc.ids.clone(), reads: vec![0, mask] }]).unwrap();
    for logits in &out[0] {
        assert_eq!(logits.values().len(), keep, "one logit per token the tokenizer knows");
        for p in logits.top_k(keep) {
            assert!(!tok.token(p.id).is_empty(), "prediction {} has a token", p.id);
        }
    }
}

#[test]
fn nan_and_infinite_weights_are_refused_naming_the_tensor() {
    let dir = copy_fixture("tiny-bert-uncased", "nan");
    let file = dir.join("model.safetensors");
    let clean = std::fs::read(&file).unwrap();
    let (head, data) = header(&clean);
    let name = "bert.encoder.layer.0.output.dense.weight";
    assert_eq!(head[name]["dtype"], "F32");
    let start = data + head[name]["data_offsets"][0].as_u64().unwrap() as usize;
    for (bad, count) in [(f32::NAN, 1), (f32::INFINITY, 2)] {
        let mut bytes = clean.clone();
        for k in 0..count {
            bytes[start + 4 * (3 + k)..start + 4 * (4 + k)].copy_from_slice(&bad.to_le_bytes());
        }
        std::fs::write(&file, &bytes).unwrap();
        let err = load_error(&dir);
        assert!(err.contains(&format!("tensor {name} holds {count} NaN or infinite values; the checkpoint is corrupt")), "{err}");
    }
}

#[test]
fn integer_tensors_are_refused_by_dtype() {
    let dir = copy_fixture("tiny-bert-uncased", "dtype");
    let file = dir.join("model.safetensors");
    let bytes = std::fs::read(&file).unwrap();
    let (mut head, data) = header(&bytes);
    // same bytes read as I32: a float tensor's bytes reinterpreted, shape and size unchanged
    let name = "bert.embeddings.LayerNorm.weight";
    head[name]["dtype"] = "I32".into();
    let mut text = serde_json::to_vec(&head).unwrap();
    text.resize(text.len().next_multiple_of(8), b' ');
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&text);
    out.extend_from_slice(&bytes[data..]);
    std::fs::write(&file, out).unwrap();
    let err = load_error(&dir);
    assert!(err.contains(&format!("tensor {name} has dtype I32, but model weights must be float32, float16 or bfloat16")), "{err}");
}

#[test]
fn absurd_config_sizes_are_refused_before_any_tensor_is_read() {
    let dir = copy_fixture("tiny-bert-uncased", "config-sizes");
    edit_config(&dir, |c| c["max_position_embeddings"] = (1u64 << 40).into());
    let err = load_error(&dir);
    assert!(err.contains("config.json: max_position_embeddings 1099511627776 is larger than any supported model"), "{err}");
    edit_config(&dir, |c| {
        c["max_position_embeddings"] = 64.into();
        c["layer_norm_eps"] = serde_json::json!(-1.0);
    });
    let err = load_error(&dir);
    assert!(err.contains("layer_norm_eps -1 must be a positive number below 1"), "{err}");
}

#[test]
fn a_map_built_for_another_vocabulary_is_refused_at_load() {
    let d = common::tmp("hostile-map");
    let cased = common::fixture_arg("tiny-bert-cased");
    let uncased = common::fixture_arg("tiny-bert-uncased");
    let map = d.join("cased-map");
    let out = common::maskner(&["build-map", "--model", &cased, "--out", map.to_str().unwrap()], None, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let m = format!("{uncased}={}", map.display());
    let out = common::maskner(&["tag", "--members", &uncased, "--map", &m, "Paris:__entity__ is nice"], None, &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains(&format!("member {uncased}: map {}: vocab mismatch", map.display())), "{err}");
    assert!(err.contains(&format!("the map was made for model {cased}'s vocabulary of 431 tokens")), "{err}");
    assert!(err.contains(&format!("build one with `maskner build-map --model {uncased}`")), "{err}");
    assert!(out.stdout.is_empty());
}
