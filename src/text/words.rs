//! Tokenisation into [`Word`]s with byte offsets.
//!
//! [`whitespace_words`] is the reference's marker-mode split. [`split_words`] is for raw text in
//! automatic mode: the reference sends such text to a POS-tagger wrapper that splits
//! punctuation off words, and the chunker needs the same so that `cancer,` and `(EGFR)` reach
//! it as `cancer` `,` and `(` `EGFR` `)`.

use super::Word;
use super::lexicon::{Abbrev, lexicon};

/// Splits on Unicode whitespace (`char::is_whitespace`), like Python's `str.split()` in the
/// reference's marker mode. Never yields an empty word.
pub fn whitespace_words(text: &str) -> Vec<Word> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                out.push(Word::new(&text[s..i], s));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push(Word::new(&text[s..], s));
    }
    out
}

/// Whitespace split, then punctuation split off the edges of each word.
///
/// Rules (each whitespace word is peeled from the left, then from the right, one character
/// at a time, while more than one character is left):
/// * always split off at an edge: `, : ; ! ? / % $ > < =`, double quotes (`" “ ” „ « »`),
///   `…`, en and em dashes;
/// * brackets `( ) [ ] { }` are split off unless they belong inside the word: `Ca(2+)`,
///   `(+)-catechin` and `IL-2(+)` stay whole, `(APC)` gives `(` `APC` `)`;
/// * single quotes are split off as quotes (`'word'`), but `'s`-style clitics, `'90s` and a
///   plural possessive `patients'` stay whole;
/// * a final `.` is split off unless the word is an abbreviation: the list in
///   `descriptors/chunker/abbreviations.txt` (`Dr.`, `et al.`, `Fig.` before a number),
///   letter-dot initialisms (`U.S.`, `e.g.`) and capital initials (`J.`); a run of dots
///   (`...`) is one word;
/// * nothing is split inside a word: `Parkinson's`, `IL-2`, `anti-inflammatory`, `3.5`,
///   `1,000`, `N,N-dimethylformamide`, `and/or`, URLs stay whole (the reference's wrapper
///   also splits inside words, which breaks chemical names; we keep them).
pub fn split_words(text: &str) -> Vec<Word> {
    let ws = whitespace_words(text);
    let mut out = Vec::with_capacity(ws.len() + ws.len() / 4);
    for (i, w) in ws.iter().enumerate() {
        let next = ws.get(i + 1).map(|n| n.text.as_str());
        peel(&w.text, w.start, next, &mut out);
    }
    out
}

const ALWAYS_EDGE: &[char] =
    &[',', ':', ';', '!', '?', '/', '%', '$', '>', '<', '=', '"', '“', '”', '„', '«', '»', '…', '—', '–', '¡', '¿'];

fn is_open(c: char) -> bool {
    matches!(c, '(' | '[' | '{')
}

fn is_close(c: char) -> bool {
    matches!(c, ')' | ']' | '}')
}

fn partner(c: char) -> char {
    match c {
        '(' => ')',
        '[' => ']',
        '{' => '}',
        ')' => '(',
        ']' => '[',
        '}' => '{',
        other => other,
    }
}

fn is_single_quote(c: char) -> bool {
    matches!(c, '\'' | '‘' | '’' | '`')
}

/// Index of the bracket closing the one at `open`, within `chars[open..hi]`.
fn matching_close(chars: &[(usize, char)], open: usize, hi: usize) -> Option<usize> {
    let (o, c) = (chars[open].1, partner(chars[open].1));
    let mut depth = 0usize;
    for (k, &(_, ch)) in chars.iter().enumerate().take(hi).skip(open) {
        if ch == o {
            depth += 1;
        } else if ch == c {
            depth = depth.saturating_sub(1);
            if depth == 0 {
                return Some(k);
            }
        }
    }
    None
}

/// Whether the closing bracket at `hi - 1` closes a bracket opened inside `chars[lo..hi-1]`.
fn closes_inside(chars: &[(usize, char)], lo: usize, hi: usize) -> bool {
    let c = chars[hi - 1].1;
    let o = partner(c);
    let mut depth = 0i64;
    for &(_, ch) in &chars[lo..hi - 1] {
        if ch == o {
            depth += 1;
        } else if ch == c {
            depth -= 1;
        }
    }
    depth > 0
}

const CLITICS: &[&str] = &["s", "re", "ve", "ll", "d", "m", "t", "em", "n", "tis"];

/// Whether the character at `lo` comes off the front of the word `chars[lo..hi]`; sets
/// `quoted` when it is an opening quote (so a closing `'` comes off too).
fn splits_lead(chars: &[(usize, char)], lo: usize, hi: usize, quoted: &mut bool) -> bool {
    let c = chars[lo].1;
    if is_open(c) {
        // keep a bracket group that sits inside the word: (+)-catechin, (S)-ibuprofen
        // (the closer is followed by more word, not by trailing punctuation)
        !matches!(matching_close(chars, lo, hi), Some(k) if k + 1 < hi && (chars[k + 1].1.is_alphanumeric() || chars[k + 1].1 == '-'))
    } else if is_close(c) {
        true
    } else if is_single_quote(c) {
        let rest: String = chars[lo + 1..hi].iter().map(|x| x.1).collect();
        let rest = rest.trim_end_matches(|ch: char| !ch.is_alphanumeric()).to_lowercase();
        let keep = chars[lo + 1].1.is_ascii_digit() || CLITICS.contains(&rest.as_str());
        if !keep {
            *quoted = true;
        }
        !keep
    } else {
        ALWAYS_EDGE.contains(&c)
    }
}

fn peel(token: &str, base: usize, next: Option<&str>, out: &mut Vec<Word>) {
    let chars: Vec<(usize, char)> = token.char_indices().collect();
    let byte = |k: usize| chars.get(k).map_or(token.len(), |c| c.0);
    let (mut lo, mut hi) = (0usize, chars.len());
    let mut lead: Vec<(usize, usize)> = Vec::new();
    let mut trail: Vec<(usize, usize)> = Vec::new();
    let mut quoted = false;
    while hi - lo > 1 && splits_lead(&chars, lo, hi, &mut quoted) {
        lead.push((lo, lo + 1));
        lo += 1;
    }
    while hi - lo > 1 {
        let c = chars[hi - 1].1;
        if c == '.' {
            let dots = chars[lo..hi].iter().rev().take_while(|x| x.1 == '.').count();
            if dots == hi - lo {
                break; // the rest is all dots: one word
            }
            if dots >= 2 {
                trail.push((hi - dots, hi));
                hi -= dots;
                continue;
            }
            let core = &token[byte(lo)..byte(hi)];
            if lexicon().abbreviation(core, next).is_some() {
                break;
            }
            trail.push((hi - 1, hi));
            hi -= 1;
            continue;
        }
        let split = if is_close(c) {
            !closes_inside(&chars, lo, hi)
        } else if is_open(c) {
            true
        } else if is_single_quote(c) {
            // patients' (plural possessive) stays whole unless the word was quoted
            quoted || !matches!(chars[hi - 2].1, 's' | 'S')
        } else {
            ALWAYS_EDGE.contains(&c)
        };
        if !split {
            break;
        }
        trail.push((hi - 1, hi));
        hi -= 1;
    }
    let mut push = |a: usize, b: usize| {
        let (s, e) = (byte(a), byte(b));
        out.push(Word::new(&token[s..e], base + s));
    };
    for &(a, b) in &lead {
        push(a, b);
    }
    if lo < hi {
        push(lo, hi);
    }
    for &(a, b) in trail.iter().rev() {
        push(a, b);
    }
}

/// Kind of abbreviation, for the sentence splitter (same rules as [`split_words`]).
pub(crate) fn abbreviation(word: &str, next: Option<&str>) -> Option<Abbrev> {
    lexicon().abbreviation(word, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(s: &str) -> Vec<String> {
        split_words(s).into_iter().map(|w| w.text).collect()
    }

    #[test]
    fn whitespace_offsets() {
        let ws = whitespace_words("  a\u{3000}bc\td ");
        assert_eq!(ws.iter().map(|w| (w.text.as_str(), w.start, w.end)).collect::<Vec<_>>(), [("a", 2, 3), ("bc", 6, 8), ("d", 9, 10)]);
        assert!(whitespace_words("").is_empty());
        assert!(whitespace_words(" \n\t ").is_empty());
    }

    #[test]
    fn punctuation_edges() {
        assert_eq!(texts("cancer, (APC) and [x]!"), ["cancer", ",", "(", "APC", ")", "and", "[", "x", "]", "!"]);
        assert_eq!(texts("5% of $10 at p<0.05"), ["5", "%", "of", "$", "10", "at", "p<0.05"]);
        assert_eq!(texts("1,000 cells; 3.5 mg/kg: ok?"), ["1,000", "cells", ";", "3.5", "mg/kg", ":", "ok", "?"]);
        assert_eq!(
            texts("\"quoted\" 'single' patients' Parkinson's"),
            ["\"", "quoted", "\"", "'", "single", "'", "patients'", "Parkinson's"]
        );
        assert_eq!(texts("Ca(2+) (+)-catechin IL-2(+) anti-inflammatory"), ["Ca(2+)", "(+)-catechin", "IL-2(+)", "anti-inflammatory"]);
        assert_eq!(texts("(IL-2)."), ["(", "IL-2", ")", "."]);
    }

    #[test]
    fn dots() {
        assert_eq!(texts("Dr. Smith, e.g. the U.S. is 3.5."), ["Dr.", "Smith", ",", "e.g.", "the", "U.S.", "is", "3.5", "."]);
        assert_eq!(texts("see Fig. 3 and no. more"), ["see", "Fig.", "3", "and", "no", ".", "more"]);
        assert_eq!(texts("wait... J. Doe etc.)"), ["wait", "...", "J.", "Doe", "etc.", ")"]);
        assert_eq!(texts("... ."), ["...", "."]);
    }
}
