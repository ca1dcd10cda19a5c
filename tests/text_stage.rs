//! Stage 1 (text -> words -> phrases) through the public API: offsets, marker mode, explicit
//! spans, sentence splitting, punctuation splitting, automatic mode, and no panics on odd input.
#![allow(clippy::single_range_in_vec_init, clippy::reversed_empty_ranges)] // span lists are data here

mod common;

use maskner::text::{
    ChunkOptions, MarkedSentence, Phrase, TextError, Word, auto_phrases, auto_phrases_with, byte_to_char_offset, char_to_byte_spans,
    parse_markers, phrases_from_spans, select_phrases, sentences, split_words, whitespace_words,
};
use std::ops::Range;

fn texts(words: &[Word]) -> Vec<&str> {
    words.iter().map(|w| w.text.as_str()).collect()
}

fn joined(m: &MarkedSentence) -> Vec<String> {
    m.phrases.iter().map(|p| p.joined(&m.words)).collect()
}

fn auto(text: &str) -> Vec<String> {
    let w = split_words(text);
    auto_phrases(&w).iter().map(|p| p.joined(&w)).collect()
}

#[test]
fn byte_offsets_on_non_ascii_text() {
    let t = "Zoë Müller moved to Zürich.";
    let w = split_words(t);
    let got: Vec<(&str, usize, usize)> = w.iter().map(|w| (w.text.as_str(), w.start, w.end)).collect();
    assert_eq!(got, [("Zoë", 0, 4), ("Müller", 5, 12), ("moved", 13, 18), ("to", 19, 21), ("Zürich", 22, 29), (".", 29, 30)]);
    for w in &w {
        assert_eq!(&t[w.start..w.end], w.text);
    }
    // the output stage's conversion to character offsets
    assert_eq!(byte_to_char_offset(t, 22), Some(20));
    assert_eq!(byte_to_char_offset(t, 30), Some(27));
    assert_eq!(byte_to_char_offset(t, 3), None, "inside ë");
    assert_eq!(auto(t), ["Zoë Müller", "Zürich"]);
}

#[test]
fn marker_mode_runs_blank_slots_and_casing() {
    let m = parse_markers("Lou:__entity__ Gehrig:__entity__ who works in XCorp:__entity__ suffers from Parkinson's:__entity__");
    assert_eq!(joined(&m), ["Lou Gehrig", "XCorp", "Parkinson's"]);
    assert_eq!(m.phrases, [Phrase { words: 0..2 }, Phrase { words: 5..6 }, Phrase { words: 8..9 }]);
    // the marked word's offsets exclude the suffix
    assert_eq!((m.words[1].start, m.words[1].end), (15, 21));

    // casing is kept exactly (the reference's tokmod does not touch marked words)
    let m = parse_markers("SOCCER:__entity__ - JAPAN:__entity__ GET LUCKY WIN");
    assert_eq!(joined(&m), ["SOCCER", "JAPAN"]);

    // a standalone marker is an empty term and its own phrase, even next to marked words
    let t = "Staten is a :__entity__";
    let m = parse_markers(t);
    assert_eq!(texts(&m.words), ["Staten", "is", "a", ""]);
    assert_eq!(m.phrases, [Phrase { words: 3..4 }]);
    assert_eq!((m.words[3].start, m.words[3].end), (12, 12));
    let m = parse_markers("x:__entity__ :__entity__ y:__entity__");
    assert_eq!(m.phrases, [Phrase { words: 0..1 }, Phrase { words: 1..2 }, Phrase { words: 2..3 }]);

    // marker not at the end of the word: ordinary text, like the reference
    let m = parse_markers("cancer:__entity__, and more");
    assert!(m.phrases.is_empty());

    // select_phrases picks marker mode when a marker is present, else automatic mode
    assert_eq!(joined(&select_phrases("the EGFR:__entity__ gene")), ["EGFR"]);
    assert_eq!(joined(&select_phrases("the EGFR gene")), ["EGFR gene"]);
}

#[test]
fn marker_mode_on_the_reference_inputs() {
    // Every marked whitespace token is a phrase word and nothing else is.
    let Some(root) = common::benchmarks_dir() else { return };
    let text = std::fs::read_to_string(root.join("NCBI-disease/reference_sentences.txt")).unwrap();
    for line in text.lines().take(300) {
        let m = parse_markers(line);
        let raw: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(m.words.len(), raw.len());
        let mut marked = vec![false; raw.len()];
        for p in &m.phrases {
            for k in p.words.clone() {
                marked[k] = true;
            }
        }
        for (k, r) in raw.iter().enumerate() {
            assert_eq!(marked[k], r.ends_with(":__entity__"), "{line}");
        }
    }
}

#[test]
fn explicit_spans_and_their_errors() {
    let t = "Zoë has EGFR-mutant lung cancer, HIV/AIDS.";
    // char offsets, as a JSON client counts them
    let spans = char_to_byte_spans(t, &[(20..31), (8..12), (0..3)]).unwrap();
    let m = phrases_from_spans(t, &spans).unwrap();
    assert_eq!(joined(&m), ["Zoë", "EGFR", "lung cancer"]);
    // adjacent spans stay separate phrases
    let m = phrases_from_spans(t, &[34..37, 38..42]).unwrap();
    assert_eq!(joined(&m), ["HIV", "AIDS"]);

    let err = |spans: &[Range<usize>]| phrases_from_spans(t, spans).unwrap_err();
    assert!(matches!(err(&[9..12]), TextError::CutsWord { .. }));
    assert_eq!(err(&[9..12]).to_string(), "span 9..12 (\"EGF\") cuts the word \"EGFR-mutant\"");
    assert!(matches!(err(&[8..12, 10..14]), TextError::Overlap { .. }));
    assert!(matches!(err(&[12..8]), TextError::Reversed { .. }));
    assert!(matches!(err(&[8..8]), TextError::Empty { .. }));
    assert_eq!(err(&[40..50]).to_string(), "span 40..50 is out of range: the text has 43 bytes");
    assert!(matches!(err(&[3..5]), TextError::NotCharBoundary { offset: 3, .. }));
    assert!(matches!(err(&[2..4]), TextError::CutsWord { .. }), "between o and ë");
    assert!(matches!(err(&[4..5]), TextError::NoWord { .. }));
    assert!(matches!(char_to_byte_spans(t, &[40..43]), Err(TextError::OutOfRange { unit: "char", len: 42, .. })));
    assert!(matches!(char_to_byte_spans(t, &[0..5, 4..6]), Err(TextError::Overlap { .. })));
    for e in [err(&[9..12]), err(&[8..12, 10..14]), err(&[12..8]), err(&[40..50]), err(&[4..5])] {
        assert!(!e.to_string().contains('\n'));
    }
}

#[test]
fn sentence_splitting() {
    let t = "Dr. Smith et al. measured 3.5 mg of drug, e.g. aspirin. The U.S. trial ended in 2005. \
             2006 was worse! See Fig. 2 for details.\n\nA new paragraph\nwraps here";
    let got: Vec<&str> = sentences(t).into_iter().map(|r| &t[r]).collect();
    assert_eq!(
        got,
        [
            "Dr. Smith et al. measured 3.5 mg of drug, e.g. aspirin.",
            "The U.S. trial ended in 2005.",
            "2006 was worse!",
            "See Fig. 2 for details.",
            "A new paragraph\nwraps here"
        ]
    );
    assert_eq!(sentences("He works at Acme Inc. The firm grew."), [0..21, 22..36]);
    assert!(sentences("").is_empty());
}

#[test]
fn punctuation_splitting() {
    let w = split_words("In (Smith, 2005): 1,000 cells; 5% had IL-2, anti-inflammatory [x] e.g. Dr. Jones' U.S. data.");
    assert_eq!(
        texts(&w),
        [
            "In",
            "(",
            "Smith",
            ",",
            "2005",
            ")",
            ":",
            "1,000",
            "cells",
            ";",
            "5",
            "%",
            "had",
            "IL-2",
            ",",
            "anti-inflammatory",
            "[",
            "x",
            "]",
            "e.g.",
            "Dr.",
            "Jones'",
            "U.S.",
            "data",
            "."
        ]
    );
    let w = split_words("$5 <0.05 =3 x/ \"Parkinson's\" 'quoted' wait...");
    assert_eq!(texts(&w), ["$", "5", "<", "0.05", "=", "3", "x", "/", "\"", "Parkinson's", "\"", "'", "quoted", "'", "wait", "..."]);
    assert_eq!(texts(&whitespace_words("a,b  c.")), ["a,b", "c."]);
}

#[test]
fn capital_initials_and_the_page_abbreviation() {
    // `p.` is listed (as `p. 12`); it must not hide the capital initial `P.` that `J.` shows
    assert_eq!(texts(&split_words("He met P. Simmons")), ["He", "met", "P.", "Simmons"]);
    assert_eq!(texts(&split_words("He met J. Simmons")), ["He", "met", "J.", "Simmons"]);
    assert_eq!(texts(&split_words("see p. 12 and P. 13")), ["see", "p.", "12", "and", "P.", "13"]);
    // a lower-case `p.` not before a number is a word and a full stop
    assert_eq!(texts(&split_words("the value of p. The")), ["the", "value", "of", "p", ".", "The"]);
    assert_eq!(sentences("He met P. Simmons. See p. 12 now."), [0..18, 19..33]);
    assert_eq!(auto("He met P. Simmons"), ["P. Simmons"]);
}

#[test]
fn automatic_mode_examples() {
    assert_eq!(
        auto("Mutations in the EGFR gene predict response to gefitinib in lung cancer ."),
        ["Mutations", "EGFR gene", "response", "gefitinib", "lung cancer"]
    );
    assert_eq!(auto("Her hypophysitis was treated with high-dose prednisone."), ["hypophysitis", "high-dose prednisone"]);
    assert_eq!(auto("President Barack Obama visited Berlin on Monday."), ["President", "Barack Obama", "Berlin", "Monday"]);
    assert_eq!(auto("I think that the drug causes liver damage in some patients."), ["drug", "liver damage", "patients"]);
    assert_eq!(auto("Staten Island is a borough of New York City."), ["Staten Island", "borough", "New York City"]);
    // gold-file tokenisation with detached hyphens and decimals
    let w = whitespace_words("Serum IL - 2 levels increased 2 . 5 - fold after lead - induced hypertension .");
    let p: Vec<String> = auto_phrases_with(&w, &ChunkOptions { detached_punctuation: true }).iter().map(|p| p.joined(&w)).collect();
    assert_eq!(p, ["Serum IL - 2", "levels", "2 . 5 - fold", "lead", "hypertension"]);
}

/// Checks the invariants every output must satisfy.
fn check_invariants(text: &str) {
    for words in [whitespace_words(text), split_words(text)] {
        let mut last_end = 0;
        for w in &words {
            assert!(w.start >= last_end && w.start < w.end && w.end <= text.len());
            assert_eq!(&text[w.start..w.end], w.text);
            last_end = w.end;
        }
        for opts in [ChunkOptions::default(), ChunkOptions { detached_punctuation: true }] {
            let ps = auto_phrases_with(&words, &opts);
            let mut prev = 0;
            for p in &ps {
                assert!(p.words.start >= prev && p.words.start < p.words.end && p.words.end <= words.len());
                prev = p.words.end;
            }
        }
    }
    let m = parse_markers(text);
    for w in &m.words {
        assert_eq!(&text[w.start..w.end], w.text);
    }
    for p in &m.phrases {
        assert!(p.words.end <= m.words.len() && p.byte_range(&m.words).is_some());
    }
    // every non-whitespace byte in exactly one sentence
    let ranges = sentences(text);
    let mut owner = vec![0u8; text.len()];
    for r in &ranges {
        assert!(r.start < r.end && text.is_char_boundary(r.start) && text.is_char_boundary(r.end));
        for b in r.clone() {
            owner[b] += 1;
        }
    }
    for (i, c) in text.char_indices() {
        if !c.is_whitespace() {
            assert_eq!(owner[i], 1, "byte {i} of {text:?}");
        }
    }
    let _ = select_phrases(text);
    let n = text.chars().count();
    let _ = char_to_byte_spans(text, &[0..n, n / 2..n / 2 + 1]);
    let _ = phrases_from_spans(text, &[0..text.len()]);
    let _ = phrases_from_spans(text, &[1..2, 0..1]);
}

#[test]
fn no_panics_on_odd_input() {
    let long_word = "x".repeat(200_000);
    let long_punct = "(".repeat(10_000) + &")".repeat(10_000) + &".".repeat(5_000);
    let many_words = "Word ".repeat(50_000);
    let odd = [
        "",
        " ",
        "\n\n\n",
        ".",
        "...",
        "!?!?",
        "( [ { } ] )",
        "'\"'\"",
        ":__entity__",
        ":__entity__:__entity__",
        "a:__entity__b",
        "e\u{301}te\u{301} cafe\u{301}.", // combining accents
        "👩‍👩‍👧 family 🇫🇷 flag.",             // ZWJ sequences and flags
        "مرحبا بالعالم. שלום עולם!",      // right-to-left scripts
        "日本語の文章です。次の文。",
        "zero\u{200B}width\u{00A0}nbsp\u{2029}para\u{0085}nel",
        "\u{0}\u{1}\u{7f} control",
        "İstanbul ǅemal ﬁ ß ΣΑΣ", // case mappings that change length
        "U.S. e.g. Dr. Fig. no. 3.5. J. ",
        "I' ' 's ’s '' A I",
        long_word.as_str(),
        long_punct.as_str(),
        many_words.as_str(),
    ];
    for t in odd {
        check_invariants(t);
    }
    // pseudo-random strings over a nasty alphabet
    let pool: Vec<char> = "aZ9 .,;:!?()[]{}'\"-/%$<>=…—–\n\t\u{a0}ëß日👍\u{301}:__entity__IAs".chars().collect();
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..2000 {
        let len = (x % 40) as usize;
        let mut s = String::new();
        for _ in 0..len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            s.push(pool[(x % pool.len() as u64) as usize]);
        }
        check_invariants(&s);
    }
}

#[test]
fn types_serialize() {
    let m = phrases_from_spans("EGFR gene", &[0..4]).unwrap();
    let j = serde_json::to_string(&m).unwrap();
    assert_eq!(
        j,
        r#"{"words":[{"text":"EGFR","start":0,"end":4},{"text":"gene","start":5,"end":9}],"phrases":[{"words":{"start":0,"end":1}}]}"#
    );
}
