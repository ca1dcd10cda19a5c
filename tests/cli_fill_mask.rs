//! `maskner fill-mask` end to end through the binary: local directories, the Hugging Face
//! cache layout (offline), JSON shape, error records and exit codes.

mod common;

use std::path::Path;

#[test]
fn json_has_masks_and_cls_with_logits() {
    let out = common::maskner(
        &[
            "fill-mask",
            "--model",
            &common::fixture_arg("tiny-bert-cased"),
            "--top-k",
            "4",
            "--json",
            "Lou Gehrig worked in [MASK] and [MASK] .",
        ],
        None,
        &[],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let masks = v["masks"].as_array().unwrap();
    assert_eq!(masks.len(), 2);
    assert_eq!(masks[0]["position"], 5);
    assert_eq!(masks[1]["position"], 7);
    for m in masks.iter().chain(std::iter::once(&v)) {
        let preds = if m.get("predictions").is_some() { &m["predictions"] } else { &m["cls"] };
        let preds = preds.as_array().unwrap();
        assert_eq!(preds.len(), 4);
        let scores: Vec<f64> = preds.iter().map(|p| p["score"].as_f64().unwrap()).collect();
        assert!(scores.windows(2).all(|w| w[0] >= w[1]), "sorted by logit: {scores:?}");
        assert!(preds.iter().all(|p| p["token"].is_string() && p["id"].is_u64()));
    }
}

#[test]
fn hub_id_resolves_from_the_cache_offline() {
    let tmp = common::tmp("fm-hfcache");
    let snap = tmp.join("hub/models--acme--tiny-bert/snapshots/0123abcd");
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::create_dir_all(tmp.join("hub/models--acme--tiny-bert/refs")).unwrap();
    std::fs::write(tmp.join("hub/models--acme--tiny-bert/refs/main"), "0123abcd").unwrap();
    let src = common::fixture("tiny-bert-uncased");
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(src.join(f), snap.join(f)).unwrap();
    }
    // tokenizer missing: a clear error naming what is missing
    let out = common::maskner(&["fill-mask", "--model", "acme/tiny-bert", "a [MASK]"], None, &[("HF_HOME", &tmp)]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("missing: tokenizer.json or vocab.txt") && err.contains("HF_HUB_OFFLINE"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one-line error: {err}");
    // complete: resolves, also through HF_HUB_CACHE
    for f in ["tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(src.join(f), snap.join(f)).unwrap();
    }
    let out = common::maskner(&["fill-mask", "--model", "acme/tiny-bert", "--json", "a [MASK]"], None, &[("HF_HOME", &tmp)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let hub = tmp.join("hub");
    let out = common::maskner(
        &["fill-mask", "--model", "acme/tiny-bert", "--json", "a [MASK]"],
        None,
        &[("HF_HUB_CACHE", &hub), ("HF_HOME", Path::new("/nonexistent"))],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn input_file_lines_each_give_one_record_also_on_error() {
    let dir = common::tmp("fm-input");
    let tmp = dir.join("input.txt");
    let long = "word ".repeat(80);
    let mut bytes = b"Lou [MASK] .\n".to_vec();
    bytes.extend_from_slice(b"bad \xff utf8 [MASK]\n");
    bytes.extend_from_slice(format!("{long}[MASK]\n").as_bytes());
    bytes.extend_from_slice(b"The [MASK] cells .\n");
    std::fs::write(&tmp, bytes).unwrap();
    let out = common::maskner(
        &["fill-mask", "--model", &common::fixture_arg("tiny-bert-cased"), "--json", "--input", tmp.to_str().unwrap()],
        None,
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "errors are reported in the exit code");
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 4);
    assert!(lines[0]["masks"].is_array());
    assert!(lines[1]["error"].as_str().unwrap().contains("line 2: invalid UTF-8"));
    assert!(lines[2]["error"].as_str().unwrap().contains("more than the model's maximum of 64"));
    assert_eq!(lines[3]["masks"][0]["position"], 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn missing_model_directory_is_one_line() {
    let out = common::maskner(&["fill-mask", "--model", "./no/such/dir", "a [MASK]"], None, &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no such model directory"), "{err}");
}

/// `--precision bf16`: the same top tokens on the fixture (near-tied ones may swap), scores a
/// little off fp32's; a bad value is refused by name.
#[test]
fn bf16_precision_keeps_the_top_tokens() {
    let run = |precision: &str| {
        let model = common::fixture_arg("tiny-bert-cased");
        let out = common::maskner(
            &["fill-mask", "--model", &model, "--top-k", "3", "--json", "--precision", precision, "Lou Gehrig worked in [MASK] ."],
            None,
            &[],
        );
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["masks"][0]["predictions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["id"].as_u64().unwrap(), p["score"].as_f64().unwrap()))
            .collect::<Vec<_>>()
    };
    let (fp32, bf16) = (run("fp32"), run("bf16"));
    let sorted = |v: &[(u64, f64)]| {
        let mut v = v.to_vec();
        v.sort_by_key(|p| p.0);
        v
    };
    let (a, b) = (sorted(&fp32), sorted(&bf16));
    assert_eq!(a.iter().map(|p| p.0).collect::<Vec<_>>(), b.iter().map(|p| p.0).collect::<Vec<_>>(), "{fp32:?} {bf16:?}");
    assert!(a.iter().zip(&b).all(|(x, y)| (x.1 - y.1).abs() < 0.05), "{fp32:?} {bf16:?}");
    assert_ne!(fp32, bf16, "bf16 scores equal fp32's: the flag did nothing");
    let out = common::maskner(&["fill-mask", "--model", "x", "--precision", "half", "a [MASK]"], None, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid value 'half' for '--precision <PRECISION>'"));
}
