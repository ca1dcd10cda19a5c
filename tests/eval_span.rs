//! Standard scoring end to end: config mapping of gold labels and first predictions, the
//! reference's alignment, seqeval span semantics and token-level scores, with hand-computed
//! numbers; plus a smoke run of `--scoring all` on every benchmark.

mod common;

use maskner::eval::{self, Config, Role, Sentences, span};
use serde_json::Value;

const CONFIG: &str = r#"{"label_index": 3, "term_index": 0, "other_tag": "O", "misc_tag": "MISC",
    "fp_type_list": ["PERSON", "LOCATION", "ORGANIZATION", "ENT"], "fp_subtype_list": ["PERSON", "LOCATION", "ORGANIZATION", "ENT"],
    "fp_type_to_disp_map": {"PERSON": "PERSON", "LOCATION": "LOCATION", "ORGANIZATION": "ORGANIZATION", "ENT": "ORGANIZATION"},
    "mapping": [{"g_name": "PER", "disp_name": "PERSON", "map": ["PERSON"]},
                {"g_name": "LOC", "disp_name": "LOCATION", "map": ["LOCATION"]},
                {"g_name": "ORG", "disp_name": "ORGANIZATION", "map": ["ORGANIZATION", "ENT"]},
                {"g_name": "MISC", "disp_name": "MISC", "map": []},
                {"g_name": "O", "disp_name": "OTHER", "map": []}]}"#;

const GOLD: &str = "-DOCSTART- -X- -X- O

John NNP B-NP B-PER
Smith NNP I-NP I-PER
visited VBD B-VP O
Paris NNP B-NP B-LOC
. . O O

Acme NNP B-NP B-ORG
Corp NNP I-NP I-ORG

Bob NNP B-NP B-PER
";

// DOCSTART is tagged (skipped by standard scoring); Acme Corp is split in two ORG entities
// (B_ENT maps to ORGANIZATION); the last sentence's query failed (two blank lines).
const PRED: &str = "-DOCSTART- B_STUDY[THERAPEUTIC_OR_PREVENTIVE_PROCEDURE]
. O

John B_PERSON/B_LOCATION
Smith I_PERSON
visited O
Paris B_LOCATION
. O

Acme B_ENT
Corp B_ORGANIZATION


";

fn cli(scoring: &str) -> Value {
    let dir = common::tmp(&format!("eval-span-{scoring}"));
    let (g, p, c) = (dir.join("gold.txt"), dir.join("pred.txt"), dir.join("config.json"));
    for (path, content) in [(&g, GOLD), (&p, PRED), (&c, CONFIG)] {
        std::fs::write(path, content).unwrap();
    }
    let (g, p, c) = (g.to_str().unwrap(), p.to_str().unwrap(), c.to_str().unwrap());
    let out = common::maskner(&["eval", "--gold", g, "--pred", p, "--config", c, "--scoring", scoring], None, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn close(v: &Value, want: f64) {
    let got = v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"));
    assert!((got - want).abs() < 1e-12, "{got} != {want}");
}

#[test]
fn span_scores_hand_computed() {
    let v = cli("span");
    assert_eq!(v["scoring"], "entity-span-strict (seqeval)");
    assert_eq!(v["predictions"], "first");
    let s = &v["sentences"];
    assert_eq!((s["scored"].as_u64(), s["docstart_skipped"].as_u64(), s["empty_predictions"].as_u64()), (Some(3), Some(1), Some(1)));
    // gold: PER John Smith, LOC Paris, ORG Acme Corp, PER Bob  (4)
    // pred: PER John Smith, LOC Paris, ORG Acme, ORG Corp      (4), 2 correct
    let m = &v["micro"];
    assert_eq!((m["true_positives"].as_u64(), m["predicted"].as_u64(), m["support"].as_u64()), (Some(2), Some(4), Some(4)));
    close(&m["precision"], 0.5);
    close(&m["recall"], 0.5);
    close(&m["f1"], 0.5);
    close(&v["per_type"]["PERSON"]["recall"], 0.5);
    close(&v["per_type"]["PERSON"]["f1"], 2.0 / 3.0);
    close(&v["per_type"]["LOCATION"]["f1"], 1.0);
    close(&v["per_type"]["ORGANIZATION"]["f1"], 0.0);
    close(&v["macro"]["f1"], (2.0 / 3.0 + 1.0 + 0.0) / 3.0);
    // weighted by support: PERSON 2, LOCATION 1, ORGANIZATION 1
    close(&v["weighted"]["f1"], (2.0 * 2.0 / 3.0 + 1.0) / 4.0);
    assert!(v.get("accuracy").is_none());
}

#[test]
fn token_scores_hand_computed() {
    let v = cli("token");
    assert_eq!(v["scoring"], "token-level");
    // tokens: John Smith PER/PER, visited O/O, Paris LOC/LOC, . O/O, Acme Corp ORG/ORG, Bob PER/O
    let m = &v["micro"];
    assert_eq!((m["true_positives"].as_u64(), m["predicted"].as_u64(), m["support"].as_u64()), (Some(5), Some(5), Some(6)));
    close(&m["f1"], 10.0 / 11.0);
    close(&v["per_type"]["PERSON"]["recall"], 2.0 / 3.0);
    close(&v["per_type"]["ORGANIZATION"]["f1"], 1.0);
    close(&v["accuracy"], 7.0 / 8.0);
}

#[test]
fn all_labels_every_scoring_and_embeds_the_reference_json() {
    let v = cli("all");
    assert_eq!(v["reference"]["scoring"], "reference-token-level");
    assert_eq!(v["reference"]["predictions"], "either of two");
    assert_eq!(v["span"]["scoring"], "entity-span-strict (seqeval)");
    assert_eq!(v["token"]["scoring"], "token-level");
    assert_eq!(v["reference"]["results"], cli("reference"));
    // Reference scoring counts -DOCSTART- and skips the failed query entirely.
    assert_eq!(v["reference"]["results"]["stats"]["tested_entity_count"], 8);
    assert_eq!(v["reference"]["results"]["stats"]["out_of_sync_sentences"], 1);
}

#[test]
fn in_memory_api_with_bare_b_i_tags() {
    // Untyped gold (BioBERT style) against untyped predictions: one class "_".
    let gold = vec![vec!["B", "I", "O", "B"], vec!["O", "I", "I"]];
    let pred = vec![vec!["B", "I", "O", "O"], vec!["O", "B", "I"]];
    let s = span::span_scores(&gold, &pred).unwrap();
    // gold (0-1) (3) | (1-2); pred (0-1) | (1-2): 2 of 3 found, both predictions right.
    assert_eq!(s.per_type.keys().collect::<Vec<_>>(), ["_"]);
    assert_eq!((s.micro.precision, s.micro.recall), (1.0, 2.0 / 3.0));
    assert_eq!(s.micro.f1, 0.8);
}

#[test]
fn in_memory_sentences_through_the_config() {
    let config = Config::from_json(CONFIG, None).unwrap();
    let tok = |s: &[(&str, &str)]| s.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>();
    let gold = Sentences::in_memory(Role::Gold, vec![tok(&[("New", "B-LOC"), ("York", "I-LOC"), ("is", "O")])]);
    // The second prediction would be right; only the first counts. "York" continues with I_.
    let pred = Sentences::in_memory(Role::Pred, vec![tok(&[("New", "B_PERSON/B_LOCATION"), ("York", "I_PERSON"), ("is", "O")])]);
    let r = eval::standard::score(&config, &gold, &pred).unwrap();
    assert_eq!(r.span.scores.micro.true_positives, 0);
    assert_eq!(r.span.scores.per_type["PERSON"].predicted, 1);
    assert_eq!(r.token.scores.per_type["LOCATION"].support, 2);
    // Errors in memory name the sentence and token.
    let bad = Sentences::in_memory(Role::Gold, vec![tok(&[("x", "B-FOO")])]);
    let one = Sentences::in_memory(Role::Pred, vec![tok(&[("x", "O")])]);
    let e = eval::standard::score(&config, &bad, &one).unwrap_err().to_string();
    assert!(e.starts_with("gold sentence 1 token 1: label \"B-FOO\""), "{e}");
}

#[test]
fn every_benchmark_scores_with_all() {
    let Some(root) = common::benchmarks_dir() else { return };
    for d in ["BC5CDR-chem", "BC5CDR-disease", "JNLPBA", "NCBI-disease", "linnaeus", "conllpp", "custom"] {
        let dir = root.join(d);
        let config = Config::from_path(&dir.join("reference_eval_config.json")).unwrap();
        let gold_name = if d == "conllpp" { "conllpp_test.txt" } else { "test.tsv" };
        let gold = eval::read_gold(&dir.join(gold_name), &config).unwrap();
        let pred = eval::read_pred(&dir.join("reference_ner_output.txt")).unwrap();
        let r = eval::standard::score(&config, &gold, &pred).unwrap();
        for s in [&r.span.scores, &r.token.scores] {
            assert!(s.micro.support > 0, "{d}");
            for x in [s.micro.precision, s.micro.recall, s.micro.f1, s.macro_avg.f1] {
                assert!((0.0..=1.0).contains(&x), "{d}: {x}");
            }
        }
        // Every gold entity token is counted by the token scorer.
        assert!(r.token.scores.micro.support >= r.span.scores.micro.support, "{d}");
    }
}
