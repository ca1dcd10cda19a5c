//! Fuzz targets: JSON Lines input records (with explicit spans) and the engine config JSON.

use crate::cli::input::{LineReader, Position, Record};
use crate::engine::{EngineConfig, PhraseMode, TagRequest};
use crate::entity_map::Taxonomy;
use crate::text::phrases_from_spans;
use std::io::Cursor;

/// The input lines as `maskner tag` reads them ([`LineReader`]: BOM, `\r\n`, layout decided by
/// the first non-blank line), then each record's request as the CLI builds it
/// ([`TagRequest::from_record`]: `spans` in characters, converted to bytes). Properties: one
/// record per input line, numbered in order, each with text or a one-line error; accepted spans
/// are non-empty byte ranges on char boundaries inside the text, and the phrases they select lie
/// inside them; reading on from the position after the first record gives the same records.
pub fn jsonl_record(data: &[u8]) {
    let records = read(data, Position::START);
    let lines = data.split(|&b| b == b'\n').count() - usize::from(data.is_empty() || data.ends_with(b"\n"));
    assert_eq!(records.len(), lines, "one record per input line");
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.place, format!("in line {}", i + 1));
        match &r.text {
            Ok(text) => request(r, text),
            Err(e) => assert!(!e.contains('\n') && e.starts_with(&r.place), "one-line error naming its place: {e:?}"),
        }
    }

    // resuming after the first record continues exactly as the uninterrupted read
    let mut reader = reader(data, Position::START);
    if reader.next().is_some() {
        let pos = reader.position();
        let offset = usize::try_from(pos.offset).expect("offset inside the input");
        let rest = read(&data[offset..], pos);
        assert_eq!(rest.len(), records.len() - 1, "resumed read has the remaining records");
        for (a, b) in records[1..].iter().zip(&rest) {
            assert_eq!((&a.place, &a.id, &a.text), (&b.place, &b.id, &b.text), "resumed record differs");
        }
    }
}

fn reader(data: &[u8], pos: Position) -> LineReader {
    LineReader::new(Box::new(Cursor::new(data.to_vec())), "in".into(), pos, None)
}

fn read(data: &[u8], pos: Position) -> Vec<Record> {
    reader(data, pos).map(|r| r.expect("reading memory cannot fail")).collect()
}

/// The request of one record, for each phrase mode; accepted spans checked against the text.
fn request(r: &Record, text: &str) {
    let spans = r.raw.as_ref().and_then(|v| v.get("spans"));
    for mode in [PhraseMode::Detect, PhraseMode::Auto] {
        let Ok(req) = TagRequest::from_record(text, spans, &mode) else {
            assert!(spans.is_some(), "a record without spans always gives a request");
            continue;
        };
        assert_eq!(req.text, text);
        let PhraseMode::Spans(bytes) = &req.mode else {
            assert!(spans.is_none(), "spans select explicit-span mode");
            assert_eq!(req.mode, mode);
            continue;
        };
        for s in bytes {
            assert!(s.start < s.end && s.end <= text.len(), "accepted span {s:?} inside {} bytes", text.len());
            assert!(text.is_char_boundary(s.start) && text.is_char_boundary(s.end), "accepted span {s:?} on char boundaries");
        }
        if let Ok(m) = phrases_from_spans(text, bytes) {
            let mut sorted = bytes.clone();
            sorted.sort_by_key(|s| (s.start, s.end));
            assert_eq!(m.phrases.len(), sorted.len(), "one phrase per span");
            for (p, s) in m.phrases.iter().zip(&sorted) {
                let range = p.byte_range(&m.words).expect("a phrase has words");
                assert!(range.start >= s.start && range.end <= s.end, "phrase {range:?} inside span {s:?}");
                assert_eq!(&text[range.clone()], text.get(range).expect("phrase on char boundaries"));
            }
        }
    }
}

/// An engine config (`--config FILE`) from JSON: parsing and the checks that need no file
/// ([`EngineConfig::validate`]; group names against a built-in taxonomy, as `Engine::load` does
/// before it loads a model). A parsed config written back as JSON reads back to the same JSON.
/// Taxonomy paths are not opened (an input could name any file).
pub fn engine_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(cfg) = EngineConfig::from_json(text, None) else { return };
    let _ = cfg.validate();
    if matches!(cfg.taxonomy.as_str(), "jan2022" | "feb2022")
        && let Ok(taxonomy) = Taxonomy::from_name_or_path(&cfg.taxonomy)
    {
        for group in cfg.common.iter().flatten().chain(cfg.members.iter().flat_map(|m| &m.precedence)) {
            let _ = taxonomy.group(group);
        }
    }
    let json = serde_json::to_string(&cfg).expect("a parsed config serialises");
    let again = EngineConfig::from_json(&json, None).unwrap_or_else(|e| panic!("written config {json} does not read back: {e}"));
    assert_eq!(serde_json::to_string(&again).expect("serialises"), json, "config JSON round trip");
}
