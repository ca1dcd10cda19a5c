//! The chunker's word lists (`descriptors/chunker/*.txt`, authored by us), compiled into the
//! binary so automatic mode needs no files at run time, and parsed once on first use.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

/// Closed-class (and a few open-class) categories. A word listed in several files keeps the
/// first category in [`FILES`] order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    /// be/have/do/get/become forms: a participle after them is a verb.
    Auxiliary,
    Modal,
    Determiner,
    Pronoun,
    Preposition,
    Conjunction,
    /// Spelled-out numbers and ordinals.
    NumberWord,
    /// Evaluative/degree adjectives (`severe`, `significant`): not part of a name.
    Modifier,
    Adverb,
    /// Looks like a verb form or an -ly adverb but is a noun/adjective (`bleeding`, `family`).
    NotVerb,
    /// A section heading (`RESULTS`): a boundary when written in capitals.
    Heading,
}

const FILES: [(Class, &str); 11] = [
    (Class::Auxiliary, include_str!("../../descriptors/chunker/auxiliaries.txt")),
    (Class::Modal, include_str!("../../descriptors/chunker/modals.txt")),
    (Class::Determiner, include_str!("../../descriptors/chunker/determiners.txt")),
    (Class::Pronoun, include_str!("../../descriptors/chunker/pronouns.txt")),
    (Class::Preposition, include_str!("../../descriptors/chunker/prepositions.txt")),
    (Class::Conjunction, include_str!("../../descriptors/chunker/conjunctions.txt")),
    (Class::NumberWord, include_str!("../../descriptors/chunker/numbers.txt")),
    (Class::Adverb, include_str!("../../descriptors/chunker/adverbs.txt")),
    (Class::Modifier, include_str!("../../descriptors/chunker/modifiers.txt")),
    (Class::NotVerb, include_str!("../../descriptors/chunker/not_verbs.txt")),
    (Class::Heading, include_str!("../../descriptors/chunker/headings.txt")),
];
const VERBS: &str = include_str!("../../descriptors/chunker/verbs.txt");
const VERBS_NOUNS: &str = include_str!("../../descriptors/chunker/verbs_nouns.txt");
const VERBS_IRREGULAR: &str = include_str!("../../descriptors/chunker/verbs_irregular.txt");
const ABBREVIATIONS: &str = include_str!("../../descriptors/chunker/abbreviations.txt");
const DEMONYMS: &str = include_str!("../../descriptors/chunker/demonyms.txt");
const EVENT_HEADS: &str = include_str!("../../descriptors/chunker/event_heads.txt");
const PERSON_TITLES: &str = include_str!("../../descriptors/chunker/person_titles.txt");

/// Which form of a verb a word is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum VerbForm {
    /// Base or third-person -s form: a finite verb (or, for noun/verb words, a noun).
    Base,
    ThirdSg,
    /// -ed, -ing or irregular past/participle: adjective or verb depending on position.
    Participle,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct VerbEntry {
    pub form: VerbForm,
    /// Also a frequent noun (`increase`, `results`): read by context.
    pub ambiguous: bool,
}

/// How an abbreviation's dot behaves (see abbreviations.txt).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Abbrev {
    /// Never ends a sentence (`Dr.`, `e.g.`, `et al.`).
    Plain,
    /// An abbreviation only before a number (`Fig. 3`, `No. 5`).
    Number,
    /// May also end a sentence (`Inc.`, `U.S.`, `J.`).
    Final,
}

pub(crate) struct Lexicon {
    closed: HashMap<String, Class>,
    verbs: HashMap<String, VerbEntry>,
    abbreviations: HashMap<String, Abbrev>,
    demonyms: HashSet<String>,
    event_heads: HashSet<String>,
    person_titles: HashSet<String>,
}

static LEXICON: LazyLock<Lexicon> = LazyLock::new(Lexicon::build);

pub(crate) fn lexicon() -> &'static Lexicon {
    &LEXICON
}

fn entries(file: &str) -> impl Iterator<Item = &str> {
    file.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#'))
}

impl Lexicon {
    fn build() -> Lexicon {
        let mut closed = HashMap::new();
        for (class, file) in FILES {
            for w in entries(file) {
                closed.entry(w.to_lowercase()).or_insert(class);
            }
        }
        let mut verbs = HashMap::new();
        // First entry wins: noun/verb words first (so `run`, `fall` stay ambiguous), then the
        // irregular forms (so `found` is not shadowed by a generated spelling), then the rest.
        for w in entries(VERBS_NOUNS) {
            add_regular(&mut verbs, w, true, true);
        }
        for line in entries(VERBS_IRREGULAR) {
            let mut forms = line.split_whitespace();
            let Some(base) = forms.next() else { continue };
            for f in forms {
                verbs.entry(f.to_lowercase()).or_insert(VerbEntry { form: VerbForm::Participle, ambiguous: false });
            }
            add_regular(&mut verbs, base, false, false);
        }
        for w in entries(VERBS) {
            add_regular(&mut verbs, w, false, true);
        }
        let mut abbreviations = HashMap::new();
        for line in entries(ABBREVIATIONS) {
            let mut parts = line.split_whitespace();
            let Some(a) = parts.next() else { continue };
            let kind = match parts.next() {
                Some("number") => Abbrev::Number,
                Some("final") => Abbrev::Final,
                _ => Abbrev::Plain,
            };
            abbreviations.insert(a.to_lowercase(), kind);
        }
        let demonyms = entries(DEMONYMS).map(str::to_lowercase).collect();
        let event_heads = entries(EVENT_HEADS).map(str::to_lowercase).collect();
        let person_titles = entries(PERSON_TITLES).map(str::to_lowercase).collect();
        Lexicon { closed, verbs, abbreviations, demonyms, event_heads, person_titles }
    }

    /// Category of a lower-cased word, if it is in a closed list.
    pub fn class(&self, lower: &str) -> Option<Class> {
        self.closed.get(lower).copied()
    }

    /// Nationality/religion adjective (`british`, `jewish`).
    pub fn demonym(&self, lower: &str) -> bool {
        self.demonyms.contains(lower)
    }

    /// Process/measurement/treatment noun that heads a compound (`therapy`, `expression`).
    pub fn event_head(&self, lower: &str) -> bool {
        self.event_heads.contains(lower)
    }

    /// Title written before a personal name (`president`, `dr.`).
    pub fn person_title(&self, lower: &str) -> bool {
        self.person_titles.contains(lower)
    }

    pub fn verb(&self, lower: &str) -> Option<VerbEntry> {
        self.verbs.get(lower).copied()
    }

    /// Whether `word` (which ends with its dot) is an abbreviation; `next` is the following
    /// whitespace word, needed for the number-only class. A number-only entry that is not
    /// before a number falls back to the initialism rule, so the list's `p.` (`p. 12`) does
    /// not hide the capital initial in `P. Simmons`.
    pub fn abbreviation(&self, word: &str, next: Option<&str>) -> Option<Abbrev> {
        let lower = word.to_lowercase();
        let initialism = || is_initialism(word).then_some(Abbrev::Final);
        match self.abbreviations.get(&lower) {
            Some(Abbrev::Number) => {
                let digit_next = next.and_then(|n| n.trim_start_matches(['(', '[']).chars().next()).is_some_and(|c| c.is_ascii_digit());
                if digit_next { Some(Abbrev::Number) } else { initialism() }
            }
            Some(&k) => Some(k),
            None => initialism(),
        }
    }
}

/// `U.S.`, `e.g.`, `a.m.` (letter-dot pairs, two or more) or a capital initial `J.`.
fn is_initialism(word: &str) -> bool {
    let chars: Vec<char> = word.chars().collect();
    if chars.len() < 2 || !chars.len().is_multiple_of(2) {
        return false;
    }
    let pairs_ok = chars.chunks(2).all(|p| p[0].is_alphabetic() && p[1] == '.');
    pairs_ok && (chars.len() >= 4 || chars[0].is_uppercase())
}

fn is_vowel(c: char) -> bool {
    matches!(c, 'a' | 'e' | 'i' | 'o' | 'u')
}

/// Adds the base form and the regular -s, -ed and -ing forms of `base`. For a final
/// consonant-vowel-consonant both the doubled and the plain spelling are added (`occurred`,
/// `visited`): the wrong one is not an English word, so it costs nothing.
fn add_regular(verbs: &mut HashMap<String, VerbEntry>, base: &str, ambiguous: bool, with_past: bool) {
    let base = base.to_lowercase();
    let c: Vec<char> = base.chars().collect();
    let n = c.len();
    if n == 0 {
        return;
    }
    let mut put = |w: String, form: VerbForm| {
        verbs.entry(w).or_insert(VerbEntry { form, ambiguous });
    };
    let stem = |k: usize| -> String { c[..n - k].iter().collect() };
    let last = c[n - 1];
    let consonant_y = last == 'y' && n >= 2 && !is_vowel(c[n - 2]);
    put(base.clone(), VerbForm::Base);
    let third = if ["s", "x", "z", "ch", "sh", "o"].iter().any(|s| base.ends_with(s)) {
        format!("{base}es")
    } else if consonant_y {
        format!("{}ies", stem(1))
    } else {
        format!("{base}s")
    };
    put(third, VerbForm::ThirdSg);
    let cvc = n >= 3 && !is_vowel(last) && !matches!(last, 'w' | 'x' | 'y') && is_vowel(c[n - 2]) && !is_vowel(c[n - 3]);
    if with_past {
        let past = if last == 'e' {
            format!("{base}d")
        } else if consonant_y {
            format!("{}ied", stem(1))
        } else {
            format!("{base}ed")
        };
        put(past, VerbForm::Participle);
        if cvc {
            put(format!("{base}{last}ed"), VerbForm::Participle);
        }
    }
    let ing = if base.ends_with("ie") {
        format!("{}ying", stem(2))
    } else if last == 'e' && !base.ends_with("ee") && !base.ends_with("ye") && !base.ends_with("oe") && n > 2 {
        format!("{}ing", stem(1))
    } else {
        format!("{base}ing")
    };
    put(ing, VerbForm::Participle);
    if cvc {
        put(format!("{base}{last}ing"), VerbForm::Participle);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_load_and_inflect() {
        let lx = lexicon();
        assert_eq!(lx.class("the"), Some(Class::Determiner));
        assert_eq!(lx.class("bleeding"), Some(Class::NotVerb));
        assert_eq!(lx.verb("predicts").map(|v| v.form), Some(VerbForm::ThirdSg));
        assert_eq!(lx.verb("identified").map(|v| v.form), Some(VerbForm::Participle));
        assert_eq!(lx.verb("inducing").map(|v| v.form), Some(VerbForm::Participle));
        assert_eq!(lx.verb("occurred").map(|v| v.form), Some(VerbForm::Participle));
        assert_eq!(lx.verb("underwent").map(|v| v.form), Some(VerbForm::Participle));
        assert!(lx.verb("increases").unwrap().ambiguous);
        assert!(!lx.verb("suggests").unwrap().ambiguous);
    }

    #[test]
    fn abbreviations() {
        let lx = lexicon();
        assert_eq!(lx.abbreviation("Dr.", Some("Smith")), Some(Abbrev::Plain));
        assert_eq!(lx.abbreviation("Fig.", Some("3")), Some(Abbrev::Number));
        assert_eq!(lx.abbreviation("no.", Some("more")), None);
        assert_eq!(lx.abbreviation("U.S.", None), Some(Abbrev::Final));
        assert_eq!(lx.abbreviation("J.", None), Some(Abbrev::Final));
        assert_eq!(lx.abbreviation("cancer.", None), None);
        assert_eq!(lx.abbreviation("a.", None), None);
        // the listed `p.` is an abbreviation before a number; a capital `P.` elsewhere is an
        // initial like `J.`, a lower-case `p.` elsewhere a word and a full stop
        assert_eq!(lx.abbreviation("p.", Some("12")), Some(Abbrev::Number));
        assert_eq!(lx.abbreviation("P.", Some("Simmons")), Some(Abbrev::Final));
        assert_eq!(lx.abbreviation("p.", Some("The")), None);
    }
}
