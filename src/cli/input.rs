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
    /// 1-based line number (or argument index).
    pub line: usize,
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

/// Reads records lazily. Blank lines are records too (with empty text), so line N of the
/// input is always record N.
pub fn records(source: Source<'_>) -> anyhow::Result<Box<dyn Iterator<Item = anyhow::Result<Record>>>> {
    match source {
        Source::Args(texts) => {
            let v: Vec<_> = texts
                .iter()
                .enumerate()
                .map(|(i, t)| Ok(Record { line: i + 1, id: serde_json::Value::from(i + 1), text: Ok(t.clone()), raw: None }))
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
            let mut jsonl: Option<bool> = None;
            let it = BufReader::new(reader).split(b'\n').enumerate().map(move |(i, line)| {
                let line_no = i + 1;
                let mut bytes = line.with_context(|| format!("{name}: read error at line {line_no}"))?;
                if bytes.last() == Some(&b'\r') {
                    bytes.pop();
                }
                let id = serde_json::Value::from(line_no);
                let text = match String::from_utf8(bytes) {
                    Ok(s) => s,
                    Err(e) => {
                        let at = e.utf8_error().valid_up_to();
                        return Ok(Record {
                            line: line_no,
                            id,
                            text: Err(format!("{name} line {line_no}: invalid UTF-8 at byte {at}")),
                            raw: None,
                        });
                    }
                };
                let is_json = *jsonl.get_or_insert_with(|| text.trim_start().starts_with('{'));
                if !is_json || text.trim().is_empty() {
                    return Ok(Record { line: line_no, id, text: Ok(text), raw: None });
                }
                Ok(parse_jsonl(&name, line_no, &text))
            });
            Ok(Box::new(it))
        }
    }
}

fn parse_jsonl(name: &str, line_no: usize, text: &str) -> Record {
    let fallback_id = serde_json::Value::from(line_no);
    let v: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            return Record {
                line: line_no,
                id: fallback_id,
                text: Err(format!("{name} line {line_no}: malformed JSON ({e})")),
                raw: None,
            };
        }
    };
    let id = v.get("id").cloned().unwrap_or(fallback_id);
    let text = match v.get("text").and_then(|t| t.as_str()) {
        Some(t) => Ok(t.to_string()),
        None => Err(format!("{name} line {line_no}: JSON record has no string field \"text\"")),
    };
    Record { line: line_no, id, text, raw: Some(v) }
}

/// A progress bar on stderr (drawn only when stderr is a terminal).
pub fn progress(len: Option<u64>, what: &str) -> indicatif::ProgressBar {
    let bar = match len {
        Some(n) => indicatif::ProgressBar::new(n),
        None => indicatif::ProgressBar::new_spinner(),
    };
    let template = if len.is_some() {
        "{msg} [{bar:30}] {pos}/{len} ({per_sec}, eta {eta})"
    } else {
        "{msg} {spinner} {pos} ({per_sec})"
    };
    if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_string());
    bar
}
