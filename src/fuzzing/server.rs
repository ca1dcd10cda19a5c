//! Fuzz targets: the `/v1/ner` and `/v1/fill-mask` request bodies, parsed and validated by the
//! server's own functions (`json_body`, `check_fields`, `entries`, then
//! [`TagRequest::from_record`] per text), without a network or a model.
//!
//! The option fields (`format`, `explain`, `mode`, `top_k`) are plain matches on a parsed JSON
//! value inside the async handlers; they are not called here.

use crate::engine::{PhraseMode, TagRequest};
use crate::server::{ApiError, ServeOptions, check_fields, entries, json_body};
use axum::http::StatusCode;

/// The fields each route accepts, as its handler lists them.
const NER_FIELDS: &[&str] = &["text", "texts", "format", "explain", "mode"];
const FILL_MASK_FIELDS: &[&str] = &["text", "texts", "top_k"];

/// Small limits, so that short fuzz inputs reach the count and length refusals too.
fn options() -> ServeOptions {
    ServeOptions { max_texts: 4, max_chars: 64, ..ServeOptions::default() }
}

/// A `/v1/ner` body: an object with `text` (a string or `{"text", "spans", "id"}`) or `texts`
/// (a list of those), each text's spans checked as the handler does. Properties: a refusal is a
/// 400 or 422 with a one-line message; an accepted body is within the limits; accepted spans
/// are byte ranges on char boundaries inside their text.
pub fn ner_body(data: &[u8]) {
    let opts = options();
    let Some(list) = parse(data, NER_FIELDS, &opts, true) else { return };
    for e in list {
        match TagRequest::from_record(&e.text, e.spans.as_ref(), &PhraseMode::Detect) {
            Ok(TagRequest { mode: PhraseMode::Spans(spans), text }) => {
                for s in spans {
                    assert!(s.start < s.end && s.end <= text.len(), "span {s:?} inside {} bytes", text.len());
                    assert!(text.is_char_boundary(s.start) && text.is_char_boundary(s.end), "span {s:?} on char boundaries");
                }
            }
            Ok(r) => assert!(e.spans.is_none() && r.mode == PhraseMode::Detect, "no spans, the request's mode"),
            Err(err) => {
                assert!(e.spans.is_some(), "only spans can fail a text");
                assert!(!err.to_string().contains('\n'), "one-line error: {err}");
            }
        }
    }
}

/// A `/v1/fill-mask` body: `text` or `texts`, strings only. Same properties as [`ner_body`].
pub fn fill_mask_body(data: &[u8]) {
    let opts = options();
    let Some(list) = parse(data, FILL_MASK_FIELDS, &opts, false) else { return };
    assert!(list.iter().all(|e| e.spans.is_none()), "fill-mask texts have no spans");
}

/// The body's entries, or `None` after checking the refusal.
fn parse(data: &[u8], fields: &[&str], opts: &ServeOptions, objects: bool) -> Option<Vec<crate::server::Entry>> {
    let result = json_body(data).and_then(|obj| {
        check_fields(&obj, fields)?;
        entries(&obj, opts, objects)
    });
    match result {
        Ok((list, single)) => {
            assert!(std::str::from_utf8(data).is_ok(), "an accepted body is UTF-8");
            assert!(list.len() <= opts.max_texts, "{} texts accepted over the limit", list.len());
            assert!(list.iter().all(|e| e.text.chars().count() <= opts.max_chars), "a text over the length limit accepted");
            if single {
                assert_eq!(list.len(), 1);
            }
            Some(list)
        }
        Err(e) => {
            check_refusal(&e);
            None
        }
    }
}

fn check_refusal(e: &ApiError) {
    assert!(matches!(e.status, StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY), "status {}: {}", e.status, e.message);
    assert!(!e.message.is_empty() && !e.message.contains('\n'), "one-line message: {:?}", e.message);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by `ner_body`: a field name holding a newline was echoed raw, so the refusal's
    /// message spanned two lines.
    #[test]
    fn an_unknown_field_is_quoted_in_a_one_line_refusal() {
        let opts = options();
        for body in [&br#"{"te\nxt": "a"}"#[..], br#"{"texts": [{"text": "a", "sp\"ans\n": 1}]}"#] {
            let e = json_body(body).and_then(|obj| {
                check_fields(&obj, NER_FIELDS)?;
                entries(&obj, &opts, true)
            });
            let e = e.err().expect("an unknown field is refused");
            assert_eq!(e.status, StatusCode::BAD_REQUEST);
            assert!(!e.message.contains('\n'), "{:?}", e.message);
        }
        let e = json_body(br#"{"te\nxt": "a"}"#).and_then(|obj| check_fields(&obj, NER_FIELDS)).expect_err("refused");
        assert_eq!(e.message, r#"unknown field "te\nxt" (fields: text, texts, format, explain, mode)"#);
        let obj = json_body(br#"{"texts": [{"text": "a", "sp\"ans\n": 1}]}"#).expect("an object");
        let e = entries(&obj, &opts, true).err().expect("refused");
        assert_eq!(e.message, r#"texts[0]: unknown field "sp\"ans\n" (fields: text, spans, id)"#);
    }
}
