//! Marker mode, exactly as the reference (ALGORITHM.md §3.2): the caller marks the words of
//! each phrase with a `:__entity__` suffix, so no chunker is needed.

use super::{MarkedSentence, Phrase, Word, whitespace_words};

/// The reference's phrase marker, appended to every word of a phrase.
pub const MARKER: &str = ":__entity__";

/// Whether the reference would run `text` in marker mode.
pub fn has_markers(text: &str) -> bool {
    text.contains(MARKER)
}

/// Marker mode. Words are whitespace words; a word *ending* in [`MARKER`] loses the suffix and
/// is a phrase word (its offsets cover the word without the suffix; casing is kept as given).
/// A maximal run of consecutive marked words is one phrase (so two adjacent entities cannot be
/// told apart, as in the reference). A standalone `:__entity__` is an empty term (`start ==
/// end`, a blank slot as in `Staten is a :__entity__`) and always its own phrase. A marker that
/// is not at the end of its word (`x:__entity__,`) is ordinary text, as in the reference.
pub fn parse_markers(text: &str) -> MarkedSentence {
    let mut words = Vec::new();
    let mut phrases: Vec<Phrase> = Vec::new();
    let mut run: Option<usize> = None;
    for w in whitespace_words(text) {
        let i = words.len();
        match w.text.strip_suffix(MARKER) {
            Some("") => {
                if let Some(s) = run.take() {
                    phrases.push(Phrase { words: s..i });
                }
                words.push(Word { text: String::new(), start: w.start, end: w.start });
                phrases.push(Phrase { words: i..i + 1 });
            }
            Some(stem) => {
                run.get_or_insert(i);
                words.push(Word::new(stem, w.start));
            }
            None => {
                if let Some(s) = run.take() {
                    phrases.push(Phrase { words: s..i });
                }
                words.push(w);
            }
        }
    }
    if let Some(s) = run {
        phrases.push(Phrase { words: s..words.len() });
    }
    MarkedSentence { words, phrases }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_and_blank_slots() {
        let m = parse_markers("Lou:__entity__ Gehrig:__entity__ works in XCorp:__entity__ :__entity__ x");
        let t: Vec<&str> = m.words.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(t, ["Lou", "Gehrig", "works", "in", "XCorp", "", "x"]);
        assert_eq!(m.phrases, [Phrase { words: 0..2 }, Phrase { words: 4..5 }, Phrase { words: 5..6 }]);
        assert_eq!((m.words[1].start, m.words[1].end), (15, 21));
        assert_eq!((m.words[4].start, m.words[5].start, m.words[5].end), (42, 59, 59));
    }

    #[test]
    fn no_markers() {
        let m = parse_markers("plain text, x:__entity__,");
        assert!(m.phrases.is_empty());
        assert_eq!(m.words.len(), 3);
    }
}
