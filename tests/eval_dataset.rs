//! `maskner eval --dataset` end to end through the binary, on the benchmark data in
//! ../shared/benchmarks, with the two tiny fixture models as the ensemble (random weights, so
//! the scores mean nothing; what is tested is the path: inputs built from the gold tokens,
//! outputs aligned with them, every scoring present and labelled, errors).

mod common;

use serde_json::Value;
use std::path::PathBuf;
use std::process::Output;

fn bench(dataset: &str) -> PathBuf {
    common::benchmarks_path().join(dataset)
}

/// `maskner eval` with the fixture models as bio and phi and a private map cache.
fn eval(args: &[&str]) -> Output {
    let bio = format!("bio={}", common::fixture_arg("tiny-bert-cased"));
    let phi = format!("phi={}", common::fixture_arg("tiny-bert-uncased"));
    common::maskner(&[&["eval"][..], args, &["--model", &bio, "--model", &phi]].concat(), None, &[])
}

fn json(out: &Output) -> Value {
    assert!(out.status.success(), "exit {:?}: {}", out.status.code(), String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("one JSON object on stdout")
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().expect("object").keys().map(String::as_str).collect()
}

/// A reference scoring: labelled, and its results in the reference's exact shape, covering
/// `n` sentences with none out of sync.
fn check_reference(r: &Value, predictions: &str, n: u64) {
    assert_eq!(r["scoring"], "reference-token-level");
    assert_eq!(r["predictions"], predictions);
    assert_eq!(r["ignore_others"], false);
    let res = &r["results"];
    assert_eq!(keys(res), ["entity_counts", "entities", "stats", "f1_scores", "average_f1_score"], "{r}");
    let stats = &res["stats"];
    assert_eq!(stats["total_sentences"], n, "{stats}");
    assert_eq!(stats["out_of_sync_sentences"], 0, "alignment with the gold tokens: {stats}");
    assert_eq!(stats["processed_sentences"], n);
    assert!(res["average_f1_score"].is_number());
}

/// Span or token scoring: labelled, numbers present, every sentence scored and none out of sync.
fn check_standard(s: &Value, scoring: &str, n: u64) {
    assert_eq!(s["scoring"], scoring);
    assert_eq!(s["predictions"], "first");
    for k in ["precision", "recall", "f1", "true_positives", "predicted", "support"] {
        assert!(s["micro"][k].is_number(), "micro.{k}: {s}");
    }
    assert!(s["per_type"].is_object() && s["macro"].is_object() && s["weighted"].is_object());
    let sent = &s["sentences"];
    assert_eq!(sent["scored"].as_u64().unwrap() + sent["docstart_skipped"].as_u64().unwrap(), n, "{sent}");
    assert_eq!(sent["out_of_sync"], 0);
    assert_eq!(sent["empty_predictions"], 0);
}

/// Everything one mode must report.
fn check_mode(m: &Value, n: u64) {
    assert_eq!(
        keys(m),
        ["phrase_selection", "engine", "reference_1p", "reference_2p", "span", "token"]
            .into_iter()
            .chain(m.get("predictions_file").map(|_| "predictions_file"))
            .collect::<Vec<_>>()
    );
    assert_eq!(m["engine"]["sentences"], n);
    assert_eq!(m["engine"]["failed_sentences"], 0);
    assert!(m["engine"]["phrases"].as_u64().unwrap() > 0);
    assert!(m["engine"]["seconds"].is_number());
    check_reference(&m["reference_1p"], "first", n);
    check_reference(&m["reference_2p"], "either of two", n);
    check_standard(&m["span"], "entity-span-strict (seqeval)", n);
    check_standard(&m["token"], "token-level", n);
    assert!(m["token"]["accuracy"].is_number());
}

fn check_top(v: &Value, dataset: &str, split: &str, n: u64, phrases: &str) {
    assert_eq!(keys(v), ["dataset", "split", "gold_file", "eval_config", "counts", "settings", "modes", "timing"]);
    assert_eq!(v["dataset"], dataset);
    assert_eq!(v["split"], split);
    assert!(v["eval_config"].as_str().unwrap().ends_with("reference_eval_config.json"));
    assert_eq!(v["counts"]["sentences"], n);
    assert!(v["counts"]["sentences_in_file"].as_u64().unwrap() > n);
    assert_eq!(v["settings"]["limit"], n);
    assert_eq!(v["settings"]["phrases"], phrases);
    let members: Vec<&str> = v["settings"]["members"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(members, ["bio", "phi"]);
    assert!(v["timing"]["total_seconds"].is_number());
}

/// The prediction file's blocks: (term, tag) lines, a blank line after each sentence.
fn blocks(text: &str) -> Vec<Vec<(String, String)>> {
    let mut out = vec![Vec::new()];
    for line in text.lines() {
        match line.split_once(' ') {
            Some((t, g)) => out.last_mut().unwrap().push((t.to_string(), g.to_string())),
            None => out.push(Vec::new()),
        }
    }
    out.pop();
    out
}

/// Gold (token, label) per sentence (label = last column), blank line between sentences.
fn gold_sentences(path: &PathBuf, n: usize) -> Vec<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path).unwrap();
    text.split("\n\n")
        .take(n)
        .map(|s| {
            s.lines()
                .map(|l| {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    (f[0].to_string(), f[f.len() - 1].to_string())
                })
                .collect()
        })
        .collect()
}

fn has_entity(sentence: &[(String, String)]) -> bool {
    sentence.iter().any(|t| t.1 != "O")
}

/// Marker-mode sentences (with gold entities) have exactly the gold tokens as terms (plus an
/// appended `.` if `appended` allows it); sentences through the chunker may split a gold token
/// into several terms but spell the same text. Returns how many periods were appended.
fn check_alignment(gold: &[Vec<(String, String)>], preds: &[Vec<(String, String)>], appended: bool) -> usize {
    assert_eq!(gold.len(), preds.len());
    let mut periods = 0;
    for (g, p) in gold.iter().zip(preds) {
        let mut terms: Vec<&str> = p.iter().map(|t| t.0.as_str()).collect();
        if appended && terms.len() > g.len() && terms.last() == Some(&".") && g.last().map(|t| t.0.as_str()) != Some(".") {
            terms.pop();
            periods += 1;
        }
        let words: Vec<&str> = g.iter().map(|t| t.0.as_str()).collect();
        if has_entity(g) {
            assert_eq!(terms.len(), words.len(), "{words:?} vs {terms:?}");
            for (t, w) in terms.iter().zip(&words) {
                // compat prints the model's term casing and `'` for `"`
                assert!(t.eq_ignore_ascii_case(w) || (*w == "\"" && *t == "'"), "{words:?} vs {terms:?}");
            }
        } else {
            assert_eq!(terms.concat().to_lowercase(), words.concat().to_lowercase().replace('"', if appended { "'" } else { "\"" }));
        }
    }
    periods
}

#[test]
fn ncbi_devel_marker_mode_is_aligned_and_scored_every_way() {
    if common::benchmarks_dir().is_none() {
        return;
    }
    let v = json(&eval(&["--dataset", bench("NCBI-disease").to_str().unwrap(), "--split", "devel", "--limit", "20"]));
    check_top(&v, "NCBI-disease", "devel", 20, "markers");
    assert!(v["gold_file"].as_str().unwrap().ends_with("devel.tsv"));
    assert_eq!(v["settings"]["numerics"], "fixed");
    assert_eq!(keys(&v["modes"]), ["markers"]);
    check_mode(&v["modes"]["markers"], 20);
    // marker mode types the gold spans: every gold span is a phrase (plus chunker phrases
    // in the sentences without entities)
    let c = &v["counts"];
    assert!(c["sentences_with_entities"].as_u64().unwrap() > 0 && c["sentences_without_entities"].as_u64().unwrap() > 0);
    assert!(v["modes"]["markers"]["engine"]["phrases"].as_u64() >= c["marked_phrases"].as_u64());
    // BioBERT B/I both map to DISEASE; the reference's classes
    let ec = &v["modes"]["markers"]["reference_1p"]["results"]["entity_counts"];
    assert_eq!(keys(ec), ["DISEASE_count", "OTHER_count"]);
    assert_eq!(ec["DISEASE_count"], c["entity_tokens"]);
}

#[test]
fn ncbi_auto_mode_gives_numbers_without_gold_spans() {
    if common::benchmarks_dir().is_none() {
        return;
    }
    let v = json(&eval(&["--dataset", bench("NCBI-disease").to_str().unwrap(), "--split", "devel", "--limit", "20", "--phrases", "auto"]));
    check_top(&v, "NCBI-disease", "devel", 20, "auto");
    assert_eq!(keys(&v["modes"]), ["auto"]);
    check_mode(&v["modes"]["auto"], 20);
    assert!(v["modes"]["auto"]["phrase_selection"].as_str().unwrap().contains("no gold spans"));
}

#[test]
fn conllpp_dev_both_modes_with_compat_and_prediction_files() {
    if common::benchmarks_dir().is_none() {
        return;
    }
    let d = common::tmp("ed-conllpp");
    let out = d.join("conllpp.txt");
    let v = json(&eval(&[
        "--dataset",
        bench("conllpp").to_str().unwrap(),
        "--split",
        "devel",
        "--limit",
        "20",
        "--phrases",
        "both",
        "--compat",
        "--pred-out",
        out.to_str().unwrap(),
    ]));
    check_top(&v, "conllpp", "devel", 20, "both");
    assert!(v["gold_file"].as_str().unwrap().ends_with("conllpp_dev.txt"), "devel -> dev");
    assert_eq!(v["settings"]["numerics"], "compat");
    assert_eq!(keys(&v["modes"]), ["markers", "auto"]);
    assert!(v["counts"]["docstart_sentences"].as_u64().unwrap() > 0);
    for mode in ["markers", "auto"] {
        check_mode(&v["modes"][mode], 20);
        // CoNLL classes, the other class last
        let classes = keys(&v["modes"][mode]["reference_2p"]["results"]["entity_counts"]);
        assert_eq!(classes, ["PERSON_count", "LOCATION_count", "ORGANIZATION_count", "MISC_count", "OTHER_count"]);
    }
    // the prediction files: one block per gold sentence, aligned with the gold tokens, with
    // the period compat appends to sentences that do not end in punctuation
    let gold = gold_sentences(&bench("conllpp").join("conllpp_dev.txt"), 20);
    let markers_file = d.join("conllpp.markers.txt");
    assert_eq!(v["modes"]["markers"]["predictions_file"], markers_file.display().to_string());
    let preds = blocks(&std::fs::read_to_string(&markers_file).unwrap());
    let appended = check_alignment(&gold, &preds, true);
    assert!(appended > 0, "some conllpp sentences (e.g. names, -DOCSTART-) get the appended period");
    assert_eq!(blocks(&std::fs::read_to_string(d.join("conllpp.auto.txt")).unwrap()).len(), 20);
}

#[test]
fn default_numerics_print_no_appended_period() {
    if common::benchmarks_dir().is_none() {
        return;
    }
    let out = common::tmp("ed-conllpp-default").join("conllpp-default.txt");
    let v = json(&eval(&[
        "--dataset",
        bench("conllpp").to_str().unwrap(),
        "--split",
        "test",
        "--limit",
        "20",
        "--pred-out",
        out.to_str().unwrap(),
    ]));
    check_mode(&v["modes"]["markers"], 20);
    let gold = gold_sentences(&bench("conllpp").join("conllpp_test.txt"), 20);
    let preds = blocks(&std::fs::read_to_string(&out).unwrap());
    assert_eq!(check_alignment(&gold, &preds, false), 0);
    // the words as given, not the models' casing
    let marked: Vec<_> = gold.iter().zip(&preds).filter(|(g, _)| has_entity(g)).collect();
    assert!(!marked.is_empty());
    for (g, p) in marked {
        assert_eq!(g.iter().map(|t| &t.0).collect::<Vec<_>>(), p.iter().map(|t| &t.0).collect::<Vec<_>>());
    }
}

#[test]
fn custom_test_split() {
    if common::benchmarks_dir().is_none() {
        return;
    }
    let v = json(&eval(&["--dataset", bench("custom").to_str().unwrap(), "--split", "test", "--limit", "20"]));
    check_top(&v, "custom", "test", 20, "markers");
    let m = &v["modes"]["markers"];
    check_reference(&m["reference_2p"], "either of two", 20);
    check_standard(&m["span"], "entity-span-strict (seqeval)", 20);
    check_standard(&m["token"], "token-level", 20);
    // custom's strict rule counts a group outside fp_type_list under misc_tag "MISC", which
    // is not one of its classes: the reference's scorer stops there, and so does ours, for
    // that scoring alone (random fixture weights may predict such a group)
    let r1 = &m["reference_1p"];
    if r1.get("results").is_some() {
        check_reference(r1, "first", 20);
    } else {
        assert_eq!(r1["scoring"], "reference-token-level");
        assert!(r1["error"].as_str().unwrap().contains("\"MISC\", which is not a disp_name"), "{r1}");
    }
}

#[test]
fn custom_with_an_eval_config_override() {
    if common::benchmarks_dir().is_none() {
        return;
    }
    // custom's config plus a MISC class, so strict scoring always has a column for misc_tag
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(bench("custom").join("reference_eval_config.json")).unwrap()).unwrap();
    config["mapping"].as_array_mut().unwrap().push(serde_json::json!({"g_name": "MISC", "disp_name": "MISC", "map": []}));
    let path = common::tmp("ed-custom-config").join("custom_eval_config.json");
    std::fs::write(&path, config.to_string()).unwrap();
    let v = json(&eval(&[
        "--dataset",
        bench("custom").to_str().unwrap(),
        "--split",
        "test",
        "--limit",
        "20",
        "--eval-config",
        path.to_str().unwrap(),
    ]));
    assert_eq!(v["eval_config"], path.display().to_string());
    check_mode(&v["modes"]["markers"], 20);
}

#[test]
fn scores_equal_rescoring_the_prediction_file() {
    if common::benchmarks_dir().is_none() {
        return;
    }
    // the whole custom set, so the gold file and the predictions cover the same sentences
    let out = common::tmp("ed-custom-all").join("custom-all.txt");
    let v = json(&eval(&["--dataset", bench("custom").to_str().unwrap(), "--split", "test", "--pred-out", out.to_str().unwrap()]));
    let m = &v["modes"]["markers"];
    let dir = bench("custom");
    let (gold, config) = (dir.join("test.tsv"), dir.join("reference_eval_config.json"));
    let file = common::maskner(
        &[
            "eval",
            "--scoring",
            "all",
            "--gold",
            gold.to_str().unwrap(),
            "--pred",
            out.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
        ],
        None,
        &[],
    );
    let f = json(&file);
    assert_eq!(m["reference_2p"], f["reference"]);
    assert_eq!(m["span"], f["span"]);
    assert_eq!(m["token"], f["token"]);
}

/// The chunker reads BioBERT-style gold tokens as docs/chunker.md measured them, with
/// `detached_punctuation`: `Wiskott - Aldrich syndrome` is one phrase, in automatic mode and
/// in marker mode's sentences without gold entities.
#[test]
fn detached_hyphen_stays_inside_the_phrase() {
    if common::benchmarks_dir().is_none() {
        return;
    }
    let dir = common::tmp("ed-hyphen").join("hyphen-dataset");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(bench("NCBI-disease").join("reference_eval_config.json"), dir.join("reference_eval_config.json")).unwrap();
    let sentence = |words: &[&str], labels: &[&str]| -> String { words.iter().zip(labels).map(|(w, l)| format!("{w}\t{l}\n")).collect() };
    let unmarked = ["Patients", "with", "Wiskott", "-", "Aldrich", "syndrome", "were", "studied", "."];
    let marked = ["The", "ATM", "gene", "causes", "ataxia", "-", "telangiectasia", "."];
    let gold = [sentence(&unmarked, &["O"; 9]), sentence(&marked, &["O", "O", "O", "O", "B", "I", "I", "O"])].join("\n");
    std::fs::write(dir.join("devel.tsv"), gold).unwrap();
    let out = dir.join("preds.txt");
    let v =
        json(&eval(&["--dataset", dir.to_str().unwrap(), "--split", "devel", "--phrases", "both", "--pred-out", out.to_str().unwrap()]));
    assert!(v["settings"]["chunker_words"].as_str().unwrap().contains("detached punctuation"), "{}", v["settings"]);
    for mode in ["markers", "auto"] {
        let preds = blocks(&std::fs::read_to_string(dir.join(format!("preds.{mode}.txt"))).unwrap());
        assert_eq!(preds.len(), 2, "{mode}");
        let terms: Vec<&str> = preds[0].iter().map(|t| t.0.as_str()).collect();
        assert_eq!(terms, unmarked, "{mode}");
        // the first prediction's prefix: B_ on Wiskott, I_ on `-`, Aldrich and syndrome
        let prefixes: Vec<&str> = preds[0][2..6].iter().map(|t| &t.1[..2]).collect();
        assert_eq!(prefixes, ["B_", "I_", "I_", "I_"], "{mode}: {:?}", preds[0]);
        assert!(!preds[0][6].1.starts_with("I_"), "{mode}: the phrase ends at syndrome: {:?}", preds[0]);
    }
}

#[test]
fn malformed_gold_is_reported_with_file_and_line_before_models_load() {
    if common::benchmarks_dir().is_none() {
        return;
    }
    let dir = common::tmp("ed-bad").join("bad-dataset");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(bench("NCBI-disease").join("reference_eval_config.json"), dir.join("reference_eval_config.json")).unwrap();
    std::fs::write(dir.join("devel.tsv"), "a\tO\nb\tB\n\nc\n").unwrap();
    let bad_model =
        common::maskner(&["eval", "--dataset", dir.to_str().unwrap(), "--split", "devel", "--model", "bio=/nonexistent/model"], None, &[]);
    assert_eq!(bad_model.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad_model.stderr);
    assert!(err.contains("devel.tsv line 4: expected at least 2 columns"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");

    std::fs::write(dir.join("devel.tsv"), "a\tO\nb\tB-X\n\n").unwrap();
    let err = String::from_utf8_lossy(&eval(&["--dataset", dir.to_str().unwrap(), "--split", "devel"]).stderr).into_owned();
    assert!(err.contains("devel.tsv line 2: label \"B-X\""), "{err}");

    let err = String::from_utf8_lossy(&eval(&["--dataset", dir.to_str().unwrap(), "--split", "test"]).stderr).into_owned();
    assert!(err.contains("no test split") && err.contains("available: devel"), "{err}");
}

#[test]
fn usage_errors() {
    if common::benchmarks_dir().is_none() {
        return;
    }
    let custom = bench("custom");
    let c = custom.to_str().unwrap();
    let out = eval(&["--dataset", c, "--split", "test", "--config", "engine.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--engine-config"));
    let out = eval(&["--dataset", c]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--split"));
    let out = eval(&["--dataset", c, "--split", "test", "--strict"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_sentence_the_engine_fails_on_is_scored_as_all_o_and_counted() {
    if common::benchmarks_dir().is_none() {
        return;
    }
    let dir = common::tmp("ed-fail").join("one-long-phrase");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(bench("NCBI-disease").join("reference_eval_config.json"), dir.join("reference_eval_config.json")).unwrap();
    // the middle sentence's marked phrase is longer than the fixtures' 64 word pieces
    let long: String = (0..70).map(|i| format!("w{i}\t{}\n", if i == 0 { "B" } else { "I" })).collect();
    std::fs::write(dir.join("devel.tsv"), format!("Aspirin\tB\nhelps\tO\n\n{long}\nFever\tB\nrecedes\tO\n\n")).unwrap();
    let pred = dir.join("pred.txt");
    let v = json(&eval(&["--dataset", dir.to_str().unwrap(), "--split", "devel", "--pred-out", pred.to_str().unwrap()]));
    let engine = &v["modes"]["markers"]["engine"];
    assert_eq!(engine["sentences"], 3, "{engine}");
    assert_eq!(engine["failed_sentences"], 1, "{engine}");
    let blocks = blocks(&std::fs::read_to_string(&pred).unwrap());
    assert_eq!(blocks.len(), 3, "one block per gold sentence");
    assert_eq!(blocks[1].len(), 70);
    assert!(blocks[1].iter().enumerate().all(|(i, (w, t))| *w == format!("w{i}") && t == "O"), "{:?}", &blocks[1][..3]);
    assert!(blocks[0][0].1.starts_with("B_") && blocks[2][0].1.starts_with("B_"), "the other sentences are tagged: {blocks:?}");
}
