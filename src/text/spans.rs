//! Explicit spans (API/JSON form): the caller says where the phrases are.
//!
//! Spans are **byte** ranges into the text, like [`Word`] offsets; JSON clients that count
//! characters (Python, Hugging Face) convert with [`char_to_byte_spans`] first.

use super::{MarkedSentence, Phrase, TextError, Word, split_words};
use std::ops::Range;

/// Words ([`split_words`]) and one phrase per span: the words the span covers.
///
/// Spans may come in any order and may include surrounding whitespace; the phrases come out
/// sorted. Unlike marker mode, adjacent spans stay separate phrases. A span edge inside a
/// word splits that word if it falls next to punctuation (`EGFR` in `EGFR-mutant`, `HIV` in
/// `HIV/AIDS`); between two letters or digits it is an error. Errors (one line, first found):
/// reversed, empty, out of range, not on a char boundary, overlapping, cutting a word, or
/// covering no word.
pub fn phrases_from_spans(text: &str, spans: &[Range<usize>]) -> Result<MarkedSentence, TextError> {
    let mut sorted = spans.to_vec();
    for s in &sorted {
        check_span(s, text.len(), "byte")?;
        for offset in [s.start, s.end] {
            if !text.is_char_boundary(offset) {
                return Err(TextError::NotCharBoundary { start: s.start, end: s.end, offset });
            }
        }
    }
    sorted.sort_by_key(|s| (s.start, s.end));
    check_overlap(&sorted)?;

    let mut words = Vec::new();
    let mut cuts: Vec<usize> = sorted.iter().flat_map(|s| [s.start, s.end]).collect();
    cuts.dedup();
    for w in split_words(text) {
        split_at_cuts(text, w, &cuts, &sorted, &mut words)?;
    }
    let mut phrases = Vec::with_capacity(sorted.len());
    for s in &sorted {
        let first = words.partition_point(|w| w.start < s.start);
        let last = words.partition_point(|w| w.end <= s.end);
        if last <= first {
            return Err(TextError::NoWord { start: s.start, end: s.end, span: text[s.clone()].to_string() });
        }
        phrases.push(Phrase { words: first..last });
    }
    Ok(MarkedSentence { words, phrases })
}

fn check_span(s: &Range<usize>, len: usize, unit: &'static str) -> Result<(), TextError> {
    if s.start > s.end {
        return Err(TextError::Reversed { start: s.start, end: s.end });
    }
    if s.start == s.end {
        return Err(TextError::Empty { start: s.start, end: s.end });
    }
    if s.end > len {
        return Err(TextError::OutOfRange { start: s.start, end: s.end, len, unit });
    }
    Ok(())
}

fn check_overlap(sorted: &[Range<usize>]) -> Result<(), TextError> {
    for pair in sorted.windows(2) {
        if pair[1].start < pair[0].end {
            return Err(TextError::Overlap { a: pair[0].clone(), b: pair[1].clone() });
        }
    }
    Ok(())
}

/// Pushes `w`, split at every cut strictly inside it; a cut between two alphanumeric
/// characters is an error.
fn split_at_cuts(text: &str, w: Word, cuts: &[usize], spans: &[Range<usize>], out: &mut Vec<Word>) -> Result<(), TextError> {
    let inner: Vec<usize> = cuts.iter().copied().filter(|&c| c > w.start && c < w.end).collect();
    if inner.is_empty() {
        out.push(w);
        return Ok(());
    }
    let mut from = w.start;
    for c in inner {
        let before = text[..c].chars().next_back();
        let after = text[c..].chars().next();
        if before.is_some_and(char::is_alphanumeric) && after.is_some_and(char::is_alphanumeric) {
            let s = spans.iter().find(|s| s.start == c || s.end == c).cloned().unwrap_or(c..c);
            return Err(TextError::CutsWord { start: s.start, end: s.end, span: text[s.clone()].to_string(), word: w.text });
        }
        out.push(Word::new(&text[from..c], from));
        from = c;
    }
    out.push(Word::new(&text[from..w.end], from));
    Ok(())
}

/// Converts character (Unicode scalar value) spans, as Python and Hugging Face count them, to
/// byte spans. Checks what can be checked in characters (reversed, empty, out of range,
/// overlapping) so those errors quote the caller's own offsets.
pub fn char_to_byte_spans(text: &str, spans: &[Range<usize>]) -> Result<Vec<Range<usize>>, TextError> {
    let at = char_byte_offsets(text);
    let n = at.len() - 1;
    for s in spans {
        check_span(s, n, "char")?;
    }
    let mut sorted = spans.to_vec();
    sorted.sort_by_key(|s| (s.start, s.end));
    check_overlap(&sorted)?;
    Ok(spans.iter().map(|s| at[s.start]..at[s.end]).collect())
}

/// The byte offset of every character index `0..=n` of `text` (`n` = its length in chars), for
/// turning character offsets (Python's, the Hugging Face pipeline's) into byte offsets.
pub fn char_byte_offsets(text: &str) -> Vec<usize> {
    text.char_indices().map(|(b, _)| b).chain([text.len()]).collect()
}

/// Character offset of a byte offset (`None` if out of range or not on a char boundary): what
/// the output stage needs for Hugging Face-style `start`/`end`.
pub fn byte_to_char_offset(text: &str, byte: usize) -> Option<usize> {
    text.is_char_boundary(byte).then(|| text[..byte].chars().count())
}

#[cfg(test)]
#[allow(clippy::single_range_in_vec_init, clippy::reversed_empty_ranges)] // spans are data here
mod tests {
    use super::*;

    #[test]
    fn spans_to_phrases() {
        let t = "EGFR-mutant lung cancer, HIV/AIDS.";
        let m = phrases_from_spans(t, &[12..23, 0..4, 25..28, 29..33]).unwrap();
        let p: Vec<String> = m.phrases.iter().map(|p| p.joined(&m.words)).collect();
        assert_eq!(p, ["EGFR", "lung cancer", "HIV", "AIDS"]);
        assert!(matches!(phrases_from_spans(t, &[13..23]), Err(TextError::CutsWord { .. })));
        assert!(matches!(phrases_from_spans(t, &[0..4, 2..8]), Err(TextError::Overlap { .. })));
        assert!(matches!(phrases_from_spans(t, &[5..4]), Err(TextError::Reversed { .. })));
        assert!(matches!(phrases_from_spans(t, &[4..4]), Err(TextError::Empty { .. })));
        assert!(matches!(phrases_from_spans(t, &[30..99]), Err(TextError::OutOfRange { .. })));
        assert!(matches!(phrases_from_spans("a  b", &[1..3]), Err(TextError::NoWord { .. })));
    }

    #[test]
    fn char_offsets() {
        let t = "Zoë Müller";
        assert_eq!(char_to_byte_spans(t, &[4..10]).unwrap(), [5..12]);
        assert!(matches!(phrases_from_spans(t, &[3..5]), Err(TextError::NotCharBoundary { offset: 3, .. })));
        assert!(matches!(char_to_byte_spans(t, &[4..11]), Err(TextError::OutOfRange { len: 10, unit: "char", .. })));
        assert_eq!(byte_to_char_offset(t, 5), Some(4));
        assert_eq!(byte_to_char_offset(t, 3), None);
        assert_eq!(byte_to_char_offset(t, 99), None);
    }
}
