//! Replay of the reference's logged descriptors (../shared/benchmarks/custom): aggregation,
//! pooling and single-model tags must reproduce every logged span exactly in compat mode.

mod common;

use std::path::Path;

use maskner::compat::Numerics;
use maskner::entity_map::Taxonomy;
use maskner::replay::{ReplayOptions, replay_bytes, replay_file};

fn log() -> String {
    let path = common::benchmarks_path().join("custom/reference_query_response_log.txt");
    path.display().to_string()
}

fn options(numerics: Numerics) -> ReplayOptions {
    ReplayOptions { numerics, taxonomy: Taxonomy::jan2022(), max_details: 5 }
}

#[test]
fn compat_reproduces_every_logged_span() {
    if common::benchmarks_dir().is_none() {
        return;
    }
    let s = replay_file(Path::new(&log()), &options(Numerics::Compat)).unwrap();
    assert!(s.all_exact(), "{:#?}", s.first_mismatches);
    assert_eq!(s.records, 106);
    assert_eq!(s.spans, 174);
    assert_eq!(s.distributions_exact, 174);
    assert_eq!(s.distributions_close, 174);
    assert_eq!(s.orig_cs_exact, 174);
    assert_eq!(s.orig_ci_exact, 174);
    assert_eq!(s.top_tags_exact, 174);
    assert_eq!(s.tags_exact, 174);
    assert_eq!(s.dual_spans, 12);
    assert_eq!(s.dual_spans_both_halves, 7);
    assert_eq!((s.tag_terms, s.tag_terms_exact), (240, 240));
    // REPLAY.md: 43 single-model entity terms match exactly one of the two precedence lists.
    assert_eq!(s.precedence_dependent_terms, 43);
}

#[test]
fn default_numerics_keep_the_tags() {
    if common::benchmarks_dir().is_none() {
        return;
    }
    let s = replay_file(Path::new(&log()), &options(Numerics::Fixed)).unwrap();
    assert_eq!((s.records, s.spans), (106, 174));
    // Pooling unrounded values moves 4th decimals only (same groups and subtypes, within 2e-4),
    // except in the 4 spans whose CI list has a negative logit, clamped to 0 by default; the top
    // tag is unchanged everywhere.
    assert_eq!(s.top_tags_exact, 174);
    assert_eq!(s.orig_cs_exact, 174);
    assert_eq!(s.orig_ci_exact, 170);
    assert_eq!(s.distributions_close, 170);
    // The one difference: `Imatinib mesylate` gets I_ on its continuation token (fix of §11.10).
    assert_eq!(s.tags_exact, 173);
    assert!(!s.all_exact());
}

#[test]
fn errors_name_the_file_and_record() {
    if common::benchmarks_dir().is_none() {
        return;
    }
    let missing = replay_file(Path::new("/nonexistent/log.txt"), &options(Numerics::Compat)).unwrap_err();
    assert!(format!("{missing:#}").starts_with("/nonexistent/log.txt: "), "{missing:#}");

    // Two good records, then a truncated one.
    let text = std::fs::read_to_string(log()).unwrap();
    let mut records = text.split("\n{\n    \"ensembled_ner\"").skip(1);
    let first = format!("\n{{\n    \"ensembled_ner\"{}", records.next().unwrap());
    let second = format!("\n{{\n    \"ensembled_ner\"{}", records.next().unwrap());
    let bad = format!("{first}{second}\n{{\n    \"ensembled_ner\": {{");
    let path = common::tmp("replay-truncated").join("replay_truncated.txt");
    std::fs::write(&path, bad.as_bytes()).unwrap();
    let err = format!("{:#}", replay_file(&path, &options(Numerics::Compat)).unwrap_err());
    assert!(err.starts_with(&format!("{}: record 3: ", path.display())), "{err}");
    assert!(!err.contains('\n'));

    // The February map lacks DEVICE_ADJECTIVE, which the logged signatures use.
    let feb = ReplayOptions { taxonomy: Taxonomy::feb2022(), ..options(Numerics::Compat) };
    let err = format!("{:#}", replay_bytes(text.as_bytes(), &feb).unwrap_err());
    assert!(err.contains("unknown entity label \"DEVICE_ADJECTIVE\" (not in taxonomy feb2022"), "{err}");
    assert!(err.starts_with("record "), "{err}");

    // Valid JSON that is not a record.
    let err = format!("{:#}", replay_bytes(b"{\"x\": 1}", &options(Numerics::Compat)).unwrap_err());
    assert!(err.starts_with("record 1: missing field"), "{err}");
}

#[test]
fn cli_exit_codes() {
    if common::benchmarks_dir().is_none() {
        return;
    }
    let run = |args: &[&str]| common::maskner(&[&["replay"][..], args].concat(), None, &[]);

    let ok = run(&["--log", &log(), "--compat"]);
    assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(summary["records"], 106);
    assert_eq!(summary["spans"], 174);
    assert_eq!(summary["mismatches"], 0);

    // Default numerics: informational, exit 0 even with differences.
    let fixed = run(&["--log", &log()]);
    assert_eq!(fixed.status.code(), Some(0));

    // A compat mismatch fails the check (exit 1): corrupt one logged confidence.
    let text = std::fs::read_to_string(log()).unwrap().replacen("\"confidence\": 0.4455", "\"confidence\": 0.4456", 1);
    let path = common::tmp("replay-corrupt").join("replay_corrupt.txt");
    std::fs::write(&path, text.as_bytes()).unwrap();
    let bad = run(&["--log", path.to_str().unwrap(), "--compat"]);
    assert_eq!(bad.status.code(), Some(1));
    let summary: serde_json::Value = serde_json::from_slice(&bad.stdout).unwrap();
    assert_eq!(summary["mismatches"], 1);
    assert_eq!(summary["first_mismatches"][0]["check"], "pooled");

    // Bad input: one line on stderr, exit 2.
    let err = run(&["--log", "/nonexistent/log.txt"]);
    assert_eq!(err.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&err.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
}
