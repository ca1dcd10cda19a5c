//! `maskner tag` with a token classifier running alone: its output is exactly the entity list
//! of transformers' token-classification pipeline (goldens written by
//! tools/make_member_fixtures.py) for each `--aggregation` strategy, long texts windowed with
//! `--stride`, labels mapped to our groups; unmapped labels are reported.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Output;

use maskner::entity_map::Taxonomy;
use maskner::token_classify::{Aggregation, EntitySpan, LoadOptions, Target, TokenClassifier};
use serde::Deserialize;

#[derive(Deserialize)]
struct Golden {
    texts: Vec<GoldenText>,
}

#[derive(Deserialize)]
struct GoldenText {
    text: String,
    stride: Option<usize>,
    entities: BTreeMap<String, Vec<EntitySpan>>,
}

const SCIBERT: (&str, &str) = ("tiny-scibert-ner-jnlpba", "fran-martinez--scibert_scivocab_cased_ner_jnlpba.labels.txt");
const DEBERTA: (&str, &str) = ("tiny-deberta-v3-ner", "venkatd--BIOMed_NER.labels.txt");

fn labels_file(name: &str) -> PathBuf {
    common::root().join("descriptors/members").join(name)
}

fn golden(fixture: &str) -> Golden {
    let p = common::root().join("data/goldens").join(format!("{fixture}.json"));
    serde_json::from_str(&std::fs::read_to_string(p).expect("golden file")).expect("golden json")
}

/// `maskner tag ARGS` with a private map cache, offline.
fn tag(args: &[&str], stdin: &[u8]) -> Output {
    common::maskner(&[&["tag"], args].concat(), Some(stdin), &[])
}

fn jsonl(texts: &[&str]) -> Vec<u8> {
    texts.iter().map(|t| format!("{}\n", serde_json::json!({ "text": t }))).collect::<String>().into_bytes()
}

/// What maskner must print for a golden entity: the mapped group of its label, or nothing for
/// a label mapped to `-` or OTHER (not an entity of ours).
fn expected(tc: &TokenClassifier, golden: &[EntitySpan]) -> Vec<(String, String, usize, usize, f32)> {
    golden
        .iter()
        .filter_map(|e| {
            let group = match tc.target_of(e) {
                Some(Target::Tag(t)) if t.group.as_str() != "OTHER" => t.group.as_str().to_string(),
                Some(_) => return None,
                None => "UNTAGGED_ENTITY".to_string(),
            };
            Some((group, e.word.clone(), e.start, e.end, e.score))
        })
        .collect()
}

/// `maskner tag --members DIR --format hf --aggregation X [--stride N]` on every golden text,
/// against the pipeline's entities.
fn matches_the_pipeline((name, labels): (&str, &str)) {
    let dir = common::fixture_arg(name);
    let lab = format!("{dir}={}", labels_file(labels).display());
    let opts = LoadOptions { labels: Some(labels_file(labels)), taxonomy: Taxonomy::jan2022() };
    let tc = TokenClassifier::load_with(&dir, std::path::Path::new(&dir), &opts).unwrap();
    let g = golden(name);
    let mut strides: Vec<usize> = g.texts.iter().filter_map(|t| t.stride).collect();
    strides.dedup();
    assert_eq!(strides.len(), 2, "{name}: two long texts with their own strides");
    let mut compared = 0;
    for strategy in Aggregation::ALL {
        let mut outputs = Vec::new();
        for (k, &stride) in strides.iter().enumerate() {
            // texts that fit one window do not depend on the stride: run them once
            let texts: Vec<&GoldenText> = g.texts.iter().filter(|t| t.stride == Some(stride) || (k == 0 && t.stride.is_none())).collect();
            let input = jsonl(&texts.iter().map(|t| t.text.as_str()).collect::<Vec<_>>());
            let s = stride.to_string();
            let out = tag(
                &[
                    "--members",
                    &dir,
                    "--labels",
                    &lab,
                    "--format",
                    "hf",
                    "--aggregation",
                    strategy.as_str(),
                    "--stride",
                    &s,
                    "--input",
                    "-",
                ],
                &input,
            );
            assert!(out.status.success(), "{name} {strategy}: {}", String::from_utf8_lossy(&out.stderr));
            let got: Vec<serde_json::Value> =
                String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
            assert_eq!(got.len(), texts.len());
            for (t, ents) in texts.iter().zip(got) {
                let want = expected(&tc, &t.entities[strategy.as_str()]);
                let ents = ents.as_array().unwrap().clone();
                let show = |e: &serde_json::Value| {
                    format!("{}:{:?}@{}-{}", e["entity_group"].as_str().unwrap(), e["word"].as_str().unwrap(), e["start"], e["end"])
                };
                let got_show: Vec<String> = ents.iter().map(show).collect();
                let want_show: Vec<String> = want.iter().map(|w| format!("{}:{:?}@{}-{}", w.0, w.1, w.2, w.3)).collect();
                assert_eq!(got_show, want_show, "{name} {strategy} (stride {stride}) on {:?}", t.text);
                for (e, w) in ents.iter().zip(&want) {
                    let score = e["score"].as_f64().unwrap();
                    assert!((score - f64::from(w.4)).abs() < 1e-4, "{name} {strategy}: score {score} vs {} for {:?}", w.4, w.1);
                    assert_eq!(e.as_object().unwrap().len(), 5, "exactly the pipeline's keys: {e}");
                }
                compared += want.len();
                outputs.push(ents);
            }
        }
        assert!(outputs.iter().any(|o| !o.is_empty()));
    }
    assert!(compared > 300, "{name}: {compared} entities compared");
}

#[test]
fn scibert_alone_gives_the_pipeline_entities_for_each_strategy() {
    matches_the_pipeline(SCIBERT);
}

#[test]
fn deberta_alone_gives_the_pipeline_entities_for_each_strategy() {
    matches_the_pipeline(DEBERTA);
}

#[test]
fn the_strategy_changes_the_output_and_json_shows_the_models_label() {
    let dir = common::fixture_arg(SCIBERT.0);
    let lab = format!("{dir}={}", labels_file(SCIBERT.1).display());
    let text = "Imatinib mesylate inhibits the BCR-ABL tyrosine kinase in chronic myeloid leukemia cells.";
    let run = |strategy: &str, format: &str| {
        let out =
            tag(&["--members", &dir, "--labels", &lab, "--format", format, "--aggregation", strategy, "--input", "-"], &jsonl(&[text]));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    };
    assert_ne!(run("simple", "hf"), run("first", "hf"));
    let rec: serde_json::Value = serde_json::from_slice(&run("first", "jsonl")).unwrap();
    // the pipeline (first) says "inhibits" is a cell_type: our BODY_PART_OR_ORGAN_COMPONENT[CELL]
    let e = rec["entities"].as_array().unwrap().iter().find(|e| e["word"] == "inhibits").expect("inhibits").clone();
    assert_eq!(e["label"], "cell_type");
    assert_eq!(e["group"], "BODY_PART_OR_ORGAN_COMPONENT");
    assert_eq!(e["subtype"], "CELL");
    assert_eq!((e["start"].as_u64(), e["end"].as_u64()), (Some(18), Some(26)));
    assert!((e["score"].as_f64().unwrap() - 0.536743).abs() < 1e-4, "{e}");
    let term = rec["terms"].as_array().unwrap().iter().find(|t| t["term"] == "inhibits").unwrap().clone();
    assert_eq!(term["tag"], "B_CELL[BODY_PART_OR_ORGAN_COMPONENT]");
    // conll follows the same entities word by word
    let conll = String::from_utf8(run("first", "conll")).unwrap();
    assert!(conll.lines().any(|l| l == "inhibits B_CELL[BODY_PART_OR_ORGAN_COMPONENT]"), "{conll}");
    assert!(
        conll.lines().next().unwrap().starts_with("Imatinib B_") && conll.lines().nth(1).unwrap().starts_with("mesylate I_"),
        "{conll}"
    );
}

#[test]
fn unmapped_labels_are_reported_and_kept() {
    let dir = common::fixture_arg(SCIBERT.0);
    let d = common::tmp("tc-cli-unmapped");
    let partial = d.join("partial.labels.txt");
    std::fs::write(&partial, "protein GENE[PROTEIN]\nO -\n").unwrap();
    let lab = format!("{dir}={}", partial.display());
    let text = "Imatinib mesylate inhibits the BCR-ABL tyrosine kinase in chronic myeloid leukemia cells.";
    let out = tag(&["--members", &dir, "--labels", &lab, "--input", "-"], &jsonl(&[text]));
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("warning") && err.contains("no mapping for the model's label(s) DNA, RNA, cell_line, cell_type"), "{err}");
    let rec: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ents = rec["entities"].as_array().unwrap();
    let first = &ents[0];
    assert_eq!((first["word"].as_str(), first["label"].as_str()), (Some("Imatinib mesylate"), Some("DNA")));
    assert_eq!(first["group"], "UNTAGGED_ENTITY", "an unmapped label is kept, not dropped");
    assert!(ents.iter().any(|e| e["label"] == "protein" && e["group"] == "GENE"));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_stride_that_leaves_no_room_is_an_error() {
    let dir = common::fixture_arg(SCIBERT.0);
    let out = tag(&["--members", &dir, "--stride", "62", "x"], b"");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("member {dir}: stride 62 must be less than the 62 text tokens")), "{err}");
}

#[test]
fn a_hub_member_is_named_by_its_id_and_uses_the_builtin_label_map() {
    // the fixture in the Hugging Face cache layout under the real model's hub id (offline)
    let hub = common::tmp("tc-cli-hub");
    let repo = hub.join("models--fran-martinez--scibert_scivocab_cased_ner_jnlpba");
    let snap = repo.join("snapshots/0123abcd");
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), "0123abcd").unwrap();
    for e in std::fs::read_dir(common::fixture(SCIBERT.0)).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), snap.join(e.file_name())).unwrap();
    }
    let id = "fran-martinez/scibert_scivocab_cased_ner_jnlpba";
    let text = "Imatinib mesylate inhibits the BCR-ABL tyrosine kinase in chronic myeloid leukemia cells.";
    let run = |extra: &[&str]| {
        let args = [&["tag", "--members", id, "--format", "jsonl"][..], extra, &[text]].concat();
        common::maskner(&args, None, &[("HF_HUB_CACHE", &hub)])
    };
    let out = run(&["--aggregation", "average"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("warning"), "the builtin map covers every label: {err}");
    let rec: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ents = rec["entities"].as_array().unwrap();
    let want = &golden(SCIBERT.0).texts[0].entities["average"];
    assert_eq!(ents.len(), want.len());
    assert!(ents.iter().all(|e| e["member"] == id));
    for (e, w) in ents.iter().zip(want) {
        assert_eq!((e["label"].as_str(), e["start"].as_u64()), (Some(w.entity_group.as_str()), Some(w.start as u64)));
    }
    // --labels names the member by its hub id
    let d = hub.join("partial.labels.txt");
    std::fs::write(&d, "protein GENE[PROTEIN]\nO -\n").unwrap();
    let out = run(&["--labels", &format!("{id}={}", d.display())]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no mapping for the model's label(s) DNA"));
    let _ = std::fs::remove_dir_all(&hub);
}
