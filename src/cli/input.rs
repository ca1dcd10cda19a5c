//! Reading input records: texts from arguments, a file or stdin, as plain lines or JSON Lines.
//!
//! Every input line becomes exactly one [`Record`]: a line that cannot be read (invalid UTF-8,
//! malformed JSON) is a record carrying its error, so outputs stay aligned with inputs.

use anyhow::Context;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// One input text, or why it could not be read.
#[derive(Debug, Clone)]
pub struct Record {
    /// Where the record is, for error messages: `FILE line N`, `stdin line N`, `argument N`.
    pub place: String,
    /// The `id` of a JSONL record, else the line number as a string.
    pub id: serde_json::Value,
    pub text: Result<String, String>,
    /// The parsed JSON object of a JSON Lines record (for extra fields such as `spans`).
    pub raw: Option<serde_json::Value>,
}

/// Where texts come from.
pub enum Source<'a> {
    Args(&'a [String]),
    /// A file path, or `-` for stdin.
    File(&'a Path),
}

/// How the lines of a file are read, decided by its first non-blank line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    /// One text per line.
    Plain,
    /// One JSON object `{"id":..,"text":..}` per line.
    JsonLines,
}

/// Reads records lazily. Blank lines are records too (with empty text), so line N of the
/// input is always record N.
///
/// Layout: a leading UTF-8 byte-order mark is skipped; the first non-blank line decides —
/// JSON Lines if it starts with `{`, else plain text. A later line that contradicts the
/// decision (not JSON in JSON Lines; a JSON object with `"text"` in plain text) is an error
/// record: a mixed file is never silently read the wrong way.
pub fn records(source: Source<'_>) -> anyhow::Result<Box<dyn Iterator<Item = anyhow::Result<Record>>>> {
    match source {
        Source::Args(texts) => {
            let v: Vec<_> = texts
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let place = format!("argument {}", i + 1);
                    Ok(Record { place, id: serde_json::Value::from(i + 1), text: Ok(t.clone()), raw: None })
                })
                .collect();
            Ok(Box::new(v.into_iter()))
        }
        Source::File(path) => {
            let reader: Box<dyn Read> = if path == Path::new("-") {
                Box::new(std::io::stdin())
            } else {
                Box::new(std::fs::File::open(path).with_context(|| format!("{}: cannot open", path.display()))?)
            };
            let name = if path == Path::new("-") { "stdin".to_string() } else { path.display().to_string() };
            Ok(Box::new(lines(BufReader::new(reader), name)))
        }
    }
}

/// The records of a reader's lines (see [`records`]); `name` names the input in errors.
fn lines(reader: impl BufRead + 'static, name: String) -> impl Iterator<Item = anyhow::Result<Record>> {
    // the layout and the line that decided it
    let mut layout: Option<(Layout, usize)> = None;
    reader.split(b'\n').enumerate().map(move |(i, line)| {
        let line_no = i + 1;
        let mut bytes = line.with_context(|| format!("{name}: read error at line {line_no}"))?;
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        if i == 0 && bytes.starts_with(UTF8_BOM) {
            bytes.drain(..UTF8_BOM.len());
        }
        let id = serde_json::Value::from(line_no);
        let place = format!("{name} line {line_no}");
        let text = match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => {
                let at = e.utf8_error().valid_up_to();
                return Ok(Record { id, text: Err(format!("{place}: invalid UTF-8 at byte {at}")), place, raw: None });
            }
        };
        if text.trim().is_empty() {
            return Ok(Record { place, id, text: Ok(text), raw: None });
        }
        let (layout, decided) = *layout
            .get_or_insert_with(|| (if text.trim_start().starts_with('{') { Layout::JsonLines } else { Layout::Plain }, line_no));
        Ok(match layout {
            Layout::JsonLines => parse_jsonl(place, line_no, &text, decided),
            Layout::Plain if looks_like_jsonl(&text) => Record {
                id,
                text: Err(format!(
                    "{place}: a JSON Lines record in plain-text input (read as plain text because line {decided}, its first non-blank line, is not a JSON object); make every line a JSON object, or none"
                )),
                place,
                raw: None,
            },
            Layout::Plain => Record { place, id, text: Ok(text), raw: None },
        })
    })
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// A JSON object with a `"text"` field: a JSON Lines record.
fn looks_like_jsonl(line: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(line).is_ok_and(|v| v.get("text").is_some())
}

/// A JSON Lines record; `decided` is the line that made the input JSON Lines.
fn parse_jsonl(place: String, line_no: usize, text: &str, decided: usize) -> Record {
    let fallback_id = serde_json::Value::from(line_no);
    let v: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            let why = if text.trim_start().starts_with('{') {
                String::new()
            } else {
                format!(
                    "; the input is JSON Lines (line {decided}, its first non-blank line, starts with `{{`), so every line must be a JSON object"
                )
            };
            return Record { id: fallback_id, text: Err(format!("{place}: malformed JSON ({e}){why}")), place, raw: None };
        }
    };
    let id = v.get("id").cloned().unwrap_or(fallback_id);
    let text = match v.get("text").and_then(|t| t.as_str()) {
        Some(t) => Ok(t.to_string()),
        None => Err(format!("{place}: JSON record has no string field \"text\"")),
    };
    Record { place, id, text, raw: Some(v) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(bytes: &[u8]) -> Vec<Record> {
        lines(std::io::Cursor::new(bytes.to_vec()), "in".into()).map(|r| r.unwrap()).collect()
    }

    #[test]
    fn the_first_non_blank_line_decides_the_layout() {
        let r = read(b"\n  \n{\"id\": \"x\", \"text\": \"a b\"}\nnot json\n");
        assert_eq!(r.len(), 4);
        assert_eq!(r[0].text.as_deref(), Ok(""));
        assert_eq!(r[2].id, "x");
        assert_eq!(r[2].text.as_deref(), Ok("a b"));
        let e = r[3].text.as_ref().unwrap_err();
        assert!(e.contains("in line 4: malformed JSON") && e.contains("line 3, its first non-blank line"), "{e}");
    }

    #[test]
    fn a_byte_order_mark_is_skipped() {
        let r = read(b"\xEF\xBB\xBF{\"id\": 7, \"text\": \"caf\xC3\xA9\"}\r\n");
        assert_eq!(r[0].id, 7);
        assert_eq!(r[0].text.as_deref(), Ok("caf\u{e9}"));
        let r = read(b"\xEF\xBB\xBFplain text\n");
        assert_eq!(r[0].text.as_deref(), Ok("plain text"));
    }

    #[test]
    fn a_json_record_in_plain_text_is_an_error() {
        let r = read(b"plain text\n{\"text\": \"x\"}\n{not json at all}\n");
        assert_eq!(r[0].text.as_deref(), Ok("plain text"));
        let e = r[1].text.as_ref().unwrap_err();
        assert!(e.contains("line 2: a JSON Lines record in plain-text input") && e.contains("line 1"), "{e}");
        assert_eq!(r[2].text.as_deref(), Ok("{not json at all}"), "text that merely starts with a brace is text");
    }
}
