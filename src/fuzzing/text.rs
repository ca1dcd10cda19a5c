//! Fuzz targets: the text stage (words, sentences, markers, chunker, explicit spans) and
//! tokenisation plus prompt building on a fixture vocabulary.

use crate::descriptors::{VocabCasing, check_ci_fits, ci_prompt, cs_prompt};
use crate::mlm::tokenizer::WordPieceTokenizer;
use crate::text::{
    ChunkOptions, MarkedSentence, Phrase, Word, auto_phrases_with, byte_to_char_offset, char_byte_offsets, char_to_byte_spans,
    parse_markers, phrases_from_spans, select_phrases, sentence_words, sentences, split_words, whitespace_words,
};
use std::ops::Range;
use std::path::Path;
use std::sync::OnceLock;

/// How many characters the O(n) [`byte_to_char_offset`] is checked at (the rest of a long
/// input is covered by the word and sentence edges): keeps an execution linear in the input.
const CHAR_CHECKS: usize = 64;

/// Every text-stage entry point on the input read as (lossy) UTF-8, with their promises:
/// words are non-empty whitespace-free slices of the text at their offsets, in order and
/// disjoint; sentences are trimmed, ordered, disjoint and cover every non-whitespace byte;
/// phrases are sorted, non-overlapping and inside their word list; char and byte offsets
/// round-trip; the byte ranges of automatic phrases, given back as explicit spans (in bytes and
/// in chars), select the same phrases; spans built from the input's first bytes either fail
/// with an error or select phrases inside the spans.
pub fn text_stage(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let text = text.as_ref();

    check_char_offsets(text);

    let ws = whitespace_words(text);
    check_words(text, &ws, true);
    let words = split_words(text);
    check_words(text, &words, true);

    let sents = sentences(text);
    check_sentences(text, &sents);
    for r in &sents {
        check_words(text, &sentence_words(text, r.clone()), true);
    }

    for detached_punctuation in [false, true] {
        let phrases = auto_phrases_with(&words, &ChunkOptions { detached_punctuation });
        check_phrases(&words, &phrases, false);
        if !detached_punctuation {
            spans_reselect_phrases(text, &words, &phrases);
        }
    }

    let marked = parse_markers(text);
    check_marked(text, &marked);
    let selected = select_phrases(text);
    check_marked(text, &selected);

    arbitrary_spans(text, data);
}

/// `char_byte_offsets` lists every char boundary once, in order, ending at the length, and
/// `byte_to_char_offset` inverts it (and refuses offsets inside a character).
fn check_char_offsets(text: &str) {
    let at = char_byte_offsets(text);
    assert_eq!(at.len(), text.chars().count() + 1, "one offset per char plus the end");
    assert_eq!(at.last(), Some(&text.len()));
    assert!(at.windows(2).all(|w| w[0] < w[1]), "offsets strictly increase");
    for (i, &b) in at.iter().enumerate().take(CHAR_CHECKS) {
        assert!(text.is_char_boundary(b));
        assert_eq!(byte_to_char_offset(text, b), Some(i), "byte {b} is char {i}");
        if b + 1 < text.len() && !text.is_char_boundary(b + 1) {
            assert_eq!(byte_to_char_offset(text, b + 1), None, "byte {} is inside a char", b + 1);
        }
    }
    assert_eq!(byte_to_char_offset(text, text.len() + 1), None);
}

fn check_words(text: &str, words: &[Word], non_empty: bool) {
    let mut prev_end = 0;
    for w in words {
        assert!(w.start <= w.end && w.end <= text.len(), "word {w:?} inside the text");
        assert!(w.start >= prev_end, "words in order and disjoint: {w:?} after {prev_end}");
        assert_eq!(text.get(w.start..w.end), Some(w.text.as_str()), "word text is its slice");
        if non_empty {
            assert!(!w.text.is_empty(), "no empty word");
        }
        assert!(!w.text.chars().any(char::is_whitespace), "no whitespace in {w:?}");
        prev_end = w.end;
    }
}

fn check_sentences(text: &str, sents: &[Range<usize>]) {
    let mut prev_end = 0;
    for r in sents {
        assert!(r.start >= prev_end && r.start < r.end && r.end <= text.len(), "sentence {r:?} ordered, non-empty, inside");
        let s = text.get(r.clone()).expect("sentence on char boundaries");
        assert_eq!(s, s.trim(), "sentence {r:?} is trimmed");
        assert!(!text[prev_end..r.start].chars().any(|c| !c.is_whitespace()), "non-whitespace between sentences before {r:?}");
        prev_end = r.end;
    }
    assert!(!text[prev_end..].chars().any(|c| !c.is_whitespace()), "non-whitespace after the last sentence");
}

/// Sorted, non-overlapping, each a non-empty range inside `words` (an empty phrase is allowed
/// only as a marker-mode blank slot: one empty word).
fn check_phrases(words: &[Word], phrases: &[Phrase], blank_slots: bool) {
    let mut prev_end = 0;
    for p in phrases {
        assert!(p.words.start < p.words.end && p.words.end <= words.len(), "phrase {p:?} inside {} words", words.len());
        assert!(p.words.start >= prev_end, "phrases sorted and non-overlapping: {p:?} after {prev_end}");
        if !blank_slots {
            assert!(p.slice(words).iter().all(|w| !w.text.is_empty()));
        }
        assert!(p.byte_range(words).is_some());
        prev_end = p.words.end;
    }
}

fn check_marked(text: &str, m: &MarkedSentence) {
    let mut prev_end = 0;
    for w in &m.words {
        assert!(w.start >= prev_end && w.start <= w.end && w.end <= text.len(), "word {w:?} ordered and inside");
        assert_eq!(text.get(w.start..w.end), Some(w.text.as_str()), "word text is its slice");
        prev_end = w.end;
    }
    check_phrases(&m.words, &m.phrases, true);
}

/// The byte ranges of automatic phrases over [`split_words`] are valid explicit spans that give
/// back the same words and phrases; the same spans in characters convert back to the bytes.
fn spans_reselect_phrases(text: &str, words: &[Word], phrases: &[Phrase]) {
    let spans: Vec<Range<usize>> = phrases.iter().map(|p| p.byte_range(words).expect("checked phrase")).collect();
    let m = phrases_from_spans(text, &spans).unwrap_or_else(|e| panic!("spans {spans:?} of automatic phrases refused: {e}"));
    assert_eq!(m.words, words, "spans on word edges split no word");
    assert_eq!(m.phrases, phrases, "spans give back their phrases");
    let chars: Vec<Range<usize>> = spans
        .iter()
        .map(|s| byte_to_char_offset(text, s.start).expect("span start on a boundary")..byte_to_char_offset(text, s.end).expect("end"))
        .collect();
    assert_eq!(char_to_byte_spans(text, &chars).as_ref(), Ok(&spans), "char spans convert back to the byte spans");
}

/// Up to four character spans read from the input's first eight bytes: either an error, or byte
/// spans on char boundaries whose phrases lie inside them.
fn arbitrary_spans(text: &str, data: &[u8]) {
    let chars: Vec<Range<usize>> = data.chunks_exact(2).take(4).map(|p| usize::from(p[0])..usize::from(p[1])).collect();
    let Ok(bytes) = char_to_byte_spans(text, &chars) else { return };
    for (c, b) in chars.iter().zip(&bytes) {
        assert!(text.is_char_boundary(b.start) && text.is_char_boundary(b.end) && b.end <= text.len());
        assert_eq!(text[..b.start].chars().count(), c.start, "char span {c:?} starts at byte {}", b.start);
        assert_eq!(text[b.start..b.end].chars().count(), c.len(), "char span {c:?} is {b:?} in bytes");
    }
    let Ok(m) = phrases_from_spans(text, &bytes) else { return };
    check_marked(text, &m);
    check_phrases(&m.words, &m.phrases, false);
    let mut sorted = bytes.clone();
    sorted.sort_by_key(|s| (s.start, s.end));
    assert_eq!(m.phrases.len(), sorted.len(), "one phrase per span");
    for (p, s) in m.phrases.iter().zip(&sorted) {
        let r = p.byte_range(&m.words).expect("checked phrase");
        assert!(r.start >= s.start && r.end <= s.end, "phrase {r:?} inside its span {s:?}");
    }
}

/// The fixture vocabulary's tokenizer, loaded once per process (a fuzzer runs millions of
/// inputs against it).
fn fixture_tokenizer() -> &'static (WordPieceTokenizer, VocabCasing) {
    static TOK: OnceLock<(WordPieceTokenizer, VocabCasing)> = OnceLock::new();
    TOK.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/fixtures/tiny-bert-cased");
        let tok = WordPieceTokenizer::from_dir(&dir, None).unwrap_or_else(|e| panic!("{}: fixture tokenizer: {e:#}", dir.display()));
        let casing = VocabCasing::new(tok.vocab());
        (tok, casing)
    })
}

/// A model's maximum input length in the prompts: small, so the CS window logic (dropping
/// words around the phrase) runs on short inputs too.
const MAX_LEN: usize = 24;

/// Tokenisation plus CS/CI prompt building on the fixture vocabulary, for each sentence of the
/// input and each automatic phrase (plus one phrase chosen by the first byte): encoding never
/// fails on valid UTF-8, offsets lie inside the text, every id is in the vocabulary, each prompt
/// has `[CLS]`..`[SEP]` and its reads point at `[MASK]` (or `[CLS]`), a CS prompt always fits
/// `MAX_LEN` (its window drops context words) and `check_ci_fits` agrees with the CI length.
pub fn tokenize_prompt(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (tok, casing) = fixture_tokenizer();
    let n_vocab = tok.vocab_size();
    let enc = tok.encode(text, true).unwrap_or_else(|e| panic!("encode failed: {e:#}"));
    assert_eq!(enc.ids.len(), enc.offsets.len());
    assert!(enc.ids.iter().all(|&id| (id as usize) < n_vocab), "ids inside the vocabulary");
    for &(a, b) in &enc.offsets {
        assert!(a <= b && b <= text.len(), "offset {a}..{b} inside {} bytes", text.len());
    }

    let words = split_words(text);
    let terms: Vec<String> = words.iter().map(|w| crate::text::prompt_word(&w.text)).collect();
    let mut phrases: Vec<Range<usize>> = crate::text::auto_phrases(&words).into_iter().map(|p| p.words).take(8).collect();
    if let Some(&b) = data.first()
        && !terms.is_empty()
    {
        let i = usize::from(b) % terms.len();
        phrases.push(i..terms.len().min(i + 1 + usize::from(b >> 6)));
    }
    for r in phrases {
        let cs = cs_prompt(tok, &terms, r.clone(), MAX_LEN).unwrap_or_else(|e| panic!("cs prompt for {r:?}: {e:#}"));
        check_prompt(tok, &cs.input.ids, &cs.input.reads, &cs.at_cls, n_vocab);
        // the phrase is one [MASK]: the context window around it always fits
        assert!(cs.input.ids.len() <= MAX_LEN, "CS prompt of {} ids longer than {MAX_LEN}", cs.input.ids.len());
        for use_cls in [false, true] {
            let ci = ci_prompt(tok, casing, &terms[r.clone()], use_cls).unwrap_or_else(|e| panic!("ci prompt for {r:?}: {e:#}"));
            check_prompt(tok, &ci.input.ids, &ci.input.reads, &ci.at_cls, n_vocab);
            assert_eq!(ci.input.reads.len(), if use_cls { 2 } else { 1 });
            let fits = check_ci_fits(&ci, MAX_LEN);
            assert_eq!(fits.is_ok(), ci.input.ids.len() <= MAX_LEN, "check_ci_fits agrees with the length");
        }
    }
    assert!(cs_prompt(tok, &terms, 0..0, MAX_LEN).is_err(), "an empty phrase is refused");
}

fn check_prompt(tok: &WordPieceTokenizer, ids: &[u32], reads: &[usize], at_cls: &[bool], n_vocab: usize) {
    assert_eq!(ids.first(), Some(&tok.cls));
    assert_eq!(ids.last(), Some(&tok.sep));
    assert!(ids.iter().all(|&id| (id as usize) < n_vocab), "prompt ids inside the vocabulary");
    assert_eq!(reads.len(), at_cls.len());
    for (&r, &cls) in reads.iter().zip(at_cls) {
        assert_eq!(ids.get(r), Some(if cls { &tok.cls } else { &tok.mask }), "read {r} of {ids:?}");
    }
}
