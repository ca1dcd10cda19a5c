//! Descriptor stage: the CS and CI prompts of each phrase as token ids with an explicit mask
//! position, and the filtered top-k harvest of descriptors at the positions read
//! (ALGORITHM.md sections 3.3-3.5).
//!
//! Prompts are built from word pieces, never by writing the placeholder word `entity` into text
//! and masking every occurrence, so a real word "entity" in the input stays a word (§11.1).

use crate::aggregate::{Descriptor, ReadAt};
use crate::compat::Numerics;
use crate::entity_map::{EntityMap, LookupSource, Signature};
use crate::mlm::{Logits, MlmInput, WordPieceTokenizer};
use std::collections::{HashMap, HashSet};

/// Descriptors read per `[MASK]` (and shared with `[CLS]` when it is read too).
pub const TOP_K: usize = 20;

const STOPLIST_TXT: &str = include_str!("../descriptors/stoplist.txt");

/// Python's `string.punctuation`, for the reference's substring test.
const PUNCT_STRING: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

/// Function words never used as descriptors (the reference's `common_descs.txt`).
#[derive(Debug, Clone)]
pub struct Stoplist(HashSet<String>);

impl Stoplist {
    /// The built-in list (`descriptors/stoplist.txt`).
    pub fn builtin() -> Self {
        Self::parse(STOPLIST_TXT)
    }

    pub fn parse(text: &str) -> Self {
        Self(text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_lowercase).collect())
    }

    pub fn contains(&self, token: &str) -> bool {
        self.0.contains(&token.to_lowercase())
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Per-model word casing (the reference's `tokmod`): a word is kept if it is a vocabulary entry,
/// else replaced by the entry with the same lower-case form (the last one in vocabulary order
/// when several exist), else kept.
pub struct VocabCasing {
    exact: HashSet<String>,
    lower: HashMap<String, String>,
}

impl VocabCasing {
    pub fn new(vocab: &[String]) -> Self {
        let exact = vocab.iter().cloned().collect();
        let mut lower = HashMap::new();
        for t in vocab {
            lower.insert(t.to_lowercase(), t.clone()); // later entries win
        }
        Self { exact, lower }
    }

    pub fn apply(&self, word: &str) -> String {
        if self.exact.contains(word) {
            return word.to_string();
        }
        self.lower.get(&word.to_lowercase()).cloned().unwrap_or_else(|| word.to_string())
    }

    /// Is `word` itself a vocabulary entry?
    pub fn is_token(&self, word: &str) -> bool {
        self.exact.contains(word)
    }
}

/// Capitalises a word whose first two characters are lower-case (`imatinib` -> `Imatinib`,
/// `eGFR` unchanged), as the CI prompt does.
pub fn ci_capitalise(word: &str) -> String {
    let mut chars = word.chars();
    match (chars.next(), chars.next()) {
        (Some(a), Some(b)) if a.is_lowercase() && b.is_lowercase() => a.to_uppercase().chain(word.chars().skip(1)).collect(),
        _ => word.to_string(),
    }
}

/// Which prompt a sequence is.
#[derive(Debug, Clone, PartialEq)]
pub enum PromptKind {
    /// Context-sensitive: the sentence with the phrase replaced by one `[MASK]`.
    Cs,
    /// Context-independent: `<phrase> is a [MASK]`; `single_word` holds the phrase when it is
    /// one word (the CI overrides of §3.5 apply then).
    Ci { single_word: Option<String> },
}

/// A prompt ready for the model, with what the harvest needs to know about it.
#[derive(Debug, Clone)]
pub struct Prompt {
    pub kind: PromptKind,
    pub input: MlmInput,
    /// The budget of each read position, in the order of `input.reads`.
    pub budgets: Vec<usize>,
    /// True for the `[CLS]` read (where the vocab override of §3.5 does not apply).
    pub at_cls: Vec<bool>,
}

/// Word pieces of a list of words (each word encoded alone, as BERT's pre-tokeniser splits on
/// whitespace anyway).
fn pieces(tok: &WordPieceTokenizer, words: &[String]) -> anyhow::Result<Vec<u32>> {
    let mut ids = Vec::new();
    for w in words {
        if !w.is_empty() {
            ids.extend(tok.pieces(w)?);
        }
    }
    Ok(ids)
}

/// The CI prompt of a phrase: `[CLS] <phrase> is a [MASK] [SEP]`, read at `[MASK]` and, when
/// `use_cls`, at `[CLS]` (10 descriptors each instead of 20 at the mask).
pub fn ci_prompt(tok: &WordPieceTokenizer, casing: &VocabCasing, phrase: &[String], use_cls: bool) -> anyhow::Result<Prompt> {
    let words: Vec<String> = phrase.iter().map(|w| casing.apply(&ci_capitalise(w))).collect();
    let mut ids = vec![tok.cls];
    ids.extend(pieces(tok, &words)?);
    ids.extend(pieces(tok, &["is".to_string(), "a".to_string()])?);
    let mask = ids.len();
    ids.push(tok.mask);
    ids.push(tok.sep);
    let single_word = (words.len() == 1).then(|| words[0].clone());
    let (reads, budgets, at_cls) =
        if use_cls { (vec![0, mask], vec![TOP_K / 2, TOP_K / 2], vec![true, false]) } else { (vec![mask], vec![TOP_K], vec![false]) };
    Ok(Prompt { kind: PromptKind::Ci { single_word }, input: MlmInput { ids, reads }, budgets, at_cls })
}

/// Word pieces a CI prompt adds around its phrase: `[CLS]`, `is`, `a`, `[MASK]`, `[SEP]`.
const CI_FRAME_PIECES: usize = 5;

/// Refuses a CI prompt longer than the model's `max_len` (a [`crate::Error::Limit`] counting
/// the phrase's own word pieces).
pub fn check_ci_fits(ci: &Prompt, max_len: usize) -> anyhow::Result<()> {
    let n = ci.input.ids.len();
    if n > max_len {
        return Err(crate::Error::limit(format!(
            "a phrase of {} word pieces is longer than the model's maximum of {max_len}",
            n.saturating_sub(CI_FRAME_PIECES)
        ))
        .into());
    }
    Ok(())
}

/// Whether a sentence's CS prompt is skipped (§3.3 `ignore_cs`): its only phrase is the whole
/// sentence but the appended period, so the prompt would be just `[MASK] .`.
pub fn skips_cs<S: AsRef<str>>(phrases: &[std::ops::Range<usize>], terms: &[S]) -> bool {
    let [r] = phrases else { return false };
    let rest: Vec<&str> = terms.iter().enumerate().filter(|(i, _)| !r.contains(i)).map(|(_, t)| t.as_ref()).collect();
    r.start == 0 && rest == ["."]
}

/// The CS prompt: the sentence's words with `phrase` (a word range) replaced by one `[MASK]`.
/// A sentence longer than `max_len` word pieces keeps the widest window of whole words around
/// the phrase that fits (the reference instead dropped words from the end). An empty phrase or
/// one outside the sentence is an error.
pub fn cs_prompt(tok: &WordPieceTokenizer, words: &[String], phrase: std::ops::Range<usize>, max_len: usize) -> anyhow::Result<Prompt> {
    if phrase.start >= phrase.end || phrase.end > words.len() {
        anyhow::bail!("phrase words {}..{} are not a non-empty range of the sentence's {} words", phrase.start, phrase.end, words.len());
    }
    let word_ids: Vec<Vec<u32>> =
        words.iter().map(|w| if w.is_empty() { Ok(Vec::new()) } else { tok.pieces(w) }).collect::<anyhow::Result<_>>()?;
    let cost = |r: std::ops::Range<usize>| -> usize { word_ids[r].iter().map(Vec::len).sum() };
    let budget = max_len.saturating_sub(3); // [CLS], [MASK], [SEP]
    let (mut lo, mut hi) = (phrase.start, phrase.end);
    if cost(0..phrase.start) + cost(phrase.end..words.len()) > budget {
        // grow alternately to the left and right while it fits
        let mut used = 0;
        loop {
            let mut grew = false;
            if lo > 0 && used + word_ids[lo - 1].len() <= budget {
                lo -= 1;
                used += word_ids[lo].len();
                grew = true;
            }
            if hi < words.len() && used + word_ids[hi].len() <= budget {
                used += word_ids[hi].len();
                hi += 1;
                grew = true;
            }
            if !grew {
                break;
            }
        }
    } else {
        lo = 0;
        hi = words.len();
    }
    let mut ids = vec![tok.cls];
    for w in &word_ids[lo..phrase.start] {
        ids.extend(w);
    }
    let mask = ids.len();
    ids.push(tok.mask);
    for w in &word_ids[phrase.end..hi] {
        ids.extend(w);
    }
    ids.push(tok.sep);
    Ok(Prompt { kind: PromptKind::Cs, input: MlmInput { ids, reads: vec![mask] }, budgets: vec![TOP_K], at_cls: vec![false] })
}

/// What the harvest needs besides the logits.
pub struct HarvestContext<'a> {
    pub tokenizer: &'a WordPieceTokenizer,
    pub map: &'a EntityMap,
    pub stoplist: &'a Stoplist,
    pub numerics: Numerics,
}

/// Is a token skipped without consuming budget (punctuation, single characters, special
/// tokens)? Compat: the reference's tests (a single character, a *substring* of
/// `string.punctuation`, or a leading `.` or `[`). Fixed: the same, with "made only of
/// punctuation" instead of the substring test.
fn is_noise(token: &str, numerics: Numerics) -> bool {
    if token.chars().count() <= 1 || token.starts_with('.') || token.starts_with('[') {
        return true;
    }
    if numerics.punctuation_by_substring() { PUNCT_STRING.contains(token) } else { token.chars().all(|c| c.is_ascii_punctuation()) }
}

/// Harvests one read position (§3.5): walk the vocabulary best logit first, skip stoplist words
/// and noise, count sub-words against the budget without keeping them (compat only; the fixed
/// mode does not let them use up the budget), look up each kept token's signature, and apply
/// the CI overrides for single-word phrases.
///
/// The budget is checked only after a kept descriptor, as in the reference: when sub-words use
/// up the rest of the budget (compat), the next kept token is still taken, then the walk stops.
pub fn harvest(ctx: &HarvestContext<'_>, logits: &Logits, prompt: &PromptKind, at_cls: bool, budget: usize) -> Vec<Descriptor> {
    let mut out = harvest_read(ctx, logits, prompt, at_cls, budget);
    if at_cls {
        out = out.into_iter().map(|d| d.read_at(ReadAt::Cls)).collect();
    }
    out
}

/// [`harvest`] without the read position.
fn harvest_read(ctx: &HarvestContext<'_>, logits: &Logits, prompt: &PromptKind, at_cls: bool, budget: usize) -> Vec<Descriptor> {
    let mut out = Vec::new();
    if budget == 0 {
        return out;
    }
    let mut used = 0;
    let logit_of = |tok: &str| ctx.tokenizer.id(tok).and_then(|id| logits.get(id)).map(f64::from);
    for p in logits.ranked() {
        let token = ctx.tokenizer.token(p.id);
        if token.is_empty() || ctx.stoplist.contains(token) || is_noise(token, ctx.numerics) {
            continue;
        }
        if token.starts_with('#') {
            if ctx.numerics.subwords_use_budget() {
                used += 1;
            }
            continue;
        }
        let mut desc = Descriptor::new(token, ctx.map.lookup(token).0, f64::from(p.score));
        if let PromptKind::Ci { single_word: Some(w) } = prompt {
            if !w.is_empty() && w.chars().all(char::is_numeric) {
                // a number phrase: every descriptor is "two" (NUMBER)
                let logit = logit_of("two").unwrap_or(desc.logit);
                desc = Descriptor::new("two", Signature::single("NUMBER", 1), logit);
            } else if !at_cls {
                let (sig, source) = ctx.map.lookup(w);
                let in_map = !matches!(source, LookupSource::Unknown | LookupSource::Digits);
                let id_logit = logit_of(w).or_else(|| logit_of(&w.to_lowercase()));
                if let (true, Some(logit)) = (in_map, id_logit) {
                    // the phrase is itself a known vocabulary token: it is its own descriptor
                    out.push(Descriptor::new(w.clone(), sig, logit));
                    break;
                }
            }
        }
        out.push(desc);
        used += 1;
        if used >= budget {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_stoplist_has_the_149_words() {
        let s = Stoplist::builtin();
        assert_eq!(s.len(), 149);
        assert!(s.contains("The") && s.contains("whereby"));
        assert!(!s.contains("that") && !s.contains("not"));
    }

    #[test]
    fn capitalisation_of_ci_words() {
        assert_eq!(ci_capitalise("imatinib"), "Imatinib");
        assert_eq!(ci_capitalise("eGFR"), "eGFR");
        assert_eq!(ci_capitalise("a"), "a");
        assert_eq!(ci_capitalise("élan"), "Élan");
    }

    #[test]
    fn vocab_casing_prefers_exact_then_last_lower_match() {
        let v: Vec<String> = ["soccer", "Soccer", "Paris", "the"].iter().map(|s| s.to_string()).collect();
        let c = VocabCasing::new(&v);
        assert_eq!(c.apply("SOCCER"), "Soccer");
        assert_eq!(c.apply("soccer"), "soccer");
        assert_eq!(c.apply("PARIS"), "Paris");
        assert_eq!(c.apply("Xyz"), "Xyz");
    }

    #[test]
    fn noise_tests_differ_only_where_the_reference_used_a_substring_test() {
        for m in [Numerics::Compat, Numerics::Fixed] {
            assert!(is_noise(",", m) && is_noise("[CLS]", m) && is_noise("...", m));
            assert!(!is_noise("cancer", m));
        }
        assert!(is_noise("()", Numerics::Compat) && is_noise("()", Numerics::Fixed));
        assert!(!is_noise("--", Numerics::Compat) && is_noise("--", Numerics::Fixed));
    }

    #[test]
    fn noise_edge_cases() {
        for m in [Numerics::Compat, Numerics::Fixed] {
            assert!(is_noise("", m), "empty (a substring of anything, and not a word)");
            assert!(is_noise("#$", m), "`#$` is in string.punctuation and only punctuation");
            assert!(is_noise(".com", m) && is_noise("[unused3]", m), "leading `.` or `[`");
            assert!(!is_noise("'s", m) && !is_noise("##s", m), "sub-words are the harvest's business");
        }
        // `##` is not a substring of string.punctuation: compat counts it as a sub-word later
        assert!(!is_noise("##", Numerics::Compat) && is_noise("##", Numerics::Fixed));
        assert!(!is_noise("?!", Numerics::Compat) && is_noise("?!", Numerics::Fixed));
    }
}
