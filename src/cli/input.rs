//! Reading input records: texts from arguments, a file or stdin, as plain lines or JSON Lines.
//!
//! Every input line becomes exactly one [`Record`]: a line that cannot be read (invalid UTF-8,
//! malformed JSON) is a record carrying its error, so outputs stay aligned with inputs.

use anyhow::Context;
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader};
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// One text per line.
    Plain,
    /// One JSON object `{"id":..,"text":..}` per line.
    JsonLines,
}

/// A layout and the line that decided it (named in errors about later lines).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Decided {
    pub layout: Layout,
    pub line: usize,
}

/// Where a [`LineReader`] stands: everything needed to continue reading a file exactly as an
/// uninterrupted read would (same line numbers, same layout), for `tag --resume`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Position {
    /// Bytes consumed: the start of the next line.
    pub offset: u64,
    /// Lines read so far (the next record is line `lines + 1`).
    pub lines: usize,
    /// The layout, once a non-blank line decided it.
    pub decided: Option<Decided>,
}

impl Position {
    /// The start of a file.
    pub const START: Position = Position { offset: 0, lines: 0, decided: None };
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
        Source::Args(texts) => Ok(Box::new(arguments(texts).into_iter().map(Ok))),
        Source::File(path) => Ok(Box::new(LineReader::open(path)?)),
    }
}

/// Texts given as arguments, numbered from 1.
pub fn arguments(texts: &[String]) -> Vec<Record> {
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let place = format!("argument {}", i + 1);
            Record { place, id: serde_json::Value::from(i + 1), text: Ok(t.clone()), raw: None }
        })
        .collect()
}

/// The records of a file's or stdin's lines (see [`records`]), tracking the byte position and,
/// if asked, a SHA-256 of the bytes consumed, so a resumed run can check that the part already
/// tagged is unchanged and continue at the next line.
///
/// Hand-rolled over `read_until` rather than `BufRead::split`: the split iterator hides how
/// many bytes each line took (`\n` vs `\r\n`, a last line without newline).
pub struct LineReader {
    reader: Box<dyn BufRead>,
    name: String,
    pos: Position,
    hash: Option<Sha256>,
    failed: bool,
}

impl LineReader {
    /// Reads `path` (`-` = stdin) from its start.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        if path == Path::new("-") {
            return Ok(Self::new(Box::new(BufReader::new(std::io::stdin())), "stdin".into(), Position::START, None));
        }
        let file = std::fs::File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
        Ok(Self::new(Box::new(BufReader::new(file)), path.display().to_string(), Position::START, None))
    }

    /// Reads `reader` as if its first `pos.offset` bytes had been read already, continuing
    /// `hash` (the SHA-256 state of those bytes) when given; `name` names the input in errors.
    pub fn new(reader: Box<dyn BufRead>, name: String, pos: Position, hash: Option<Sha256>) -> Self {
        Self { reader, name, pos, hash, failed: false }
    }

    pub fn position(&self) -> Position {
        self.pos
    }

    /// The SHA-256 (hex) of the bytes consumed so far, if hashing.
    pub fn digest(&self) -> Option<String> {
        self.hash.as_ref().map(|h| hex(&h.clone().finalize()))
    }

    /// The next line's bytes without its line ending, `None` at the end.
    fn next_line(&mut self) -> anyhow::Result<Option<Vec<u8>>> {
        let mut bytes = Vec::new();
        let n = self
            .reader
            .read_until(b'\n', &mut bytes)
            .with_context(|| format!("{}: read error at line {}", self.name, self.pos.lines + 1))?;
        if n == 0 {
            return Ok(None);
        }
        if let Some(h) = &mut self.hash {
            h.update(&bytes);
        }
        let first = self.pos.offset == 0;
        self.pos.offset += n as u64;
        self.pos.lines += 1;
        if bytes.last() == Some(&b'\n') {
            bytes.pop();
        }
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        if first && bytes.starts_with(UTF8_BOM) {
            bytes.drain(..UTF8_BOM.len());
        }
        Ok(Some(bytes))
    }

    /// The record of line `line_no` (its bytes without the line ending).
    fn record(&mut self, line_no: usize, bytes: Vec<u8>) -> Record {
        let id = serde_json::Value::from(line_no);
        let place = format!("{} line {line_no}", self.name);
        let text = match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => {
                let at = e.utf8_error().valid_up_to();
                return Record { id, text: Err(format!("{place}: invalid UTF-8 at byte {at}")), place, raw: None };
            }
        };
        if text.trim().is_empty() {
            return Record { place, id, text: Ok(text), raw: None };
        }
        let layout = if text.trim_start().starts_with('{') { Layout::JsonLines } else { Layout::Plain };
        let Decided { layout, line: decided } = *self.pos.decided.get_or_insert(Decided { layout, line: line_no });
        match layout {
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
        }
    }
}

impl Iterator for LineReader {
    type Item = anyhow::Result<Record>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match self.next_line() {
            Ok(Some(bytes)) => {
                let line_no = self.pos.lines;
                Some(Ok(self.record(line_no, bytes)))
            }
            Ok(None) => None,
            Err(e) => {
                // a read error ends the input: the next call must not skip past it silently
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// Lower-case hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
        LineReader::new(Box::new(std::io::Cursor::new(bytes.to_vec())), "in".into(), Position::START, None).map(|r| r.unwrap()).collect()
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
    fn reading_on_from_a_position_gives_the_same_records_and_hash() {
        let bytes = b"\xEF\xBB\xBF\n{\"id\": \"x\", \"text\": \"a\"}\r\n{\"text\": \"b\"}\nnot json\n{\"text\": \"c\"}".to_vec();
        let mut whole = LineReader::new(Box::new(std::io::Cursor::new(bytes.clone())), "in".into(), Position::START, Some(Sha256::new()));
        let all: Vec<Record> = whole.by_ref().map(|r| r.unwrap()).collect();
        assert_eq!(whole.position().offset, bytes.len() as u64);
        let mut first = LineReader::new(Box::new(std::io::Cursor::new(bytes.clone())), "in".into(), Position::START, Some(Sha256::new()));
        let _ = first.by_ref().take(3).count();
        let pos = first.position();
        assert_eq!((pos.lines, pos.decided), (3, Some(Decided { layout: Layout::JsonLines, line: 2 })));
        let rest = std::io::Cursor::new(bytes[pos.offset as usize..].to_vec());
        let mut hash = Sha256::new();
        hash.update(&bytes[..pos.offset as usize]);
        let mut second = LineReader::new(Box::new(rest), "in".into(), pos, Some(hash));
        let tail: Vec<Record> = second.by_ref().map(|r| r.unwrap()).collect();
        assert_eq!(tail.len(), 2);
        for (a, b) in all[3..].iter().zip(&tail) {
            assert_eq!((&a.place, &a.id, &a.text), (&b.place, &b.id, &b.text));
        }
        let e = tail[0].text.as_ref().unwrap_err();
        assert!(e.contains("in line 4: malformed JSON") && e.contains("line 2, its first non-blank line"), "{e}");
        assert_eq!(second.digest(), whole.digest(), "the continued hash is the whole input's");
        assert_eq!(whole.digest().unwrap(), hex(&Sha256::digest(&bytes)));
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
