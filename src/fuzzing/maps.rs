//! Fuzz targets: taxonomy files, seed lists and `labels.txt` import (src/entity_map/).

use crate::entity_map::{EntityMap, LookupSource, SeedSet, Signature, Taxonomy};
use std::sync::OnceLock;

/// The taxonomy seed lists and imported maps are checked against (the default, `jan2022`).
fn jan2022() -> &'static Taxonomy {
    static T: OnceLock<Taxonomy> = OnceLock::new();
    T.get_or_init(Taxonomy::jan2022)
}

/// A taxonomy file (`GROUP SUB1/SUB2/...`). A parsed taxonomy knows the group of every label it
/// lists, accepts a signature of its own labels and refuses one with a label it lacks, and its
/// entries written back in the file format parse to the same entries.
pub fn taxonomy(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(t) = Taxonomy::parse("fuzz", text) else { return };
    assert!(!t.entries().is_empty(), "a parsed taxonomy has groups");
    let mut written = String::new();
    for e in t.entries() {
        assert_eq!(t.group_of(e.group.as_str()).map(|g| g.as_str()).ok(), Some(e.group.as_str()));
        for l in &e.subtypes {
            assert_eq!(t.group_of(l.as_str()).map(|g| g.as_str()).ok(), Some(e.group.as_str()), "group of {l:?}");
        }
        let subs: Vec<&str> = e.subtypes.iter().map(|l| l.as_str()).collect();
        written.push_str(e.group.as_str());
        if !subs.is_empty() {
            written.push(' ');
            written.push_str(&subs.join("/"));
        }
        written.push('\n');
    }
    let again = Taxonomy::parse("fuzz", &written).unwrap_or_else(|e| panic!("written taxonomy {written:?} does not parse: {e}"));
    assert_eq!(again.entries(), t.entries(), "taxonomy round trip");
    let labels: Vec<String> = t.labels().map(|l| l.as_str().to_owned()).collect();
    for l in labels.iter().take(8) {
        let sig = Signature::from_fields(l, "1").expect("a taxonomy label is a signature label");
        assert!(t.check(&sig).is_ok(), "own label {l:?} accepted");
    }
    if !labels.iter().any(|l| l == "NOT_A_LABEL_OF_IT") {
        let sig = Signature::from_fields("NOT_A_LABEL_OF_IT", "1").expect("valid signature");
        assert!(t.check(&sig).is_err(), "an unknown label is refused");
    }
}

/// A seed list file: the input's first line is the file stem (the header label must match it),
/// the rest the file. Every term read is non-empty and trimmed, found exactly and lower-cased,
/// and labelled; the content hash does not depend on anything but the input.
pub fn seed_list(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (stem, body) = text.split_once('\n').unwrap_or((text, ""));
    let Ok(set) = SeedSet::from_text("fuzz.txt", stem, body, jan2022()) else { return };
    assert!(!set.is_empty(), "a seed list that parses has terms");
    for (term, labels) in set.terms() {
        assert!(!term.is_empty() && term == term.trim(), "term {term:?} non-empty and trimmed");
        assert!(!labels.is_empty(), "term {term:?} has labels");
        assert_eq!(set.exact(term), Some(labels));
        assert!(set.lower(&term.to_lowercase()).is_some_and(|l| !l.is_empty()), "lower-case entry of {term:?}");
    }
    let again = SeedSet::from_text("fuzz.txt", stem, body, jan2022()).expect("the same text parses again");
    assert_eq!(again.content_hash(), set.content_hash(), "content hash is deterministic");
}

/// `labels.txt` import (`maskner import-map`): export(import(x)) is a fixed point of
/// import-then-export, one exported line per imported line, and a lookup of a token (not all
/// digits) finds the signature of its last line.
pub fn labels_import(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(map) = EntityMap::parse_labels_txt(text, "fuzz", jan2022()) else { return };
    let first = export(&map);
    assert_eq!(first.lines().count(), map.len(), "one exported line per token line");
    assert_eq!(map.len(), text.lines().count(), "one token per input line");
    let again = EntityMap::parse_labels_txt(&first, "fuzz", jan2022()).unwrap_or_else(|e| panic!("export does not import: {e:#}"));
    assert_eq!(export(&again), first, "export(import(x)) is stable");
    assert_eq!(again.tokens(), map.tokens());
    for (i, tok) in map.tokens().iter().enumerate().take(16) {
        if tok.to_lowercase().chars().all(char::is_numeric) {
            continue;
        }
        let last = map.tokens().iter().rposition(|t| t == tok).expect("the token is in the map");
        let (sig, src) = map.lookup(tok);
        assert_eq!(src, LookupSource::Exact, "token {i} {tok:?} found exactly");
        let stored = map.signature_at(last).expect("stored signature");
        if stored.labels_field() != "OTHER" {
            assert_eq!(&sig, stored, "token {tok:?}: the last line wins");
        }
    }
}

fn export(map: &EntityMap) -> String {
    let mut out = Vec::new();
    map.write_labels_txt(&mut out).expect("writing to memory cannot fail");
    String::from_utf8(out).expect("labels.txt export is UTF-8")
}
