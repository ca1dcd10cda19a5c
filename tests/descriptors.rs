//! The descriptor stage (ALGORITHM.md sections 3.1-3.5 and 11): the CI prompt `<phrase> is a
//! [MASK]` and the CS prompt (the phrase replaced by one `[MASK]`) as token ids, the filtered
//! top-k harvest with its two overrides, and the sentence preparation the engine does around
//! them.
//!
//! Prompts are checked on the tiny fixture tokenizers (a cased `vocab.txt` and an uncased
//! `tokenizer.json`) against token sequences written out by hand from the rules. The harvest is
//! checked on hand-made logits over a small hand-made vocabulary, so every expected list follows
//! from the §3.5 loop alone. The engine tests run the fixture models end to end with a
//! hand-made entity map.

mod common;

use maskner::compat::Numerics;
use maskner::descriptors::{self, HarvestContext, Prompt, PromptKind, Stoplist, TOP_K, VocabCasing};
use maskner::engine::{Engine, EngineConfig, MemberKind, MemberSpec, PhraseMode, TagRequest, TagResult};
use maskner::ensemble::SecondCsRule;
use maskner::entity_map::{EntityMap, Taxonomy};
use maskner::mlm::{Logits, MaskedLm, WordPieceTokenizer};
use maskner::progress::Quiet;
use std::ops::Range;

// ---------------------------------------------------------------- helpers

fn load(name: &str) -> MaskedLm {
    MaskedLm::load(name, &common::fixture(name)).expect("fixture model loads")
}

fn words(s: &str) -> Vec<String> {
    s.split(' ').map(str::to_string).collect()
}

/// A map over `vocab`, imported from a reference-format labels.txt where every token is
/// `OTHER 0` (a never-labelled vocabulary line) except those given.
fn map_over(vocab: &[String], labelled: &[(&str, &str)], name: &str) -> EntityMap {
    let lines: String = vocab
        .iter()
        .map(|t| {
            let sig = labelled.iter().find(|(w, _)| w == t).map_or("OTHER 0", |(_, s)| s);
            format!("{sig} {t}\n")
        })
        .collect();
    let dir = common::tmp(&format!("{name}-labels"));
    let path = dir.join("labels.txt");
    std::fs::write(&path, lines).unwrap();
    let map = EntityMap::from_labels_txt(&path, &Taxonomy::jan2022()).expect("map");
    std::fs::remove_dir_all(&dir).unwrap();
    map
}

/// A fixture model's tokenizer and casing, with the prompt builders bound to them.
struct Fixture {
    lm: MaskedLm,
    casing: VocabCasing,
}

impl Fixture {
    fn new(name: &str) -> Self {
        let lm = load(name);
        let casing = VocabCasing::new(lm.tokenizer().vocab());
        Self { lm, casing }
    }

    fn tok(&self) -> &WordPieceTokenizer {
        self.lm.tokenizer()
    }

    /// Ids of vocabulary entries named by hand (`[CLS]`, `Imatinib`, `##s`, ...).
    fn ids(&self, tokens: &[&str]) -> Vec<u32> {
        tokens.iter().map(|t| self.tok().id(t).unwrap_or_else(|| panic!("{t:?} is not in the fixture vocabulary"))).collect()
    }

    fn ci(&self, phrase: &str, use_cls: bool) -> Prompt {
        descriptors::ci_prompt(self.tok(), &self.casing, &words(phrase), use_cls).unwrap()
    }

    fn cs(&self, sentence: &str, phrase: Range<usize>, max_len: usize) -> Prompt {
        descriptors::cs_prompt(self.tok(), &words(sentence), phrase, max_len).unwrap()
    }

    /// Asserts the prompt's token sequence (by vocabulary entry) and its read positions.
    fn check(&self, p: &Prompt, tokens: &[&str], reads: &[usize]) {
        assert_eq!(p.input.ids, self.ids(tokens), "expected {tokens:?}");
        assert_eq!(p.input.reads, reads, "reads of {tokens:?}");
        assert_eq!(p.input.ids.iter().filter(|&&i| i == self.tok().mask).count(), 1, "one [MASK]");
    }
}

// ---------------------------------------------------------------- CI prompt

#[test]
fn ci_prompt_is_phrase_is_a_mask_read_at_the_mask() {
    let f = Fixture::new("tiny-bert-cased");
    let p = f.ci("Imatinib", false);
    // read only at the [MASK], never at [SEP], and not at [CLS] unless asked
    f.check(&p, &["[CLS]", "Imatinib", "is", "a", "[MASK]", "[SEP]"], &[4]);
    assert_eq!(p.budgets, vec![20]);
    assert_eq!(p.at_cls, vec![false]);
    assert_eq!(p.kind, PromptKind::Ci { single_word: Some("Imatinib".into()) });
    assert_eq!(TOP_K, 20);
}

#[test]
fn ci_words_are_capitalised_then_given_vocabulary_casing() {
    let f = Fixture::new("tiny-bert-cased");
    // (input, the word the model sees): first two characters lower-case are capitalised
    // (`Imatinib` is the entry); capitalised `Aspirin` is not an entry but its lower case is, so
    // casing comes after capitalising; `eGFR` is not capitalised but gets the entry `EGFR`
    for (input, seen) in [("imatinib", "Imatinib"), ("aspirin", "aspirin"), ("eGFR", "EGFR")] {
        let p = f.ci(input, false);
        f.check(&p, &["[CLS]", seen, "is", "a", "[MASK]", "[SEP]"], &[4]);
        assert_eq!(p.kind, PromptKind::Ci { single_word: Some(seen.into()) }, "{input}");
    }
}

#[test]
fn a_multi_word_or_multi_piece_phrase_is_followed_by_one_mask() {
    let f = Fixture::new("tiny-bert-cased");
    let p = f.ci("chronic myeloid leukemia", false);
    // `Chronic` is an entry; `Myeloid` and `Leukemia` are not, so their lower-case entries stay
    f.check(&p, &["[CLS]", "Chronic", "myeloid", "leukemia", "is", "a", "[MASK]", "[SEP]"], &[6]);
    assert_eq!(p.kind, PromptKind::Ci { single_word: None }, "the overrides need a one-word phrase");

    let p = f.ci("Imatinibs", false);
    f.check(&p, &["[CLS]", "Imatinib", "##s", "is", "a", "[MASK]", "[SEP]"], &[5]);
    assert_eq!(p.kind, PromptKind::Ci { single_word: Some("Imatinibs".into()) });
}

#[test]
fn cls_is_read_first_with_half_the_budget_only_when_asked() {
    let f = Fixture::new("tiny-bert-cased");
    let with = f.ci("Mesothelioma", true);
    let without = f.ci("Mesothelioma", false);
    let seq = ["[CLS]", "Mesothelioma", "is", "a", "[MASK]", "[SEP]"];
    f.check(&with, &seq, &[0, 4]);
    assert_eq!(with.budgets, vec![10, 10]);
    assert_eq!(with.at_cls, vec![true, false]);
    f.check(&without, &seq, &[4]);
    assert_eq!(without.budgets, vec![20]);
    assert_eq!(without.at_cls, vec![false]);
}

#[test]
fn uncased_model_gets_lower_case_ci_words() {
    let f = Fixture::new("tiny-bert-uncased");
    let p = f.ci("Paris", false);
    f.check(&p, &["[CLS]", "paris", "is", "a", "[MASK]", "[SEP]"], &[4]);
    assert_eq!(p.kind, PromptKind::Ci { single_word: Some("paris".into()) });
}

#[test]
fn a_blank_slot_prompts_is_a_mask() {
    // `Staten is a :__entity__`: the phrase is an empty term
    let f = Fixture::new("tiny-bert-cased");
    f.check(&f.ci("", true), &["[CLS]", "is", "a", "[MASK]", "[SEP]"], &[0, 3]);
}

#[test]
fn the_word_entity_is_a_word_not_a_mask() {
    // §11.1: the reference wrote the placeholder `entity` and masked every such word, so a real
    // "entity" in the input became a second [MASK]. Prompts are token ids with one explicit
    // mask position, in both modes (the prompt builders take no mode).
    let f = Fixture::new("tiny-bert-cased");
    f.check(&f.ci("entity", false), &["[CLS]", "entity", "is", "a", "[MASK]", "[SEP]"], &[4]);
    let p = f.cs("The entity was given aspirin .", 4..5, 64);
    f.check(&p, &["[CLS]", "The", "entity", "was", "given", "[MASK]", ".", "[SEP]"], &[5]);
}

// ---------------------------------------------------------------- CS prompt

#[test]
fn cs_prompt_replaces_the_whole_phrase_by_one_mask() {
    let f = Fixture::new("tiny-bert-cased");
    assert_eq!(f.lm.max_len(), 64);
    let p = f.cs("Imatinib mesylate is used to treat chronic myeloid leukemia in adults .", 6..9, 64);
    let expect = ["[CLS]", "Imatinib", "mesylate", "is", "used", "to", "treat", "[MASK]", "in", "adults", ".", "[SEP]"];
    f.check(&p, &expect, &[7]);
    assert_eq!(p.budgets, vec![20]);
    assert_eq!(p.at_cls, vec![false]);
    assert_eq!(p.kind, PromptKind::Cs);
}

#[test]
fn other_phrases_stay_unmasked_in_a_cs_prompt() {
    let f = Fixture::new("tiny-bert-cased");
    let sentence = "Lou Gehrig worked in New York .";
    f.check(&f.cs(sentence, 4..6, 64), &["[CLS]", "Lou", "Gehrig", "worked", "in", "[MASK]", ".", "[SEP]"], &[5]);
    f.check(&f.cs(sentence, 0..2, 64), &["[CLS]", "[MASK]", "worked", "in", "New", "York", ".", "[SEP]"], &[1]);
}

#[test]
fn over_long_sentence_keeps_the_widest_window_of_whole_words_that_fits() {
    let f = Fixture::new("tiny-bert-cased");
    // nine one-piece context words around `Paris`: 12 pieces with [CLS] [MASK] [SEP]
    let sentence = "John Smith visited Paris in January with his daughter .";
    let all = ["[CLS]", "John", "Smith", "visited", "[MASK]", "in", "January", "with", "his", "daughter", ".", "[SEP]"];
    f.check(&f.cs(sentence, 3..4, 12), &all, &[4]); // exactly the maximum: nothing dropped
    // one piece too many: the window grows left and right in turn, so the last word goes
    let no_period: Vec<&str> = all[..10].iter().chain(&["[SEP]"]).copied().collect();
    f.check(&f.cs(sentence, 3..4, 11), &no_period, &[4]);
    // room for five context pieces: three words on the left, two on the right
    f.check(&f.cs(sentence, 3..4, 8), &["[CLS]", "John", "Smith", "visited", "[MASK]", "in", "January", "[SEP]"], &[4]);
    // the phrase at the start: the window holds the words after it
    f.check(&f.cs(sentence, 0..1, 6), &["[CLS]", "[MASK]", "Smith", "visited", "Paris", "[SEP]"], &[1]);
}

#[test]
fn the_window_never_splits_a_word_and_keeps_growing_on_the_side_that_fits() {
    let f = Fixture::new("tiny-bert-cased");
    // `qqqq` is four pieces (q ##q ##q ##q); with room for four context pieces it cannot join,
    // so neither can `Lou` beyond it, while the right side takes three words
    assert_eq!(f.tok().pieces("qqqq").unwrap(), f.ids(&["q", "##q", "##q", "##q"]));
    let p = f.cs("Lou qqqq visited Paris in January with .", 3..4, 7);
    f.check(&p, &["[CLS]", "visited", "[MASK]", "in", "January", "with", "[SEP]"], &[2]);
}

#[test]
fn a_long_phrase_costs_one_mask_in_the_cs_prompt() {
    let f = Fixture::new("tiny-bert-cased");
    let long = "q".repeat(80);
    assert_eq!(f.tok().pieces(&long).unwrap().len(), 80);
    let p = f.cs(&format!("Lou visited {long} ."), 2..3, 64);
    f.check(&p, &["[CLS]", "Lou", "visited", "[MASK]", ".", "[SEP]"], &[3]);
}

#[test]
fn a_phrase_range_outside_the_sentence_is_an_error() {
    let f = Fixture::new("tiny-bert-cased");
    let sentence = words("Lou visited Paris .");
    for bad in [2..2, 3..5, 5..6] {
        let e = descriptors::cs_prompt(f.tok(), &sentence, bad.clone(), 64).unwrap_err().to_string();
        assert!(e.contains("not a non-empty range of the sentence's 4 words"), "{bad:?}: {e}");
    }
}

// ---------------------------------------------------------------- harvest

/// A hand-made vocabulary (ids in this order) with the tokens the filters are about.
const HARVEST_VOCAB: &[&str] = &[
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "[MASK]",
    ".",
    ",",
    "...",
    "()",
    "--",
    "?!",
    "#$",
    "'s",
    "##s",
    "##ing",
    "The",
    "is",
    "Paris",
    "London",
    "Boston",
    "Canada",
    "Berlin",
    "Oslo",
    "two",
    "60",
    "Mesothelioma",
];

struct Bench {
    tok: WordPieceTokenizer,
    map: EntityMap,
    stop: Stoplist,
}

impl Bench {
    fn new() -> Self {
        let unique = format!("{:?}", std::thread::current().id()).replace(['(', ')'], "");
        let dir = common::tmp(&format!("vocab-{unique}"));
        // padded to 100 entries: `Logits::ranked` works in blocks of at least 64
        let lines: Vec<String> =
            HARVEST_VOCAB.iter().map(|t| t.to_string()).chain((HARVEST_VOCAB.len()..100).map(|i| format!("[unused{i}]"))).collect();
        std::fs::write(dir.join("vocab.txt"), lines.join("\n") + "\n").unwrap();
        let tok = WordPieceTokenizer::from_dir(&dir, Some(false)).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let vocab: Vec<String> = tok.vocab().to_vec();
        assert_eq!(vocab, lines, "ids are the line numbers");
        let map = map_over(
            &vocab,
            &[("Paris", "LOCATION 12"), ("London", "LOCATION/PERSON 7/2"), ("Mesothelioma", "DISEASE/GENE 38/2"), ("60", "PERSON 3")],
            &unique,
        );
        Self { tok, map, stop: Stoplist::builtin() }
    }

    /// Logits with the given tokens at the given scores, every other token far below.
    fn logits(&self, scores: &[(&str, f32)]) -> Logits {
        let mut v = vec![-100.0f32; self.tok.vocab_size()];
        for (t, s) in scores {
            v[self.tok.id(t).unwrap() as usize] = *s;
        }
        Logits::new(v)
    }

    fn harvest(
        &self,
        numerics: Numerics,
        kind: &PromptKind,
        at_cls: bool,
        budget: usize,
        scores: &[(&str, f32)],
    ) -> Vec<(String, String, f64)> {
        let ctx = HarvestContext { tokenizer: &self.tok, map: &self.map, stoplist: &self.stop, numerics };
        descriptors::harvest(&ctx, &self.logits(scores), kind, at_cls, budget)
            .into_iter()
            .map(|d| (d.token, d.signature.to_string(), d.logit))
            .collect()
    }
}

fn tokens(list: &[(String, String, f64)]) -> Vec<&str> {
    list.iter().map(|d| d.0.as_str()).collect()
}

const BOTH: [Numerics; 2] = [Numerics::Compat, Numerics::Fixed];

fn ci(word: &str) -> PromptKind {
    PromptKind::Ci { single_word: Some(word.into()) }
}

#[test]
fn harvest_walks_best_first_and_skips_stoplist_and_noise_for_free() {
    let b = Bench::new();
    let scores = [
        ("The", 10.0),  // stoplist, case-insensitive
        (".", 9.5),     // one character
        ("...", 9.0),   // starts with "."
        ("[UNK]", 8.8), // starts with "["
        ("Paris", 8.0),
        ("is", 7.5), // stoplist
        (",", 7.2),
        ("London", 7.0),
        ("Boston", 6.0),
        ("Canada", 5.0),
    ];
    for m in BOTH {
        let got = b.harvest(m, &PromptKind::Cs, false, 3, &scores);
        assert_eq!(
            got,
            vec![
                ("Paris".to_string(), "LOCATION 12".to_string(), 8.0),
                ("London".into(), "LOCATION/PERSON 7/2".into(), 7.0),
                ("Boston".into(), "UNTAGGED_ENTITY 1".into(), 6.0), // an `OTHER 0` line
            ],
            "{m:?}"
        );
        assert!(b.harvest(m, &PromptKind::Cs, false, 0, &scores).is_empty());
    }
}

#[test]
fn punctuation_filter_is_only_punctuation_by_default_and_a_substring_test_in_compat() {
    let b = Bench::new();
    let scores = [("#$", 9.5), ("()", 9.0), ("--", 8.0), ("?!", 7.0), ("'s", 6.0), ("Paris", 5.0), ("London", 4.0), ("Boston", 3.0)];
    // compat: `()` and `#$` are substrings of string.punctuation, `--` and `?!` are not. `#$`
    // is dropped by the punctuation test before the sub-word test could count it.
    let got = b.harvest(Numerics::Compat, &PromptKind::Cs, false, 3, &scores);
    assert_eq!(tokens(&got), ["--", "?!", "'s"]);
    // default: anything made only of punctuation is dropped; `'s` has a letter
    let got = b.harvest(Numerics::Fixed, &PromptKind::Cs, false, 3, &scores);
    assert_eq!(tokens(&got), ["'s", "Paris", "London"]);
}

#[test]
fn sub_words_use_up_the_budget_only_in_compat() {
    let b = Bench::new();
    let scores = [("##s", 9.0), ("Paris", 8.0), ("##ing", 7.0), ("London", 6.0), ("Boston", 5.0), ("Canada", 4.0), ("Berlin", 3.0)];
    // compat: ##s (1), Paris (2), ##ing (3), London (4) = budget
    assert_eq!(tokens(&b.harvest(Numerics::Compat, &PromptKind::Cs, false, 4, &scores)), ["Paris", "London"]);
    assert_eq!(tokens(&b.harvest(Numerics::Fixed, &PromptKind::Cs, false, 4, &scores)), ["Paris", "London", "Boston", "Canada"]);
}

#[test]
fn compat_stops_only_after_a_kept_descriptor() {
    // §3.5: a sub-word adds to k and continues without testing the budget; the test follows the
    // next kept descriptor. So when sub-words fill the budget, one more descriptor is taken.
    let b = Bench::new();
    let scores = [("Paris", 9.0), ("London", 8.0), ("##s", 7.0), ("Boston", 6.0), ("Canada", 5.0)];
    assert_eq!(tokens(&b.harvest(Numerics::Compat, &PromptKind::Cs, false, 3, &scores)), ["Paris", "London", "Boston"]);
    let scores = [("Paris", 9.0), ("##s", 8.0), ("##ing", 7.0), ("London", 6.0), ("Boston", 5.0)];
    // k: Paris 1, ##s 2, ##ing 3, London 4 -> stop
    assert_eq!(tokens(&b.harvest(Numerics::Compat, &PromptKind::Cs, false, 2, &scores)), ["Paris", "London"]);
    assert_eq!(tokens(&b.harvest(Numerics::Fixed, &PromptKind::Cs, false, 2, &scores)), ["Paris", "London"]);
}

#[test]
fn ties_keep_vocabulary_order() {
    let b = Bench::new();
    let scores = [("Berlin", 5.0), ("Boston", 5.0), ("Canada", 5.0)];
    for m in BOTH {
        assert_eq!(tokens(&b.harvest(m, &PromptKind::Cs, false, 3, &scores)), ["Boston", "Canada", "Berlin"]);
    }
}

#[test]
fn a_number_phrase_makes_every_ci_descriptor_two_at_both_positions() {
    let b = Bench::new();
    let scores = [("Paris", 9.0), ("##s", 8.0), ("The", 7.5), ("London", 7.0), ("Boston", 6.0), ("two", 2.5), ("Canada", 2.0)];
    let two = ("two".to_string(), "NUMBER 1".to_string(), 2.5);
    for at_cls in [false, true] {
        // compat: Paris (1), ##s (2), London (3), Boston (4): three kept, each replaced
        assert_eq!(b.harvest(Numerics::Compat, &ci("60"), at_cls, 4, &scores), vec![two.clone(); 3], "at_cls {at_cls}");
        // default: Paris, London, Boston, two; scored by the logit of `two` at this position
        assert_eq!(b.harvest(Numerics::Fixed, &ci("60"), at_cls, 4, &scores), vec![two.clone(); 4], "at_cls {at_cls}");
    }
    // not all digits: no number override (and `60s` is not in the map, so no vocab override)
    let got = b.harvest(Numerics::Fixed, &ci("60s"), false, 4, &scores);
    assert_eq!(tokens(&got), ["Paris", "London", "Boston", "two"]);
    assert_eq!(got[3].1, "UNTAGGED_ENTITY 1");
    // the override is for one-word phrases only
    let multi = PromptKind::Ci { single_word: None };
    assert_eq!(tokens(&b.harvest(Numerics::Fixed, &multi, false, 2, &scores)), ["Paris", "London"]);
}

#[test]
fn a_one_word_phrase_in_the_map_is_its_own_single_descriptor_at_the_mask() {
    let b = Bench::new();
    let scores = [("##s", 9.0), ("London", 8.0), ("Boston", 7.0), ("Paris", 3.25), ("Canada", 2.0)];
    for m in BOTH {
        // the phrase's own signature, scored by its own logit at the mask, once
        assert_eq!(b.harvest(m, &ci("Paris"), false, 10, &scores), vec![("Paris".to_string(), "LOCATION 12".to_string(), 3.25)], "{m:?}");
        // a vocabulary line labelled OTHER is still "found": UNTAGGED_ENTITY 1, -100 its logit
        assert_eq!(b.harvest(m, &ci("Oslo"), false, 10, &scores), vec![("Oslo".to_string(), "UNTAGGED_ENTITY 1".to_string(), -100.0)]);
    }
    // at [CLS] the position is harvested normally
    assert_eq!(tokens(&b.harvest(Numerics::Fixed, &ci("Paris"), true, 3, &scores)), ["London", "Boston", "Paris"]);
    assert_eq!(tokens(&b.harvest(Numerics::Compat, &ci("Paris"), true, 3, &scores)), ["London", "Boston"]);
    // a word the map does not know, and a blank slot, get no override
    assert_eq!(tokens(&b.harvest(Numerics::Fixed, &ci("Xyzzy"), false, 2, &scores)), ["London", "Boston"]);
    assert_eq!(tokens(&b.harvest(Numerics::Fixed, &ci(""), false, 2, &scores)), ["London", "Boston"]);
    // a number beats the map (`60` is a labelled vocabulary line here)
    assert_eq!(tokens(&b.harvest(Numerics::Fixed, &ci("60"), false, 2, &scores)), ["two", "two"]);
}

#[test]
fn logits_are_kept_whole_and_only_compat_weights_round_them() {
    let b = Bench::new();
    let scores = [("Paris", 7.123_456), ("London", -2.233_74), ("Boston", -3.5)];
    for m in BOTH {
        let got = b.harvest(m, &PromptKind::Cs, false, 3, &scores);
        assert_eq!(tokens(&got), ["Paris", "London", "Boston"], "negative logits are descriptors too");
        assert_eq!(got[0].2, f64::from(7.123_456f32));
        assert_eq!(got[1].2, f64::from(-2.233_74f32));
        // compat weights are the reference's 4-dp strings; default uses the logit, negatives as 0
        assert_eq!(Numerics::Compat.descriptor_weight(got[0].2), Some(7.1235));
        assert_eq!(Numerics::Fixed.descriptor_weight(got[0].2), Some(f64::from(7.123_456f32)));
        assert_eq!(Numerics::Compat.descriptor_weight(got[1].2), Some(-2.2337));
        assert_eq!(Numerics::Fixed.descriptor_weight(got[1].2), Some(0.0));
    }
}

// ---------------------------------------------------------------- the engine around the stage

/// An engine whose members are fixture models with a hand-made map (`Paris` LOCATION).
fn engine(members: &[(&str, &str, bool)], numerics: Numerics, tag: &str) -> Engine {
    let mut dirs = Vec::new();
    let specs = members
        .iter()
        .map(|&(name, model, use_cls)| {
            let lm = load(model);
            let vocab = lm.tokenizer().vocab();
            let dir = common::tmp(&format!("{tag}-{name}"));
            let map = map_over(vocab, &[("Paris", "LOCATION 12"), ("paris", "LOCATION 12")], &format!("{tag}-{name}"));
            map.save(&dir).unwrap();
            dirs.push(dir.clone());
            MemberSpec {
                name: name.into(),
                kind: MemberKind::MaskedLm,
                map: Some(dir),
                use_cls,
                ..MemberSpec::from_model(&common::fixture_arg(model))
            }
        })
        .collect();
    let config = EngineConfig {
        members: specs,
        common: None,
        second_cs: SecondCsRule::Reference,
        taxonomy: "jan2022".into(),
        seeds: None,
        precision: Default::default(),
        numerics,
        source: None,
    };
    let engine = Engine::load(&config, &Quiet).expect("engine loads");
    for d in dirs {
        std::fs::remove_dir_all(d).unwrap(); // the maps are read (and memory-mapped) by now
    }
    engine
}

fn tag(engine: &Engine, texts: &[&str]) -> Vec<Result<TagResult, maskner::Error>> {
    let reqs: Vec<TagRequest> = texts.iter().map(|t| TagRequest::new(*t, PhraseMode::Markers)).collect();
    engine.tag(&reqs)
}

fn one(engine: &Engine, text: &str) -> TagResult {
    tag(engine, &[text]).pop().unwrap().expect("record tags")
}

#[test]
fn sentences_get_a_period_quotes_become_apostrophes_and_context_words_vocabulary_casing() {
    let e = engine(&[("bio", "tiny-bert-cased", true), ("phi", "tiny-bert-uncased", false)], Numerics::Fixed, "prep");
    let r = one(&e, "JOHN smith said \"hi\" in PARIS:__entity__");
    let s = &r.sentences[0];
    let terms: Vec<(&str, bool)> = s.terms.iter().map(|t| (t.text.as_str(), t.synthetic)).collect();
    assert_eq!(
        terms,
        [("JOHN", false), ("smith", false), ("said", false), ("\"hi\"", false), ("in", false), ("PARIS", false), (".", true)]
    );
    // the phrase keeps its input casing (a marked word never matches the vocabulary)
    assert_eq!(s.outputs[0].terms, ["John", "Smith", "said", "'hi'", "in", "PARIS", "."]);
    assert_eq!(s.outputs[1].terms, ["john", "smith", "said", "'hi'", "in", "PARIS", "."]);
    assert_eq!((s.phrases.len(), s.phrases[0].clone()), (1, 5..6));
    // a sentence ending in one of ! , . : ; ? gets no period
    let r = one(&e, "Did Lou visit PARIS:__entity__ ?");
    assert_eq!(r.sentences[0].terms.last().map(|t| (t.text.as_str(), t.synthetic)), Some(("?", false)));
    assert_eq!(r.sentences[0].terms.len(), 5);
}

#[test]
fn a_whole_input_phrase_has_no_cs_descriptors() {
    let e = engine(&[("bio", "tiny-bert-cased", true), ("phi", "tiny-bert-uncased", false)], Numerics::Fixed, "ignore-cs");
    for (text, ignored) in [
        ("Lou:__entity__ Gehrig:__entity__", true),   // period appended: "[MASK] ."
        ("Lou:__entity__ Gehrig:__entity__ .", true), // the user's own period
        ("Lou:__entity__ Gehrig:__entity__ worked", false),
        ("Lou Gehrig:__entity__", false),
    ] {
        let r = one(&e, text);
        for out in &r.sentences[0].outputs {
            let span = out.spans.values().next().expect("one phrase");
            assert_eq!(span.cs_descriptors.is_empty(), ignored, "{text}");
            assert!(!span.ci_descriptors.is_empty(), "{text}");
            if !ignored {
                assert_eq!(span.cs_descriptors.len(), TOP_K, "{text}: default mode fills the CS budget");
            }
        }
    }
}

#[test]
fn cls_descriptors_come_only_from_the_member_that_reads_cls() {
    let members = [("bio", "tiny-bert-cased", true), ("phi", "tiny-bert-cased", false)];
    let e = engine(&members, Numerics::Fixed, "cls");
    let clean = |d: &maskner::aggregate::Descriptor| {
        !d.token.starts_with('#') && !Stoplist::builtin().contains(&d.token) && d.token.chars().count() > 1
    };

    // vocabulary override: 10 [CLS] descriptors + the word itself (bio), the word alone (phi)
    let r = one(&e, "Paris:__entity__ visited Lou");
    let bio = &r.sentences[0].outputs[0].spans[&0].ci_descriptors;
    let phi = &r.sentences[0].outputs[1].spans[&0].ci_descriptors;
    assert_eq!(bio.len(), 11);
    assert!(bio[..10].iter().all(clean), "{bio:?}");
    assert_eq!((bio[10].token.as_str(), bio[10].signature.to_string()), ("Paris", "LOCATION 12".to_string()));
    assert_eq!(phi.len(), 1);
    assert_eq!(phi[0].token, "Paris");
    assert_eq!(phi[0].logit, bio[10].logit, "the same sequence and position in both members");

    // number override: every descriptor is `two`, 10 + 10 (one logit per position) or 20
    let r = one(&e, "Lou visited 120:__entity__ children");
    let bio = &r.sentences[0].outputs[0].spans[&2].ci_descriptors;
    let phi = &r.sentences[0].outputs[1].spans[&2].ci_descriptors;
    assert_eq!(bio.len(), 20);
    assert_eq!(phi.len(), 20);
    for d in bio.iter().chain(phi) {
        assert_eq!((d.token.as_str(), d.signature.to_string()), ("two", "NUMBER 1".to_string()));
    }
    assert!(bio[..10].iter().all(|d| d.logit == bio[0].logit) && bio[10..].iter().all(|d| d.logit == bio[10].logit));
    assert_ne!(bio[0].logit, bio[10].logit, "[CLS] and [MASK] are different positions");
    assert!(phi.iter().all(|d| d.logit == bio[10].logit), "phi reads only the [MASK]");

    // compat: sub-words may use up budget, so at most as many, still ending with the word
    let c = engine(&members, Numerics::Compat, "cls-compat");
    let r = one(&c, "Paris:__entity__ visited Lou");
    let bio = &r.sentences[0].outputs[0].spans[&0].ci_descriptors;
    assert!((2..=11).contains(&bio.len()), "{}", bio.len());
    assert_eq!(bio.last().map(|d| d.token.as_str()), Some("Paris"));
    assert_eq!(r.sentences[0].outputs[1].spans[&0].ci_descriptors.len(), 1);
}

#[test]
fn a_phrase_longer_than_the_model_fails_its_own_record_only() {
    let e = engine(&[("bio", "tiny-bert-cased", true)], Numerics::Fixed, "long-phrase");
    // `Q` + 58 `##q` = 59 pieces: [CLS] 59 is a [MASK] [SEP] = 64, the model's maximum
    let fits = format!("Lou visited {}:__entity__", "q".repeat(59));
    let too_long = format!("Lou visited {}:__entity__", "q".repeat(60));
    let results = tag(&e, &["Lou visited Paris:__entity__", &fits, &too_long]);
    assert!(results[0].is_ok() && results[1].is_ok(), "{:?}", results[1].as_ref().err());
    let err = format!("{:#}", results[2].as_ref().expect_err("too long"));
    assert!(err.contains("member bio: a phrase of 60 word pieces is longer than the model's maximum of 64"), "{err}");
}

#[test]
fn an_over_long_sentence_is_windowed_not_refused() {
    let e = engine(&[("bio", "tiny-bert-cased", true)], Numerics::Fixed, "long-sentence");
    let text = format!("{} Paris:__entity__ {}", vec!["blood"; 40].join(" "), vec!["blood"; 40].join(" "));
    let r = one(&e, &text);
    let span = &r.sentences[0].outputs[0].spans[&40];
    assert_eq!(span.cs_descriptors.len(), TOP_K);
    assert_eq!(r.sentences[0].terms.len(), 82, "no word is lost from the output");
}
