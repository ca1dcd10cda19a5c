//! The reference scorer against the reference's own results files (../shared/benchmarks):
//! for each dataset, scoring `reference_ner_output.txt` must give `reference_1p_results.json`
//! (strict) and `reference_2p_results.json` byte for byte (keys, key order, number formats,
//! no final newline), and the CLI must print the same bytes. Plus error messages for malformed
//! inputs.

mod common;

use maskner::eval::{self, Config, Options, read_gold, read_pred, reference};
use std::path::PathBuf;

fn bench(dataset: &str) -> PathBuf {
    common::benchmarks_path().join(dataset)
}

fn gold_file(dataset: &str) -> &'static str {
    if dataset == "conllpp" { "conllpp_test.txt" } else { "test.tsv" }
}

/// Scores one dataset; `None` = ok, else a description of the first difference.
fn check(dataset: &str, strict: bool) -> Option<String> {
    let dir = bench(dataset);
    let config = Config::from_path(&dir.join("reference_eval_config.json")).expect("config");
    let gold = read_gold(&dir.join(gold_file(dataset)), &config).expect("gold");
    let pred = read_pred(&dir.join("reference_ner_output.txt")).expect("pred");
    let results = reference::score(&config, &gold, &pred, Options { strict, ignore_others: false }).expect("score");
    let want_file = dir.join(if strict { "reference_1p_results.json" } else { "reference_2p_results.json" });
    let want = std::fs::read_to_string(&want_file).expect("results file");
    diff(&results.to_json(), &want).map(|d| format!("{dataset} {}: {d}", if strict { "1p" } else { "2p" }))
}

/// Line-level comparison of two JSON texts (catches values, key order and `0` vs `0.0`).
fn diff(got: &str, want: &str) -> Option<String> {
    if got == want {
        return None;
    }
    // Sanity: both parse; then name the first differing line.
    let _: serde_json::Value = serde_json::from_str(got).expect("our output is JSON");
    let (g, w): (Vec<&str>, Vec<&str>) = (got.lines().collect(), want.lines().collect());
    for i in 0..g.len().max(w.len()) {
        let (a, b) = (g.get(i).copied().unwrap_or("<end>"), w.get(i).copied().unwrap_or("<end>"));
        if a != b {
            return Some(format!("line {}: got `{}`, want `{}`", i + 1, a.trim(), b.trim()));
        }
    }
    Some(format!("differs only in line endings or a final newline: got {} bytes, want {}", got.len(), want.len()))
}

macro_rules! reproduces {
    ($($name:ident => $dataset:literal),* $(,)?) => {$(
        #[test]
        fn $name() {
            if common::benchmarks_dir().is_none() {
                return;
            }
            let failures: Vec<String> = [true, false].iter().filter_map(|&strict| check($dataset, strict)).collect();
            assert!(failures.is_empty(), "{}", failures.join("\n"));
        }
    )*};
}

reproduces! {
    reproduces_bc5cdr_chem => "BC5CDR-chem",
    reproduces_bc5cdr_disease => "BC5CDR-disease",
    reproduces_jnlpba => "JNLPBA",
    reproduces_ncbi_disease => "NCBI-disease",
    reproduces_linnaeus => "linnaeus",
    reproduces_conllpp => "conllpp",
    reproduces_custom => "custom",
}

/// The "-ignore_others" column of ALGORITHM.md §9.4 (average F1, 1p / 2p).
#[test]
fn ignore_others_matches_published_recomputation() {
    if common::benchmarks_dir().is_none() {
        return;
    }
    let table = [
        ("BC5CDR-chem", 0.93, 0.95),
        ("BC5CDR-disease", 0.97, 0.99),
        ("JNLPBA", 0.88, 0.94),
        ("NCBI-disease", 0.94, 0.96),
        ("conllpp", 0.46, 0.80),
        ("linnaeus", 0.94, 0.97),
        ("custom", 0.88, 0.95),
    ];
    let mut failures = Vec::new();
    for (dataset, want_1p, want_2p) in table {
        let dir = bench(dataset);
        let config = Config::from_path(&dir.join("reference_eval_config.json")).unwrap();
        let gold = read_gold(&dir.join(gold_file(dataset)), &config).unwrap();
        let pred = read_pred(&dir.join("reference_ner_output.txt")).unwrap();
        for (strict, want) in [(true, want_1p), (false, want_2p)] {
            let r = reference::score(&config, &gold, &pred, Options { strict, ignore_others: true }).unwrap();
            let got = r.average_f1_score.as_f64();
            if got != want {
                failures.push(format!("{dataset} strict={strict}: {got} != {want}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn in_memory_sentences_score_like_files() {
    if common::benchmarks_dir().is_none() {
        return;
    }
    let dir = bench("custom");
    let config = Config::from_path(&dir.join("reference_eval_config.json")).unwrap();
    let gold = read_gold(&dir.join("test.tsv"), &config).unwrap();
    let pred = read_pred(&dir.join("reference_ner_output.txt")).unwrap();
    let mem_gold = eval::Sentences::in_memory(eval::Role::Gold, gold.sentences.clone());
    let mem_pred = eval::Sentences::in_memory(eval::Role::Pred, pred.sentences.clone());
    let opts = Options { strict: true, ignore_others: false };
    let a = reference::score(&config, &gold, &pred, opts).unwrap().to_json();
    let b = reference::score(&config, &mem_gold, &mem_pred, opts).unwrap().to_json();
    assert_eq!(a, b);
}

/// `maskner eval ARGS`: exit code, stdout, stderr.
fn eval_cli(args: &[&str]) -> (i32, String, String) {
    let out = common::maskner(&[&["eval"][..], args].concat(), None, &[]);
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The CLI's stdout is the results file, byte for byte, for all fourteen.
#[test]
fn cli_prints_the_reference_json() {
    if common::benchmarks_dir().is_none() {
        return;
    }
    let mut failures = Vec::new();
    for dataset in ["BC5CDR-chem", "BC5CDR-disease", "JNLPBA", "NCBI-disease", "linnaeus", "conllpp", "custom"] {
        let dir = bench(dataset);
        let p = |f: &str| dir.join(f).to_string_lossy().into_owned();
        let (gold, pred, config) = (p(gold_file(dataset)), p("reference_ner_output.txt"), p("reference_eval_config.json"));
        for (flag, file) in [(Some("--strict"), "reference_1p_results.json"), (None, "reference_2p_results.json")] {
            let mut args = vec!["eval", "--gold", &gold, "--pred", &pred, "--config", &config];
            args.extend(flag);
            let out = common::maskner(&args, None, &[]);
            assert_eq!(out.status.code(), Some(0), "{dataset} {file}: {}", String::from_utf8_lossy(&out.stderr));
            if out.stdout != std::fs::read(dir.join(file)).unwrap() {
                failures.push(format!("{dataset} {file}"));
            }
        }
    }
    assert!(failures.is_empty(), "stdout differs from: {}", failures.join(", "));
}

// ---- malformed inputs: one-line errors naming the file and line ----

const CONFIG: &str = r#"{"label_index": 1, "term_index": 0, "other_tag": "O", "misc_tag": "O",
    "fp_type_list": ["DISEASE"], "fp_subtype_list": ["DISEASE"], "fp_type_to_disp_map": {"DISEASE": "DISEASE"},
    "mapping": [{"g_name": "B", "disp_name": "DISEASE", "map": ["DISEASE"]},
                {"g_name": "I", "disp_name": "DISEASE", "map": ["DISEASE"]},
                {"g_name": "O", "disp_name": "OTHER", "map": []}]}"#;

fn run_err(tag: &str, gold: &[u8], pred: &[u8], config: &str) -> String {
    let dir = common::tmp(&format!("evalref-{tag}"));
    let file = |name: String, content: &[u8]| {
        std::fs::write(dir.join(&name), content).unwrap();
        dir.join(name).to_string_lossy().into_owned()
    };
    let g = file(format!("{tag}_gold.tsv"), gold);
    let p = file(format!("{tag}_pred.txt"), pred);
    let c = file(format!("{tag}_config.json"), config.as_bytes());
    let (code, stdout, stderr) = eval_cli(&["--gold", &g, "--pred", &p, "--config", &c]);
    assert_eq!(code, 2, "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.is_empty());
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    stderr
}

#[test]
fn error_gold_missing_column() {
    let e = run_err("gold_cols", b"a O\nb\n", b"a O\nb O\n", CONFIG);
    assert!(e.starts_with("maskner: gold file "), "{e}");
    assert!(e.contains("gold_cols_gold.tsv line 2: expected at least 2 columns"), "{e}");
    assert!(e.contains("found 1"), "{e}");
}

#[test]
fn error_pred_extra_column() {
    let e = run_err("pred_cols", b"a O\n\nb B\n", b"a O\n\nb B_DISEASE x\n", CONFIG);
    assert!(e.contains("prediction file "), "{e}");
    assert!(e.contains("pred_cols_pred.txt line 3: expected 2 columns (term and tag), found 3"), "{e}");
}

#[test]
fn error_invalid_utf8_names_file_and_line() {
    let e = run_err("utf8", b"a O\n\nb\xff B\n", b"a O\n\nb B\n", CONFIG);
    assert!(e.contains("utf8_gold.tsv line 3: invalid UTF-8"), "{e}");
}

#[test]
fn error_bad_config_json() {
    let e = run_err("cfg", b"a O\n", b"a O\n", "{\"label_index\": 1,\n \"term_index\": }");
    assert!(e.contains("cfg_config.json: line 2 column"), "{e}");
    let e = run_err("cfg2", b"a O\n", b"a O\n", r#"{"label_index": 1}"#);
    assert!(e.contains("cfg2_config.json: line 1 column 18: missing field"), "{e}");
}

#[test]
fn error_unknown_gold_label() {
    let e = run_err("label", b"a O\nb B\n\nc X\nd B\n", b"a O\nb B_DISEASE\n\nc O\nd O\n", CONFIG);
    assert!(e.contains("label_gold.tsv line 4: label \"X\""), "{e}");
}

#[test]
fn error_more_predictions_than_gold() {
    let e = run_err("extra", b"a B\n", b"a B_DISEASE\n\nb O\n", CONFIG);
    assert!(e.contains("extra_pred.txt line 3: sentence 2 has no gold sentence"), "{e}");
}

#[test]
fn error_missing_file() {
    let dir = common::tmp("evalref-missing");
    let (c, g) = (dir.join("missing_config.json"), dir.join("missing_gold.tsv"));
    std::fs::write(&c, CONFIG).unwrap();
    std::fs::write(&g, b"a O\n").unwrap();
    let (c, g) = (c.to_str().unwrap(), g.to_str().unwrap());
    let (code, _, stderr) = eval_cli(&["--gold", "/nonexistent/gold.tsv", "--pred", "x", "--config", c]);
    assert_eq!(code, 2);
    assert_eq!(stderr, "maskner: gold file /nonexistent/gold.tsv: No such file or directory (os error 2)\n");
    let (code, _, stderr) = eval_cli(&["--gold", g, "--pred", "/nonexist", "--config", c]);
    assert_eq!(code, 2);
    assert_eq!(stderr, "maskner: prediction file /nonexist: No such file or directory (os error 2)\n");
    let (code, _, stderr) = eval_cli(&["--gold", g, "--pred", "x", "--config", "/nonexistent/c.json"]);
    assert_eq!(code, 2);
    assert_eq!(stderr, "maskner: config file /nonexistent/c.json: No such file or directory (os error 2)\n");
}

// ---- prediction tags: the grammar maskner and the reference write, and the taxonomy ----

#[test]
fn error_pred_tags_outside_the_grammar() {
    let gold = b"Clustering O\nof O\nBRCA1 B\n\n";
    let e = run_err("swapped", gold, b"O Clustering\nO of\nB_DISEASE BRCA1\n\n", CONFIG);
    assert!(e.contains("swapped_pred.txt line 1: invalid tag \"Clustering\": expected O, B_GROUP, I_GROUP, B_SUBTYPE[GROUP]"), "{e}");
    assert!(e.contains("the columns look swapped"), "{e}");
    for (tag, bad) in [("broken", "B_[BROKEN"), ("prefix", "X_DISEASE"), ("dash", "B-DISEASE"), ("three", "B_GENE/B_GENE/B_GENE")] {
        let pred = format!("Clustering O\nof O\nBRCA1 {bad}\n\n");
        let e = run_err(tag, gold, pred.as_bytes(), CONFIG);
        assert!(e.contains(&format!("{tag}_pred.txt line 3: invalid tag {bad:?}")), "{e}");
        assert!(!e.contains("swapped"), "{e}");
    }
}

#[test]
fn error_pred_labels_outside_the_taxonomy() {
    let gold = b"a O\n\nb B\nc I\n";
    let e = run_err("unknown", gold, b"a O\n\nb B_DISEASE\nc I_DISEASE/I_FOO\n", CONFIG);
    assert!(e.contains("unknown_pred.txt line 4: tag \"I_DISEASE/I_FOO\": \"FOO\" is not a label of taxonomy jan2022"), "{e}");
    let e = run_err("wrong_group", gold, b"a O\n\nb B_DRUG[GENE]\nc O\n", CONFIG);
    assert!(e.contains("wrong_group_pred.txt line 3: tag \"B_DRUG[GENE]\": \"DRUG\" is not a subtype of GENE"), "{e}");
    // feb2022's LEGAL group: an error with the default taxonomy, accepted with --taxonomy feb2022
    let pred = b"a B_LEGAL\n\nb B_DISEASE\nc I_DISEASE\n";
    let e = run_err("legal", gold, pred, CONFIG);
    assert!(e.contains("legal_pred.txt line 1: tag \"B_LEGAL\""), "{e}");
    let dir = common::tmp("evalref-legal2");
    let (g, p, c) = (dir.join("legal2_gold.tsv"), dir.join("legal2_pred.txt"), dir.join("legal2_config.json"));
    std::fs::write(&g, gold).unwrap();
    std::fs::write(&p, pred).unwrap();
    std::fs::write(&c, CONFIG).unwrap();
    let (g, p, c) = (g.to_str().unwrap(), p.to_str().unwrap(), c.to_str().unwrap());
    let (code, stdout, stderr) = eval_cli(&["--gold", g, "--pred", p, "--config", c, "--taxonomy", "feb2022"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with('{'));
    let (code, _, stderr) = eval_cli(&["--gold", g, "--pred", p, "--config", c, "--taxonomy", "/nonexistent/tax.txt"]);
    assert_eq!(code, 2);
    assert!(stderr.starts_with("maskner: --taxonomy: "), "{stderr}");
}

/// Every tag in the seven reference outputs is in the grammar and in jan2022 (so the strict
/// checks above cannot reject what the reference wrote).
#[test]
fn reference_outputs_pass_the_tag_checks() {
    if common::benchmarks_dir().is_none() {
        return;
    }
    let tax = maskner::entity_map::Taxonomy::jan2022();
    for dataset in ["BC5CDR-chem", "BC5CDR-disease", "JNLPBA", "NCBI-disease", "linnaeus", "conllpp", "custom"] {
        let pred = read_pred(&bench(dataset).join("reference_ner_output.txt")).expect("grammar");
        eval::tag::check_labels(&pred, &tax).unwrap_or_else(|e| panic!("{dataset}: {e}"));
        assert!(pred.sentences.iter().flatten().any(|t| t.1.contains('/')), "{dataset}: has dual tags");
    }
}
