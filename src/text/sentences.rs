//! Rule-based sentence splitting for long texts in automatic mode.
//!
//! The masked-LM stage works on one sentence at a time (the reference truncates anything over
//! 500 word pieces), so a document is cut into sentences first. The rules work on whitespace
//! words, so every non-whitespace byte lands in exactly one sentence.

use super::lexicon::{Abbrev, Class, lexicon};
use super::words::{abbreviation, whitespace_words};
use std::ops::Range;

const CLOSERS: &[char] = &['"', '\'', '”', '’', ')', ']', '}', '»'];
const OPENERS: &[char] = &['"', '\'', '“', '‘', '(', '[', '{', '«', '¿', '¡'];

/// Byte ranges of the sentences of `text`, in order, each trimmed of surrounding whitespace.
///
/// A sentence ends after a whitespace word when:
/// 1. the gap to the next word holds a blank line (two or more `\n`) or a Unicode paragraph
///    separator (U+2029): paragraphs always end sentences; or
/// 2. the word ends (before any closing quotes/brackets) with `.`, `!`, `?` or `…`, and the
///    next word starts (after any opening quotes/brackets) with an upper-case letter or a
///    digit, unless the ending is an abbreviation's dot:
///    * listed abbreviations (`Dr.`, `e.g.`, `et al.`, `Fig.`/`No.` before a number) never end
///      a sentence;
///    * `final` abbreviations (`Inc.`, `etc.`), initialisms (`U.S.`) and capital initials (`J.`)
///      end one only when the next word is a capitalised function word (`The`, `In`, `We`).
///
/// Decimals (`3.5`) never split (no whitespace after the dot). A single newline inside a
/// paragraph is ordinary whitespace (hard-wrapped text). Whitespace-only text gives no
/// sentences.
pub fn sentences(text: &str) -> Vec<Range<usize>> {
    let words = whitespace_words(text);
    let mut out = Vec::new();
    let Some(first) = words.first() else { return out };
    let mut start = first.start;
    for (i, w) in words.iter().enumerate() {
        let Some(next) = words.get(i + 1) else {
            out.push(start..w.end);
            break;
        };
        let gap = &text[w.end..next.start];
        let paragraph = gap.matches('\n').count() >= 2 || gap.contains('\u{2029}');
        if paragraph || ends_sentence(&w.text, &next.text) {
            out.push(start..w.end);
            start = next.start;
        }
    }
    out
}

fn ends_sentence(word: &str, next: &str) -> bool {
    let core = word.trim_end_matches(CLOSERS);
    let Some(last) = core.chars().last() else { return false };
    if !matches!(last, '.' | '!' | '?' | '…') {
        return false;
    }
    let next_core = next.trim_start_matches(OPENERS);
    let Some(n0) = next_core.chars().next() else { return false };
    if !(n0.is_uppercase() || n0.is_ascii_digit()) {
        return false;
    }
    // Only a single dot after a letter can be an abbreviation's (not "?", "...", "3.").
    let bare = core.trim_start_matches(OPENERS);
    let before_dot = bare.strip_suffix('.').and_then(|b| b.chars().last());
    if last != '.' || !before_dot.is_some_and(char::is_alphabetic) {
        return true;
    }
    match abbreviation(bare, Some(next_core)) {
        None => true,
        Some(Abbrev::Plain) | Some(Abbrev::Number) => false,
        Some(Abbrev::Final) => starts_with_function_word(next_core),
    }
}

/// `The`, `In`, `We`...: a capitalised closed-class word, which rarely follows an abbreviation
/// inside a sentence.
fn starts_with_function_word(word: &str) -> bool {
    let w = word.trim_end_matches(|c: char| !c.is_alphanumeric()).to_lowercase();
    matches!(
        lexicon().class(&w),
        Some(
            Class::Determiner | Class::Pronoun | Class::Preposition | Class::Conjunction | Class::Adverb | Class::Auxiliary | Class::Modal
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(t: &str) -> Vec<&str> {
        sentences(t).into_iter().map(|r| &t[r]).collect()
    }

    #[test]
    fn basic_and_abbreviations() {
        assert_eq!(split("It works. It really does! Does it? Yes."), ["It works.", "It really does!", "Does it?", "Yes."]);
        assert_eq!(split("Dr. Smith saw e.g. Mr. Jones. Then he left."), ["Dr. Smith saw e.g. Mr. Jones.", "Then he left."]);
        assert_eq!(split("See Fig. 3 for details. The value was 3.5 mg."), ["See Fig. 3 for details.", "The value was 3.5 mg."]);
        assert_eq!(
            split("He moved to the U.S. The rest stayed. J. Smith agreed."),
            ["He moved to the U.S.", "The rest stayed.", "J. Smith agreed."]
        );
        assert_eq!(split("It rose in 2005. 2006 was worse."), ["It rose in 2005.", "2006 was worse."]);
        assert_eq!(split("a b. c d"), ["a b. c d"]);
        assert_eq!(split("He said \"Stop.\" Then (Later) went."), ["He said \"Stop.\"", "Then (Later) went."]);
    }

    #[test]
    fn paragraphs_and_edges() {
        assert_eq!(split("Title line\n\nBody text here\nwrapped line"), ["Title line", "Body text here\nwrapped line"]);
        assert!(sentences("").is_empty());
        assert!(sentences(" \n ").is_empty());
        assert_eq!(split("  ...  "), ["..."]);
    }
}
