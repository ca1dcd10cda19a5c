//! Token-classification members against transformers (goldens written by
//! tools/make_member_fixtures.py): windows, logits and argmax labels of every token, and the
//! pipeline's entity lists for each aggregation strategy (long texts with `stride`); the
//! DeBERTa tokenizer rebuilt from spm.model alone; label maps and group distributions; errors.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use maskner::entity_map::Taxonomy;
use maskner::token_classify::{Aggregation, EntitySpan, Family, LabelMap, LoadOptions, Target, TokenClassifier, argmax, softmax};
use serde::Deserialize;

const SCIBERT: &str = "fran-martinez/scibert_scivocab_cased_ner_jnlpba";
const BIOMED: &str = "venkatd/BIOMed_NER";

#[derive(Deserialize)]
struct Golden {
    max_length: usize,
    texts: Vec<GoldenText>,
}

#[derive(Deserialize)]
struct GoldenText {
    text: String,
    stride: Option<usize>,
    windows: Vec<GoldenWindow>,
    entities: BTreeMap<String, Vec<EntitySpan>>,
}

#[derive(Deserialize)]
struct GoldenWindow {
    input_ids: Vec<u32>,
    offsets: Vec<(usize, usize)>,
    special_tokens_mask: Vec<u8>,
    logits: Vec<Vec<f32>>,
}

fn load(name: &str, fixture: &str) -> TokenClassifier {
    TokenClassifier::load(name, &common::fixture(fixture)).unwrap_or_else(|e| panic!("loading {fixture}: {e:#}"))
}

fn golden(fixture: &str) -> Golden {
    let p = common::root().join("data/goldens").join(format!("{fixture}.json"));
    serde_json::from_str(&std::fs::read_to_string(&p).expect("golden file")).expect("golden json")
}

/// Windows, logits within 1e-4, identical argmax labels. Returns the number of tokens checked.
fn check_windows_and_logits(tc: &mut TokenClassifier, g: &Golden, what: &str) -> usize {
    let mut tokens = 0;
    for t in &g.texts {
        if let Some(s) = t.stride {
            tc.set_stride(s).unwrap();
        }
        let windows = tc.windows(&t.text).unwrap();
        assert_eq!(windows.len(), t.windows.len(), "{what}: window count for {:?}", t.text);
        let logits = tc.logits(&windows).unwrap();
        for (k, (w, gw)) in windows.iter().zip(&t.windows).enumerate() {
            assert_eq!(w.ids, gw.input_ids, "{what}: ids of window {k} of {:?}", t.text);
            assert_eq!(w.offsets, gw.offsets, "{what}: offsets of window {k} of {:?}", t.text);
            let special: Vec<bool> = gw.special_tokens_mask.iter().map(|&m| m != 0).collect();
            assert_eq!(w.special, special, "{what}: special tokens of window {k} of {:?}", t.text);
            assert_eq!(logits[k].len(), gw.logits.len());
            for (i, (row, grow)) in logits[k].iter().zip(&gw.logits).enumerate() {
                assert_eq!(argmax(row), argmax(grow), "{what}: label of token {i} of window {k} of {:?}", t.text);
                let diff = row.iter().zip(grow).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
                assert!(diff < 1e-4, "{what}: logits differ by {diff} at token {i} of window {k} of {:?}", t.text);
                tokens += 1;
            }
        }
    }
    tokens
}

fn check_entities(tc: &mut TokenClassifier, g: &Golden, what: &str) {
    let default_stride = tc.stride();
    for t in &g.texts {
        tc.set_stride(t.stride.unwrap_or(default_stride)).unwrap();
        for strategy in Aggregation::ALL {
            let want = &t.entities[strategy.as_str()];
            let got = tc.classify(&t.text, strategy).unwrap();
            let show = |v: &[EntitySpan]| -> Vec<String> {
                v.iter().map(|e| format!("{}:{:?}@{}-{}", e.entity_group, e.word, e.start, e.end)).collect()
            };
            assert_eq!(show(&got), show(want), "{what}: {strategy} entities of {:?}", t.text);
            for (a, b) in got.iter().zip(want) {
                assert!((a.score - b.score).abs() < 1e-4, "{what}: {strategy} score {} vs {} for {:?}", a.score, b.score, a.word);
            }
        }
    }
}

#[test]
fn scibert_ner_matches_transformers() {
    let mut tc = load(SCIBERT, "tiny-scibert-ner-jnlpba");
    assert_eq!(tc.family(), Family::Bert);
    let g = golden("tiny-scibert-ner-jnlpba");
    assert_eq!(tc.max_len(), g.max_length);
    assert_eq!(tc.labels().len(), 11);
    assert!(tc.warnings().is_empty(), "{:?}", tc.warnings());
    let n = check_windows_and_logits(&mut tc, &g, "scibert");
    assert!(n > 300, "{n} tokens checked");
    check_entities(&mut tc, &g, "scibert");
}

#[test]
fn deberta_v3_ner_matches_transformers() {
    let mut tc = load(BIOMED, "tiny-deberta-v3-ner");
    assert_eq!(tc.family(), Family::DebertaV2);
    let g = golden("tiny-deberta-v3-ner");
    assert_eq!(tc.max_len(), g.max_length);
    assert_eq!(tc.labels().len(), 83);
    assert!(tc.warnings().is_empty(), "{:?}", tc.warnings());
    let n = check_windows_and_logits(&mut tc, &g, "deberta-v3");
    assert!(n > 300, "{n} tokens checked");
    check_entities(&mut tc, &g, "deberta-v3");
}

#[test]
fn long_texts_use_several_windows() {
    for (name, fixture) in [(SCIBERT, "tiny-scibert-ner-jnlpba"), (BIOMED, "tiny-deberta-v3-ner")] {
        let g = golden(fixture);
        let long: Vec<&GoldenText> = g.texts.iter().filter(|t| t.stride.is_some()).collect();
        assert_eq!(long.len(), 2);
        assert!(long.iter().all(|t| t.windows.len() >= 2));
        assert!(long.iter().any(|t| t.windows.len() >= 3));
        // every text token gets exactly one probability row, in order
        let mut tc = load(name, fixture);
        for t in long {
            tc.set_stride(t.stride.unwrap()).unwrap();
            let windows = tc.windows(&t.text).unwrap();
            let all = tc.tokenizer().encode(t.text.as_str(), false).unwrap().get_ids().len();
            assert_eq!(windows.last().unwrap().range.1, all);
            let scored = tc.token_scores(&t.text).unwrap();
            assert_eq!(scored.len(), all);
            assert!(scored.windows(2).all(|p| p[0].start <= p[1].start));
        }
    }
}

#[test]
fn deberta_tokenizer_from_spm_model_alone_matches() {
    let d = common::tmp("tc-spm-only");
    common::copy_dir(&common::fixture("tiny-deberta-v3-ner"), &d, &["tokenizer.json"]);
    let mut tc = TokenClassifier::load(BIOMED, &d).unwrap();
    let g = golden("tiny-deberta-v3-ner");
    check_windows_and_logits(&mut tc, &g, "deberta-v3 from spm.model");
    check_entities(&mut tc, &g, "deberta-v3 from spm.model");

    // neither tokenizer.json nor spm.model: the error says what to do
    std::fs::remove_file(d.join("spm.model")).unwrap();
    let e = TokenClassifier::load(BIOMED, &d).err().expect("no tokenizer").to_string();
    assert!(e.contains("tokenizer.json is required") && e.contains("save_pretrained"), "{e}");
    assert!(!e.contains('\n'));
    let _ = std::fs::remove_dir_all(&d);
}

#[derive(Deserialize)]
struct V2Golden {
    texts: Vec<V2Text>,
}

#[derive(Deserialize)]
struct V2Text {
    text: String,
    input_ids: Vec<u32>,
    logits: Vec<Vec<f32>>,
}

#[test]
fn deberta_v2_options_match_transformers() {
    // separate position projections, absolute positions, token types, no buckets, "p2c|c2p"
    let tc = TokenClassifier::load("tiny-deberta-v2-style-ner", &common::fixture("tiny-deberta-v2-style-ner")).unwrap();
    assert!(!tc.warnings().is_empty(), "no builtin label map: every label is reported unmapped");
    assert_eq!(tc.label_map().unmapped.len(), 7);
    let p = common::root().join("data/goldens/tiny-deberta-v2-style-ner.json");
    let g: V2Golden = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    for t in &g.texts {
        let w = tc.windows(&t.text).unwrap();
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].ids, t.input_ids);
        let l = tc.logits(&w).unwrap();
        for (row, grow) in l[0].iter().zip(&t.logits) {
            assert_eq!(argmax(row), argmax(grow));
            let diff = row.iter().zip(grow).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(diff < 1e-4, "v2-style logits differ by {diff} for {:?}", t.text);
        }
    }
}

#[derive(Deserialize)]
struct Buckets {
    bucket_size: i64,
    max_position: i64,
    from: i64,
    buckets: Vec<i64>,
}

#[test]
fn log_bucket_positions_match_torch() {
    let p = common::root().join("data/goldens/deberta-buckets.json");
    let all: Vec<Buckets> = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    assert_eq!(all[0].bucket_size, 256, "DeBERTa-v3-base settings");
    for b in all {
        for (i, &want) in b.buckets.iter().enumerate() {
            let rel = b.from + i as i64;
            let got = maskner::token_classify::deberta::log_bucket_position(rel, b.bucket_size, b.max_position);
            assert_eq!(got, want, "bucket of {rel} ({}, {})", b.bucket_size, b.max_position);
        }
    }
}

#[test]
fn entity_span_serialises_like_the_pipeline() {
    let e = EntitySpan { entity_group: "protein".into(), score: 0.5, word: "IL-2".into(), start: 0, end: 4 };
    assert_eq!(serde_json::to_string(&e).unwrap(), r#"{"entity_group":"protein","score":0.5,"word":"IL-2","start":0,"end":4}"#);
}

#[test]
fn builtin_label_maps_cover_the_members() {
    let tc = load(SCIBERT, "tiny-scibert-ner-jnlpba");
    let map = tc.label_map();
    assert!(map.unmapped.is_empty() && map.unused.is_empty());
    assert_eq!(map.target("protein"), Some(&Target::Tag(maskner::aggregate::EntityTag::parse_packed("GENE[PROTEIN]").unwrap())));
    assert_eq!(map.target("O"), Some(&Target::Outside));
    let tag = |g: &str| match map.target(g) {
        Some(Target::Tag(t)) => t.to_string(),
        other => format!("{other:?}"),
    };
    assert_eq!(tag("DNA"), "GENE[NUCLEOTIDE_SEQUENCE]");
    assert_eq!(tag("cell_type"), "BODY_PART_OR_ORGAN_COMPONENT[CELL]");

    let tc = load(BIOMED, "tiny-deberta-v3-ner");
    let map = tc.label_map();
    assert!(map.unmapped.is_empty() && map.unused.is_empty(), "{:?} {:?}", map.unmapped, map.unused);
    let tag = |g: &str| match map.target(g) {
        Some(Target::Tag(t)) => t.to_string(),
        other => format!("{other:?}"),
    };
    assert_eq!(tag("Disease_disorder"), "DISEASE");
    assert_eq!(tag("Medication"), "THERAPEUTIC_OR_PREVENTIVE_PROCEDURE[DRUG]");
    assert_eq!(tag("Sex"), "PERSON[PERSON_ADJECTIVE]", "a subtype alone takes its group from the taxonomy");
    // the hub id is matched case-insensitively (the hub spells it venkatd/BioMed_NER too)
    assert!(maskner::token_classify::labels::builtin("venkatd/BioMed_NER").is_some());
    assert!(maskner::token_classify::labels::builtin("venkatd--BIOMed_NER").is_some());
}

#[test]
fn group_distribution_folds_label_probabilities() {
    let tc = load(SCIBERT, "tiny-scibert-ner-jnlpba");
    let g = golden("tiny-scibert-ner-jnlpba");
    let t = &g.texts[0]; // "Imatinib mesylate inhibits ..."
    // span "inhibits" = [18, 26): its tokens in the golden window
    let w = &t.windows[0];
    let rows: Vec<Vec<f32>> = w
        .offsets
        .iter()
        .zip(&w.logits)
        .zip(&w.special_tokens_mask)
        .filter(|((o, _), m)| **m == 0 && o.0 < 26 && o.1 > 18)
        .map(|((_, l), _)| softmax(l))
        .collect();
    assert!(rows.len() > 1, "a word of several pieces");
    let labels = tc.labels();
    let mut gene = 0.0f32;
    let mut outside = 0.0f32;
    for r in &rows {
        for (p, l) in r.iter().zip(labels) {
            if l.ends_with("protein") || l.ends_with("DNA") || l.ends_with("RNA") {
                gene += p / rows.len() as f32;
            } else if l == "O" {
                outside += p / rows.len() as f32;
            }
        }
    }
    let d = tc.group_distribution(&t.text, 18, 26).unwrap().expect("tokens");
    assert_eq!(d.tokens, rows.len());
    assert!((d.prob("GENE") - gene).abs() < 1e-5, "{} vs {gene}", d.prob("GENE"));
    assert!((d.outside - outside).abs() < 1e-5);
    assert_eq!(d.unmapped, 0.0);
    let total: f32 = d.groups.iter().map(|g| g.prob).sum::<f32>() + d.outside + d.unmapped;
    assert!((total - 1.0).abs() < 1e-5);
    assert!(d.groups.windows(2).all(|p| p[0].prob >= p[1].prob));
    let json = serde_json::to_value(&d).unwrap();
    assert!(json["groups"][0]["group"].is_string() && json["tags"][0]["tag"].is_string());
    assert!(tc.group_distribution(&t.text, 10, 5).is_err());
    assert!(tc.group_distribution(&t.text, 0, 10_000).is_err());
    assert!(tc.group_distribution(&t.text, 17, 18).unwrap().is_none(), "a space has no token");
}

#[test]
fn label_map_files_are_checked() {
    let d = common::tmp("tc-maps");
    let dir = common::fixture("tiny-scibert-ner-jnlpba");
    let opts = |file: &Path| LoadOptions { labels: Some(file.to_path_buf()), taxonomy: Taxonomy::jan2022() };

    // missing labels are reported, never dropped silently
    let f = d.join("partial.labels.txt");
    std::fs::write(&f, "# partial\nprotein GENE[PROTEIN]\nO -\nfoo DISEASE\n").unwrap();
    let tc = TokenClassifier::load_with(SCIBERT, &dir, &opts(&f)).unwrap();
    assert_eq!(tc.label_map().unmapped, ["DNA", "RNA", "cell_line", "cell_type"]);
    assert_eq!(tc.label_map().unused, ["foo"]);
    assert!(tc.warnings().iter().any(|w| w.contains("no mapping for the model's label(s) DNA, RNA, cell_line, cell_type")));
    let text = "IL-2 receptor alpha expression was detected in Jurkat T cells and HeLa cells.";
    let dist = tc.group_distribution(text, 0, 4).unwrap().unwrap();
    assert!(dist.unmapped > 0.0);
    let total: f32 = dist.groups.iter().map(|g| g.prob).sum::<f32>() + dist.outside + dist.unmapped;
    assert!((total - 1.0).abs() < 1e-5);

    // unknown taxonomy labels and misplaced subtypes are errors naming file and line
    for (body, want) in [
        ("protein GENE[PROTEIN]\nDNA GENE[NUCLEOTIDE]\n", "line 2: unknown entity label \"NUCLEOTIDE\""),
        ("protein GENES\n", "line 1: unknown entity label \"GENES\""),
        ("protein DISEASE[PROTEIN]\n", "line 1: subtype PROTEIN belongs to group GENE, not DISEASE"),
        ("protein DRUG[PROTEIN]\n", "line 1: \"DRUG\" is not an entity group"),
        ("protein GENE PROTEIN\n", "line 1: expected `LABEL TARGET`"),
        ("protein GENE\nprotein DISEASE\n", "line 2: label \"protein\" is mapped twice"),
    ] {
        std::fs::write(&f, body).unwrap();
        let e = TokenClassifier::load_with(SCIBERT, &dir, &opts(&f)).err().expect("bad map").to_string();
        assert!(e.contains(&f.display().to_string()) && e.contains(want), "{e}");
        assert!(!e.contains('\n'));
    }
    // the same maps parse against another taxonomy (feb2022 has SOFTWARE)
    let labels: Vec<String> = vec!["O".into(), "B-tool".into()];
    assert!(LabelMap::parse("t", "tool SOFTWARE\n", &labels, &Taxonomy::feb2022()).is_ok());
    assert!(LabelMap::parse("t", "tool SOFTWARE\n", &labels, &Taxonomy::jan2022()).is_err());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn bad_inputs_give_one_line_errors() {
    let mut tc = load(SCIBERT, "tiny-scibert-ner-jnlpba");
    let e = tc.set_stride(62).unwrap_err().to_string();
    assert!(e.contains("stride 62 must be less than the 62 text tokens"), "{e}");
    assert!(tc.set_stride(61).is_ok());

    // a masked LM is not a token classifier
    let e = TokenClassifier::load("x", &common::fixture("tiny-bert-uncased")).err().unwrap().to_string();
    assert!(e.contains("BertForMaskedLM, not a token classifier"), "{e}");
    let d = common::tmp("tc-no-id2label");
    common::copy_dir(&common::fixture("tiny-scibert-ner-jnlpba"), &d, &[]);
    let mut cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(d.join("config.json")).unwrap()).unwrap();
    cfg.as_object_mut().unwrap().remove("id2label");
    std::fs::write(d.join("config.json"), cfg.to_string()).unwrap();
    let e = TokenClassifier::load("x", &d).err().unwrap().to_string();
    assert!(e.contains("config.json: no id2label"), "{e}");
    cfg["model_type"] = "roberta".into();
    cfg["architectures"] = serde_json::json!(["RobertaForTokenClassification"]);
    std::fs::write(d.join("config.json"), cfg.to_string()).unwrap();
    let e = TokenClassifier::load("x", &d).err().unwrap().to_string();
    assert!(e.contains("config.json") && e.contains("not supported for token classification"), "{e}");
    let _ = std::fs::remove_dir_all(&d);
    let e = TokenClassifier::load("x", &common::fixture("does-not-exist")).err().unwrap().to_string();
    assert!(e.contains("config.json") && e.contains("cannot read"), "{e}");

    // weights without the classifier
    let d = common::tmp("tc-no-classifier");
    common::copy_dir(&common::fixture("tiny-scibert-ner-jnlpba"), &d, &["pytorch_model.bin"]);
    std::fs::copy(common::fixture("tiny-bert-cased").join("pytorch_model.bin"), d.join("pytorch_model.bin")).unwrap();
    let e = TokenClassifier::load(SCIBERT, &d).err().unwrap().to_string();
    assert!(e.contains("pytorch_model.bin: no classifier.weight") && !e.contains('\n'), "{e}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn empty_and_blank_texts_have_no_entities() {
    for (name, fixture) in [(SCIBERT, "tiny-scibert-ner-jnlpba"), (BIOMED, "tiny-deberta-v3-ner")] {
        let tc = load(name, fixture);
        for text in ["", "   ", "\n\t"] {
            for strategy in Aggregation::ALL {
                assert!(tc.classify(text, strategy).unwrap().is_empty(), "{fixture}: {text:?} {strategy}");
            }
            assert!(tc.group_distribution(text, 0, 0).unwrap().is_none());
        }
    }
}

#[test]
fn classifiers_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<TokenClassifier>();
}
