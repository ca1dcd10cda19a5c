//! Automatic mode: candidate entity phrases without a POS tagger.
//!
//! The reference sends unmarked sentences to an external POS tagger and types every maximal
//! run of noun-like tags (nouns, adjectives, numbers, foreign words, possessive `'s`). We reach
//! the same kind of runs in-process: words are classed with our own closed-class lists
//! (`descriptors/chunker/*.txt`) and suffix rules, the few ambiguous classes (participles,
//! noun/verb words) are settled from their neighbours, and a phrase is a maximal run of
//! content words. The rules and their measured agreement with gold spans are in
//! `docs/chunker.md`.

use super::lexicon::{Class, VerbForm, lexicon};
use super::{Phrase, Word};

/// Chunker settings for where the words came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChunkOptions {
    /// The words come from a tokeniser that detaches intra-word punctuation (BioBERT/PubTator
    /// style: `IL - 2`, `Parkinson ' s`, `E . coli`, `0 . 05`). Then a standalone `-` or `/`
    /// between two content words, `'` before `s`, and `.` after a capital initial or before a
    /// number are read as word-internal and join the phrase. Off for [`split_words`] output,
    /// where such punctuation stays inside words and a standalone `-` is a dash. (Punctuation
    /// glued to both neighbours in the text always joins, in both settings.)
    ///
    /// [`split_words`]: super::split_words
    pub detached_punctuation: bool,
}

/// Candidate entity phrases of `words` (one sentence, or several: sentence-initial
/// capitalisation is recognised after `.`/`!`/`?`/`:`), with [`ChunkOptions::default`].
/// May be empty (nothing noun-like). Phrases are sorted and non-overlapping.
pub fn auto_phrases(words: &[Word]) -> Vec<Phrase> {
    auto_phrases_with(words, &ChunkOptions::default())
}

/// [`auto_phrases`] with explicit options.
pub fn auto_phrases_with(words: &[Word], opts: &ChunkOptions) -> Vec<Phrase> {
    let tags = resolve(words);
    let n = words.len();
    let mut inside: Vec<bool> = tags.iter().map(|t| t.is_content()).collect();
    // Joiners: word-internal punctuation between two content words.
    for i in 1..n.saturating_sub(1) {
        if tags[i] == Tag::Punct && inside[i - 1] && inside[i + 1] && joins(words, &tags, i, opts) {
            inside[i] = true;
        }
    }
    let mut phrases = Vec::new();
    let mut start: Option<usize> = None;
    for i in 0..=n {
        let on = inside.get(i).copied().unwrap_or(false);
        let cont = on && !(start.is_some() && breaks_before(words, &tags, i));
        match (cont, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                phrases.push(Phrase { words: s..i });
                start = on.then_some(i);
            }
            _ => {}
        }
    }
    phrases
}

/// Word classes. Only `Content` and `Number` are inside phrases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tag {
    Content,
    Number,
    Determiner,
    Pronoun,
    Preposition,
    Conjunction,
    Auxiliary,
    Adverb,
    Verb,
    Punct,
    /// -ed/-ing/irregular participle, settled by context.
    Participle,
    /// Noun or verb (`increase`, `results`), settled by context.
    Ambiguous(VerbForm),
}

impl Tag {
    fn is_content(self) -> bool {
        matches!(self, Tag::Content | Tag::Number)
    }
}

/// Subject pronouns and relatives: a noun/verb word after them is a verb.
const SUBJECTS: &[&str] = &["i", "you", "he", "she", "it", "we", "they", "who", "which", "that"];
const POSSESSIVES: &[&str] = &["my", "your", "his", "her", "its", "our", "their"];
/// Words after which a capitalised word starts a sentence (or a heading, or a parenthesis).
const OPENING: &[&str] = &[".", "!", "?", ":", ";", "\"", "'", "“", "‘", "(", "[", "...", "…", "-", "--", "–", "—"];

struct Shape {
    lower: String,
    /// No upper-case letters.
    is_lower: bool,
    /// Upper-case first letter, some lower-case letter after it (`Mutations`, `McCague`).
    is_title: bool,
    /// Two or more letters, none lower-case (`EGFR`, `IL-2`, `CRICKET`).
    is_caps: bool,
    /// One upper-case letter (`A`, `I`, `T`).
    is_single_cap: bool,
    alphabetic: bool,
}

fn shape(text: &str) -> Shape {
    let lower = text.replace('’', "'").to_lowercase();
    let letters = text.chars().filter(|c| c.is_alphabetic()).count();
    let has_lower = text.chars().any(char::is_lowercase);
    let has_upper = text.chars().any(char::is_uppercase);
    let first_upper = text.chars().next().is_some_and(char::is_uppercase);
    Shape {
        is_lower: !has_upper,
        is_title: first_upper && has_lower,
        is_caps: letters >= 2 && !has_lower,
        is_single_cap: text.chars().count() == 1 && first_upper,
        alphabetic: text.chars().all(char::is_alphabetic),
        lower,
    }
}

fn is_number(text: &str) -> bool {
    let t = text.trim_start_matches(['+', '-', '−', '±', '~', '.']);
    t.chars().next().is_some_and(|c| c.is_ascii_digit())
}

/// Headline text (most words in capitals): then capitalised words are looked up too.
fn shouting(words: &[Word]) -> bool {
    let alpha: Vec<&Word> = words.iter().filter(|w| w.text.chars().filter(|c| c.is_alphabetic()).count() >= 2).collect();
    let caps = alpha.iter().filter(|w| !w.text.chars().any(char::is_lowercase)).count();
    alpha.len() >= 3 && caps * 10 >= alpha.len() * 6
}

/// First pass: the class of each word on its own (plus sentence position).
fn base_tag(w: &Word, sentence_start: bool, shouting: bool) -> Tag {
    let text = w.text.as_str();
    // A detached possessive (`Britain 's`, CoNLL/PTB style) ends the phrase, like punctuation.
    if !text.chars().any(char::is_alphanumeric) || matches!(text, "'s" | "’s" | "'S") {
        return Tag::Punct;
    }
    if is_number(text) {
        return Tag::Number;
    }
    let s = shape(text);
    let lx = lexicon();
    // Open-class lists and suffix rules apply to ordinary lower-case words, to a capitalised
    // sentence start, and to headlines; elsewhere a capitalised word is a name (`Bush`, `Will`).
    let open = s.is_lower || ((s.is_title || s.is_single_cap) && sentence_start) || (s.is_caps && shouting);
    let class = lx.class(&s.lower);
    if class == Some(Class::Heading) && s.is_caps {
        return Tag::Punct; // "RESULTS :" is a label
    }
    if open || s.is_title {
        match class {
            // mid-sentence capitalised modals and adjectives are names: "May", "Will", "Major"
            Some(Class::Modal | Class::Modifier) if !open => return Tag::Content,
            Some(Class::NotVerb) => return Tag::Content,
            Some(Class::Heading) | None => {}
            Some(c) => {
                return match c {
                    Class::Auxiliary | Class::Modal => Tag::Auxiliary,
                    Class::Determiner | Class::NumberWord | Class::Modifier => Tag::Determiner,
                    Class::Pronoun if POSSESSIVES.contains(&s.lower.as_str()) => Tag::Determiner,
                    Class::Pronoun => Tag::Pronoun,
                    Class::Preposition => Tag::Preposition,
                    Class::Conjunction => Tag::Conjunction,
                    _ => Tag::Adverb,
                };
            }
        }
    }
    if !open {
        return Tag::Content;
    }
    if let Some(v) = lx.verb(&s.lower) {
        return match (v.form, v.ambiguous) {
            (VerbForm::Participle, _) => Tag::Participle,
            (form, true) => Tag::Ambiguous(form),
            (_, false) => Tag::Verb,
        };
    }
    // Suffix rules only for lower-case (or headline) words: a capitalised sentence start that
    // is not in the lists is more likely a name (`Lebed said`) than an unknown verb.
    let n = s.lower.chars().count();
    if s.alphabetic && n >= 5 && (s.is_lower || shouting) {
        if s.lower.ends_with("ly") {
            return Tag::Adverb;
        }
        if s.lower.ends_with("ed") || s.lower.ends_with("ing") {
            return Tag::Participle;
        }
    }
    Tag::Content
}

/// Plurals without a final -s that often head a subject.
const IRREGULAR_PLURALS: &[&str] = &[
    "data",
    "criteria",
    "phenomena",
    "people",
    "children",
    "men",
    "women",
    "mice",
    "feet",
    "teeth",
    "bacteria",
    "fungi",
    "nuclei",
    "foci",
    "loci",
    "stimuli",
    "media",
    "genera",
    "taxa",
    "police",
    "cattle",
];

/// Looks plural: `mutations`, `data`, not `class`, `virus`, `analysis`.
fn plural(lower: &str) -> bool {
    (lower.len() > 3 && lower.ends_with('s') && !lower.ends_with("ss") && !lower.ends_with("us") && !lower.ends_with("is"))
        || IRREGULAR_PLURALS.contains(&lower)
}

/// Second pass: settles participles, noun/verb words and a lone `I`/`A` from the neighbours.
fn resolve(words: &[Word]) -> Vec<Tag> {
    let shout = shouting(words);
    let mut tags: Vec<Tag> = Vec::with_capacity(words.len());
    for (i, w) in words.iter().enumerate() {
        let start = i == 0 || OPENING.contains(&words[i - 1].text.as_str());
        tags.push(base_tag(w, start, shout));
    }
    for i in 0..words.len() {
        let prev = if i == 0 { None } else { Some(tags[i - 1]) };
        let next = tags.get(i + 1).copied();
        let prev_text = if i == 0 { String::new() } else { words[i - 1].text.to_lowercase() };
        let prev_content = prev.is_some_and(Tag::is_content);
        let next_nominal = matches!(next, Some(Tag::Content | Tag::Number | Tag::Ambiguous(_)));
        let next_object = matches!(next, Some(Tag::Determiner | Tag::Pronoun));
        let after_aux = matches!(prev, Some(Tag::Auxiliary)) || prev_text == "to";
        let after_subject = SUBJECTS.contains(&prev_text.as_str());
        let next_noun = matches!(next, Some(Tag::Content | Tag::Ambiguous(_)));
        let next_verbal = matches!(next, Some(Tag::Verb | Tag::Auxiliary | Tag::Adverb | Tag::Participle | Tag::Ambiguous(_)));
        let text = words[i].text.as_str();
        // "lead - induced hypertension": a participle after a detached hyphen starts a new
        // phrase (the hyphen then does not join), except after a letter ("X - linked").
        let after_hyphen = i >= 2 && prev_text == "-" && !shape(&words[i - 2].text).is_single_cap;
        // "also", "then", "not" before a participle mark a verb; "highly" does not.
        let after_verbal_adverb = prev == Some(Tag::Adverb) && !prev_text.ends_with("ly");
        tags[i] = match tags[i] {
            Tag::Participle => {
                let ing = text.to_lowercase().ends_with("ing");
                if after_aux || after_subject || (!ing && (after_verbal_adverb || after_hyphen)) {
                    Tag::Verb
                } else if !ing {
                    // -ed: adjective at the start of a noun run ("inherited breast cancer"),
                    // verb after a noun ("patients treated with").
                    if !prev_content && next_noun { Tag::Content } else { Tag::Verb }
                } else if prev_content {
                    // -ing after a noun: verb with an object or complement ("cells
                    // expressing CD4", "age ranging from"), else a gerund head
                    // ("gastrointestinal bleeding").
                    if next_nominal || next_object || next == Some(Tag::Preposition) { Tag::Verb } else { Tag::Content }
                } else if matches!(prev, Some(Tag::Determiner)) {
                    Tag::Content // "the resulting cells"
                } else if next_nominal || next_object {
                    Tag::Verb // "by inhibiting apoptosis"
                } else {
                    Tag::Content // "after vomiting ,"
                }
            }
            Tag::Ambiguous(form) => {
                if after_aux || after_subject || matches!(prev, Some(Tag::Adverb)) {
                    Tag::Verb
                } else if prev_content {
                    // A noun modifier is singular ("heat shock protein"), so a noun/verb word
                    // after a plural noun, or an -s form after any noun, is a verb when an
                    // object follows ("mutations cause disease", "the drug causes ...").
                    let agrees = plural(&prev_text) || form == VerbForm::ThirdSg;
                    let third_prep = form == VerbForm::ThirdSg && next == Some(Tag::Preposition);
                    if (agrees && (next_nominal || next_object)) || third_prep { Tag::Verb } else { Tag::Content }
                } else if matches!(prev, None | Some(Tag::Determiner | Tag::Preposition)) {
                    Tag::Content
                } else if next_object {
                    Tag::Verb // "and increases the risk"
                } else {
                    Tag::Content
                }
            }
            // a lone capital after a noun is a letter/numeral: "class I", "vitamin A"
            Tag::Pronoun | Tag::Determiner if shape(text).is_single_cap && prev_content => Tag::Content,
            // ... "I" before a verb is the pronoun ("and I think"), not "I kappa B"
            Tag::Content if text == "I" && !prev_content && next_verbal => Tag::Pronoun,
            // "T cell - specific": a modifier after a detached hyphen is part of the word
            Tag::Determiner if prev_text == "-" && lexicon().class(&text.to_lowercase()) == Some(Class::Modifier) => Tag::Content,
            // "leucine zipper - like": a suffix after a detached hyphen
            Tag::Preposition if prev_text == "-" && text == "like" => Tag::Content,
            t => t,
        };
    }
    tags
}

/// Whether the punctuation word `i` (between two content words) is word-internal.
fn joins(words: &[Word], tags: &[Tag], i: usize, opts: &ChunkOptions) -> bool {
    let (p, w, n) = (&words[i - 1], &words[i], &words[i + 1]);
    if p.end == w.start && w.end == n.start {
        return true;
    }
    if !opts.detached_punctuation {
        return false;
    }
    match w.text.as_str() {
        "-" | "/" => true,
        "'" | "’" => n.text == "s",
        "." => shape(&p.text).is_single_cap || (tags[i + 1] == Tag::Number && tags[i - 1].is_content()),
        _ => false,
    }
}

/// Lower-case parts of names: `von Willebrand`, `van Gogh`, `de Gaulle`.
const NAME_PARTICLES: &[&str] =
    &["von", "van", "de", "da", "del", "della", "der", "den", "di", "du", "la", "le", "ter", "bin", "ibn", "al"];

/// `1996-08-30`, `4-38`, `10:30`: digits with separators inside (dates, scores, times).
fn date_like(text: &str) -> bool {
    let c: Vec<char> = text.chars().collect();
    c.windows(3).any(|w| w[0].is_ascii_digit() && matches!(w[1], '-' | '/' | ':') && w[2].is_ascii_digit())
}

/// A phrase break between two content words `i - 1` and `i`.
fn breaks_before(words: &[Word], tags: &[Tag], i: usize) -> bool {
    let (p, w) = (shape(&words[i - 1].text), shape(&words[i].text));
    // "lithium | therapy", "IL - 2 | expression": an event/measurement head ending the run
    // (not "transcription factor", where it modifies the next noun; not after a hyphen;
    // `tags` so a joining hyphen after the head does not count as more noun).
    let last = !tags.get(i + 1).is_some_and(|t| t.is_content());
    if last && w.is_lower && tags[i - 1] != Tag::Punct && lexicon().event_head(&w.lower) {
        return true;
    }
    if p.is_lower && p.lower.chars().any(char::is_alphabetic) && w.is_title && w.alphabetic && !NAME_PARTICLES.contains(&p.lower.as_str()) {
        return true;
    }
    // "President | Boris Yeltsin", "Professor | David McLeod"
    if lexicon().person_title(&p.lower) && w.is_title && !lexicon().person_title(&w.lower) {
        return true;
    }
    if p.is_title && tags[i] == Tag::Number {
        return true;
    }
    if p.is_caps && p.alphabetic && tags[i] == Tag::Number && date_like(&words[i].text) {
        return true;
    }
    if p.is_title && w.is_lower && lexicon().demonym(&p.lower) {
        return true;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::split_words;

    fn chunks(text: &str) -> Vec<String> {
        let w = split_words(text);
        auto_phrases(&w).iter().map(|p| p.joined(&w)).collect()
    }

    fn detached(text: &str) -> Vec<String> {
        let w = crate::text::whitespace_words(text);
        auto_phrases_with(&w, &ChunkOptions { detached_punctuation: true }).iter().map(|p| p.joined(&w)).collect()
    }

    #[test]
    fn noun_runs() {
        assert_eq!(
            chunks("Mutations in the EGFR gene predict response to gefitinib in lung cancer ."),
            ["Mutations", "EGFR gene", "response", "gefitinib", "lung cancer"]
        );
        assert_eq!(
            chunks("Lou Gehrig who works in XCorp suffers from Parkinson's disease."),
            ["Lou Gehrig", "XCorp", "Parkinson's disease"]
        );
    }

    #[test]
    fn participles_and_noun_verb_words() {
        // attributive -ed at the start of a run; verb after a noun
        assert_eq!(chunks("We found activated T cells treated with IL-2."), ["activated T cells", "IL-2"]);
        // agreement: plural noun + base form with an object is a verb; singular modifier is a noun
        assert_eq!(chunks("These mutations cause disease."), ["mutations", "disease"]);
        assert_eq!(chunks("The heat shock protein binds DNA."), ["heat shock protein", "DNA"]);
        // gerund head vs verb with object
        assert_eq!(chunks("Gastrointestinal bleeding occurred in cells expressing CD4."), ["Gastrointestinal bleeding", "cells", "CD4"]);
    }

    #[test]
    fn boundaries_from_capitals_and_lists() {
        assert_eq!(
            chunks("The British troops met President Boris Yeltsin in Moscow."),
            ["British", "troops", "President", "Boris Yeltsin", "Moscow"]
        );
        assert_eq!(
            chunks("Patients with severe hemolytic anemia received lithium therapy."),
            ["Patients", "hemolytic anemia", "lithium", "therapy"]
        );
        assert_eq!(
            chunks("CRICKET - LEICESTERSHIRE TAKE OVER AT TOP AFTER INNINGS VICTORY ."),
            ["CRICKET", "LEICESTERSHIRE", "TOP", "INNINGS VICTORY"]
        );
        assert_eq!(chunks("RESULTS : type I diabetes and vitamin A deficiency"), ["type I diabetes", "vitamin A deficiency"]);
    }

    #[test]
    fn detached_punctuation_joins() {
        assert_eq!(
            detached("IL - 2 and Parkinson ' s disease in E . coli at 0 . 05 mM"),
            ["IL - 2", "Parkinson ' s disease", "E . coli", "0 . 05 mM"]
        );
        assert_eq!(
            detached("lead - induced hypertension and X - linked adrenoleukodystrophy"),
            ["lead", "hypertension", "X - linked adrenoleukodystrophy"]
        );
        // without the option a spaced hyphen is a dash
        assert_eq!(chunks("IL - 2"), ["IL", "2"]);
    }

    #[test]
    fn odd_input_does_not_panic() {
        let words = vec![Word { text: String::new(), start: 0, end: 0 }, Word { text: "-".into(), start: 0, end: 1 }];
        assert!(auto_phrases(&words).is_empty());
        assert!(auto_phrases(&[]).is_empty());
        assert!(chunks("!!! ??? ...").is_empty());
    }
}
