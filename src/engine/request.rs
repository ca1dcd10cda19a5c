//! What the engine is asked: texts with their phrase selection, parsed from the JSON record
//! shape `{"id", "text", "spans": [[start, end], ..]}` here once for the CLI, the server and
//! the bindings.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::ops::Range;

/// How the phrases of an input are chosen.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PhraseMode {
    /// Marker mode if the text contains `:__entity__`, else automatic.
    #[default]
    Detect,
    Markers,
    Auto,
    /// Explicit byte spans of the text.
    Spans(Vec<Range<usize>>),
}

/// The names of the modes a user picks by name.
pub const MODE_NAMES: &str = "detect, markers or auto";

impl PhraseMode {
    /// `detect`, `markers` or `auto` (explicit spans come with a record, not by name).
    pub fn from_name(name: &str) -> Result<Self> {
        match name {
            "detect" => Ok(PhraseMode::Detect),
            "markers" => Ok(PhraseMode::Markers),
            "auto" => Ok(PhraseMode::Auto),
            m => Err(Error::input(format!("{m}: expected {MODE_NAMES}"))),
        }
    }
}

/// One input text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRequest {
    pub text: String,
    pub mode: PhraseMode,
}

impl TagRequest {
    pub fn new(text: impl Into<String>, mode: PhraseMode) -> Self {
        Self { text: text.into(), mode }
    }

    /// A record's request: its `spans` (a JSON list of `[start, end]` character offsets, end
    /// exclusive), when given, select explicit-span mode; otherwise `mode` applies.
    pub fn from_record(text: &str, spans: Option<&Value>, mode: &PhraseMode) -> Result<Self> {
        let Some(spans) = spans else {
            return Ok(Self::new(text, mode.clone()));
        };
        let arr = spans.as_array().ok_or_else(|| Error::input("\"spans\" must be a list of [start, end]"))?;
        let mut chars = Vec::with_capacity(arr.len());
        for s in arr {
            let offset = |v: &Value| v.as_u64().and_then(|n| usize::try_from(n).ok());
            let pair = s.as_array().filter(|p| p.len() == 2).and_then(|p| Some((offset(&p[0])?, offset(&p[1])?)));
            let (a, b) = pair.ok_or_else(|| Error::input("each span must be [start, end] with character offsets"))?;
            chars.push(a..b);
        }
        let bytes = crate::text::char_to_byte_spans(text, &chars).map_err(|e| Error::input(format!("{e:#}")))?;
        Ok(Self::new(text, PhraseMode::Spans(bytes)))
    }
}

/// One fill-mask input: a text holding `[MASK]` tokens, and how many predictions to list at
/// each read position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FillRequest {
    pub text: String,
    pub top_k: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn spans_are_character_offsets_and_malformed_ones_are_input_errors() {
        let r = TagRequest::from_record("Zürich is big", Some(&serde_json::json!([[0, 6]])), &PhraseMode::Auto).unwrap();
        assert_eq!(r.mode, PhraseMode::Spans(std::iter::once(0..7).collect()));
        let plain = TagRequest::from_record("x", None, &PhraseMode::Markers).unwrap();
        assert_eq!(plain.mode, PhraseMode::Markers);
        for (spans, msg) in [
            (serde_json::json!({"a": 1}), "\"spans\" must be a list of [start, end]"),
            (serde_json::json!([[1]]), "each span must be [start, end] with character offsets"),
            (serde_json::json!([[-1, 2]]), "each span must be [start, end] with character offsets"),
        ] {
            let e = TagRequest::from_record("abc", Some(&spans), &PhraseMode::Auto).unwrap_err();
            assert_eq!((e.kind(), e.to_string()), (ErrorKind::Input, msg.to_string()));
        }
        let e = TagRequest::from_record("abc", Some(&serde_json::json!([[2, 1]])), &PhraseMode::Auto).unwrap_err();
        assert!(e.to_string().contains("reversed"), "{e}");
    }

    #[test]
    fn modes_by_name() {
        assert_eq!(PhraseMode::from_name("auto").unwrap(), PhraseMode::Auto);
        assert_eq!(PhraseMode::from_name("spans").unwrap_err().to_string(), "spans: expected detect, markers or auto");
    }
}
