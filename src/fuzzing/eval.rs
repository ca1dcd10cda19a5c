//! Fuzz targets: `maskner eval`'s gold and prediction readers (and the scoring they feed) and its
//! config (src/eval/).

use crate::eval::read::{parse_gold, parse_pred};
use crate::eval::standard::TypeMapper;
use crate::eval::{Config, Options, Role, Scoring, Sentences, evaluate};
use std::sync::OnceLock;

/// A small `token TAG` config of our own (CoNLL-style groups) for the reader target. Written
/// here, not taken from a benchmark: the target needs any valid config, not a dataset's.
const READER_CONFIG: &str = r#"{"label_index": 1, "term_index": 0, "other_tag": "O", "misc_tag": "MISC",
    "fp_type_list": ["PERSON", "ORGANIZATION", "LOCATION"], "fp_subtype_list": ["PERSON"],
    "fp_type_to_disp_map": {"PERSON": "PER", "ORGANIZATION": "ORG", "LOCATION": "LOC"},
    "mapping": [
        {"g_name": "PER", "disp_name": "PER", "map": ["PERSON"]},
        {"g_name": "ORG", "disp_name": "ORG", "map": ["ORGANIZATION"]},
        {"g_name": "LOC", "disp_name": "LOC", "map": ["LOCATION", "GPE"]},
        {"g_name": "MISC", "disp_name": "MISC", "map": []},
        {"g_name": "O", "disp_name": "OTHER", "map": []}]}"#;

fn reader_config() -> &'static Config {
    static C: OnceLock<Config> = OnceLock::new();
    C.get_or_init(|| Config::from_json(READER_CONFIG, None).expect("the reader config is valid"))
}

/// Gold and prediction text (split at the first NUL byte; without one, the same text is read
/// both ways) through the readers, then, when both read, every scoring with every option.
/// Properties: readers and scorers return errors, never panic; every error is one line; a read
/// token has a non-empty whitespace-free term and label; every result serialises to valid JSON.
pub fn eval_readers(data: &[u8]) {
    let (gold, pred) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, data),
    };
    let (Ok(gold), Ok(pred)) = (std::str::from_utf8(gold), std::str::from_utf8(pred)) else { return };
    let config = reader_config();
    let g = parse_gold(gold, "gold", config);
    let p = parse_pred(pred, "pred");
    for r in [&g, &p] {
        match r {
            Ok(s) => check_tokens(s),
            Err(e) => assert!(!e.to_string().contains('\n'), "one-line error: {e}"),
        }
    }
    let (Ok(g), Ok(p)) = (g, p) else { return };
    score_all(config, &g, &p);
}

fn check_tokens(s: &Sentences) {
    for (term, label) in s.sentences.iter().flatten() {
        for f in [term, label] {
            assert!(!f.is_empty() && !f.chars().any(char::is_whitespace), "field {f:?} of a token");
        }
    }
}

/// Every scoring, strict or not, ignoring others or not: an error in one line, or JSON.
fn score_all(config: &Config, gold: &Sentences, pred: &Sentences) {
    for scoring in [Scoring::All, Scoring::Span, Scoring::Token] {
        for (strict, ignore_others) in [(false, false), (true, true)] {
            match evaluate(config, gold, pred, Options { strict, ignore_others }, scoring) {
                Ok(ev) => {
                    let json = ev.to_json();
                    if let Err(e) = serde_json::from_str::<serde_json::Value>(&json) {
                        panic!("results are not JSON ({e}): {json}");
                    }
                    for w in ev.warnings() {
                        assert!(!w.contains('\n'), "one-line warning: {w}");
                    }
                }
                Err(e) => assert!(!e.to_string().contains('\n'), "one-line error: {e}"),
            }
            if scoring != Scoring::All {
                break; // options only change the reference scoring
            }
        }
    }
}

/// An eval config (`eval_config.json`): parsing, its classes, the label mapping, and scoring a
/// fixed gold/prediction pair built from the config's own names (every gold label of the
/// mapping, predicted as each listed group). Errors are one line; results are JSON.
pub fn eval_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let config = match Config::from_json(text, None) {
        Ok(c) => c,
        Err(e) => {
            assert!(!e.to_string().contains('\n'), "one-line error: {e}");
            return;
        }
    };
    let classes = config.classes();
    assert!(!classes.is_empty(), "a valid config has the other class at least");
    let mut seen = std::collections::HashSet::new();
    assert!(classes.iter().all(|c| seen.insert(*c)), "classes are distinct");
    let mapper = TypeMapper::new(&config);
    let groups: Vec<&String> = config.fp_type_list.iter().take(8).collect();
    let mut gold = Vec::new();
    let mut pred = Vec::new();
    for (i, m) in config.mapping.iter().take(16).enumerate() {
        let _ = mapper.gold(&m.g_name);
        let _ = mapper.gold(&format!("B-{}", m.g_name));
        let term = format!("t{i}");
        let tag = match groups.get(i % groups.len().max(1)) {
            Some(g) if is_field(g) => format!("B_{g}"),
            _ => "O".to_string(),
        };
        let _ = mapper.pred(&tag);
        if is_field(&m.g_name) {
            gold.push((term.clone(), m.g_name.clone()));
            pred.push((term, tag));
        }
    }
    let gold = Sentences::in_memory(Role::Gold, vec![gold]);
    let pred = Sentences::in_memory(Role::Pred, vec![pred]);
    score_all(&config, &gold, &pred);
}

/// A name that can stand as one column of a file (what the readers would produce).
fn is_field(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(char::is_whitespace)
}
