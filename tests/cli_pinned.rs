//! Full outputs of the command line on the fixture models, pinned byte for byte.
//!
//! The files under `tests/pinned/` were produced before the engine API refactor; a change that
//! alters an output on purpose (new explanation fields, new seeds, new kernels) regenerates
//! them with `MASKNER_UPDATE_PINS=1 cargo test --test cli_pinned` and says why in its commit.

mod common;

/// A fixture by its path relative to the repository (the binary runs there), so that member
/// names, which are paths as written, are the same in every clone.
fn fixture(name: &str) -> String {
    format!("data/fixtures/{name}")
}

const SENTENCES: &str = "Imatinib:__entity__ mesylate:__entity__ is used to treat CML:__entity__\n\
Lou Gehrig worked in New York and died of ALS.\n\
\n\
Crème brûlée in Zürich: the café's \"best\" dessert; IL-2 is expressed in T cells\n";

const JSONL: &str = "{\"id\":\"a\",\"text\":\"Aspirin reduces fever in adults.\",\"spans\":[[0,7],[16,21]]}\n\
{\"id\":\"b\",\"text\":\"BRCA1 mutations cause breast cancer\"}\n\
{\"id\":\"c\",\"text\":\"bad spans\",\"spans\":[[5,2]]}\n";

/// `maskner tag` with the two tiny masked-LM fixtures as `bio` and `phi`.
fn tag_args(extra: &[&str]) -> Vec<String> {
    let mut v = vec![
        "tag".to_string(),
        "--model".into(),
        format!("bio={}", fixture("tiny-bert-cased")),
        "--model".into(),
        format!("phi={}", fixture("tiny-bert-uncased")),
    ];
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

/// Compares stdout and the exit code of `args` with `tests/pinned/NAME` (or writes it when
/// `MASKNER_UPDATE_PINS=1`).
fn pinned(name: &str, args: &[String], stdin: &str) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = common::maskner(&args, Some(stdin.as_bytes()), &[]);
    let got = format!("exit {}\n{}", out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout));
    let path = common::root().join("tests/pinned").join(name);
    if std::env::var("MASKNER_UPDATE_PINS").as_deref() == Ok("1") {
        std::fs::write(&path, &got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        got == want,
        "{name}: output differs from {}\n--- got ---\n{got}\n--- stderr ---\n{}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn tag_jsonl() {
    pinned("tag_jsonl.out", &tag_args(&["--input", "-"]), SENTENCES);
}

#[test]
fn tag_conll_compat() {
    pinned("tag_conll_compat.out", &tag_args(&["--input", "-", "--format", "conll", "--compat"]), SENTENCES);
}

#[test]
fn tag_hf_spans_and_error_records() {
    pinned("tag_hf_spans.out", &tag_args(&["--input", "-", "--format", "hf"]), JSONL);
}

#[test]
fn tag_json_spans_and_error_records() {
    pinned("tag_json_spans.out", &tag_args(&["--input", "-", "--format", "json", "--explain"]), JSONL);
}

#[test]
fn tag_classifier_alone_and_in_an_ensemble() {
    let tc = fixture("tiny-scibert-ner-jnlpba");
    let alone = ["tag", "--members", &tc, "--format", "jsonl", "--input", "-"].map(String::from);
    pinned("tag_classifier_alone.out", &alone, SENTENCES);
    let bio = fixture("tiny-bert-cased");
    let members = format!("bio,{tc}");
    let duo = ["tag", "--model", &format!("bio={bio}"), "--members", &members, "--format", "conll", "--input", "-"].map(String::from);
    pinned("tag_classifier_ensemble.out", &duo, SENTENCES);
}

#[test]
fn fill_mask_json() {
    let model = fixture("tiny-bert-cased");
    let args = ["fill-mask", "--model", &model, "--top-k", "3", "--json", "--input", "-"].map(String::from);
    pinned("fill_mask.out", &args, "Lou Gehrig worked in [MASK] .\nno mask here\n[MASK] [MASK] cells\n");
}
