//! Stage 1: text -> words -> phrases (ALGORITHM.md §3.2).
//!
//! The engine types *phrases*: runs of consecutive words, each masked as one unit later. This
//! module turns input text into [`Word`]s and picks the [`Phrase`]s to type, in one of three
//! modes:
//!
//! * **marker mode** ([`parse_markers`]), exactly as the reference: whitespace words, a word
//!   ending in [`MARKER`] (`:__entity__`) is a phrase word, a maximal run of marked words is one
//!   phrase, a standalone marker is an empty term (a blank slot) and its own phrase;
//! * **explicit spans** ([`phrases_from_spans`], API/JSON form): the caller gives byte spans
//!   (or char spans through [`char_to_byte_spans`]); words come from [`split_words`];
//! * **automatic mode** ([`auto_phrases`]): an in-process rule and lexicon chunker that stands in
//!   for the reference's external POS-tagger service and its noun-run rule (see
//!   `docs/chunker.md` for the rules and measured agreement with gold spans).
//!
//! Long raw texts are first cut with [`sentences`]. [`select_phrases`] is the one-call entry
//! that picks marker or automatic mode the way the reference does.
//!
//! **Offsets are byte offsets** into the caller's string: `text[w.start..w.end] == w.text` for
//! every word (a marked word's range and text both exclude the suffix). Byte offsets slice
//! Rust strings in O(1); the output stage converts them to character offsets for Hugging
//! Face-style output ([`byte_to_char_offset`] helps). Nothing here panics on any input.

mod chunker;
mod lexicon;
mod markers;
mod sentences;
mod spans;
mod words;

use serde::{Deserialize, Serialize};
use std::ops::Range;

pub use chunker::{ChunkOptions, auto_phrases, auto_phrases_with};
pub use markers::{MARKER, has_markers, parse_markers};
pub use sentences::sentences;
pub use spans::{byte_to_char_offset, char_byte_offsets, char_to_byte_spans, phrases_from_spans};
pub use words::{split_words, whitespace_words};

/// Whether the method appends a period to this sentence (§3.1): it does not end in
/// punctuation and is longer than one character.
pub fn appends_period(sentence: &str) -> bool {
    let trimmed = sentence.trim_end();
    !matches!(trimmed.chars().last(), Some('!' | ',' | '.' | ':' | ';' | '?')) && trimmed.chars().count() > 1
}

/// A word as a masked LM's prompt reads it: the reference's prompts turn `"` into `'`.
pub fn prompt_word(word: &str) -> String {
    word.replace('"', "'")
}

/// The words of the sentence at byte range `r` of `text`, with offsets into `text`.
pub fn sentence_words(text: &str, r: Range<usize>) -> Vec<Word> {
    split_words(&text[r.clone()]).into_iter().map(|w| Word { text: w.text, start: w.start + r.start, end: w.end + r.start }).collect()
}

/// One word of the input. `start..end` is a **byte** range of the original string.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Word {
    pub text: String,
    pub start: usize,
    pub end: usize,
}

impl Word {
    pub(crate) fn new(text: &str, start: usize) -> Word {
        Word { text: text.to_string(), start, end: start + text.len() }
    }
}

/// A phrase to type: the half-open range `words` of indices into its word list. Lists of
/// phrases are sorted and non-overlapping.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Phrase {
    pub words: Range<usize>,
}

impl Phrase {
    /// The phrase's words, or an empty slice if the range does not fit `words`.
    pub fn slice<'a>(&self, words: &'a [Word]) -> &'a [Word] {
        words.get(self.words.clone()).unwrap_or(&[])
    }

    /// Byte range in the original text from the first word's start to the last word's end
    /// (`None` for an empty or out-of-range phrase).
    pub fn byte_range(&self, words: &[Word]) -> Option<Range<usize>> {
        let w = self.slice(words);
        Some(w.first()?.start..w.last()?.end)
    }

    /// The phrase as the masked-LM stage sees it: its words joined by single spaces (the
    /// reference joins whitespace terms, so `IL - 2` stays spaced and a blank slot is `""`).
    pub fn joined(&self, words: &[Word]) -> String {
        let w: Vec<&str> = self.slice(words).iter().map(|w| w.text.as_str()).collect();
        w.join(" ")
    }
}

/// Words plus the phrases selected among them: the output of every phrase-selection mode.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarkedSentence {
    pub words: Vec<Word>,
    pub phrases: Vec<Phrase>,
}

/// One-call phrase selection as the reference does it: marker mode if the text contains
/// [`MARKER`], else automatic mode on [`split_words`] (the reference's POS path also splits
/// punctuation off words).
pub fn select_phrases(text: &str) -> MarkedSentence {
    if has_markers(text) {
        parse_markers(text)
    } else {
        let words = split_words(text);
        let phrases = auto_phrases(&words);
        MarkedSentence { words, phrases }
    }
}

/// Errors in caller-supplied spans. One line each; offsets are in the unit the caller used
/// (`unit` is "byte" or "char") and the offending text is quoted so the unit matters less.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("span {start}..{end} is reversed (start > end)")]
    Reversed { start: usize, end: usize },
    #[error("span {start}..{end} is empty")]
    Empty { start: usize, end: usize },
    #[error("span {start}..{end} is out of range: the text has {len} {unit}s")]
    OutOfRange { start: usize, end: usize, len: usize, unit: &'static str },
    #[error("span {start}..{end}: byte offset {offset} is not on a character boundary")]
    NotCharBoundary { start: usize, end: usize, offset: usize },
    #[error("spans {a:?} and {b:?} overlap")]
    Overlap { a: Range<usize>, b: Range<usize> },
    #[error("span {start}..{end} ({span:?}) cuts the word {word:?}")]
    CutsWord { start: usize, end: usize, span: String, word: String },
    #[error("span {start}..{end} ({span:?}) covers no word")]
    NoWord { start: usize, end: usize, span: String },
}
