//! Standard NER scores over IOB2 tag sequences: strict entity spans as seqeval computes them
//! in its default mode, and token-level type matches.
//!
//! Tags: `O`; `B-X`, `I-X` (also `E-X`, `S-X`) or the same with `_` (`B_X`), as the method's
//! own files write them; bare `B`/`I`/`E`/`S` mean one untyped entity class, reported as `_`
//! (seqeval's name for it). Entity extraction follows seqeval's `get_entities`: an `I` after
//! `O` or after another type starts an entity, a type change ends one, sentences never share
//! an entity. An entity is correct when type, start and end all match.

use super::{EvalError, Location, Role};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};

/// Name of the untyped class (bare `B`/`I`), as seqeval reports it.
pub const UNTYPED: &str = "_";

/// A tag split into its prefix letter (`B`, `I`, `E`, `S`, `O`) and type (`_` if none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tag<'a> {
    pub prefix: char,
    pub kind: &'a str,
}

impl<'a> Tag<'a> {
    /// Parses `O`, `B`, `B-X`, `B_X` (and `I`, `E`, `S`); `None` for anything else.
    pub fn parse(tag: &'a str) -> Option<Tag<'a>> {
        let mut chars = tag.chars();
        let prefix = chars.next()?;
        let rest = chars.as_str();
        if prefix == 'O' && rest.is_empty() {
            return Some(Tag { prefix, kind: UNTYPED });
        }
        if !matches!(prefix, 'B' | 'I' | 'E' | 'S') {
            return None;
        }
        let kind = match rest.chars().next() {
            None => UNTYPED,
            Some('-' | '_') if rest.len() > 1 => &rest[1..],
            Some('-' | '_') => UNTYPED, // seqeval reads `B-` as untyped too
            Some(_) => return None,
        };
        Some(Tag { prefix, kind })
    }
}

/// One entity: type and inclusive token range within a sentence.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Entity<'a> {
    pub kind: &'a str,
    pub start: usize,
    pub end: usize,
}

/// seqeval `end_of_chunk`: does an entity end between `prev` and `cur`?
fn ends(prev: Tag, cur: Tag) -> bool {
    let (p, c) = (prev.prefix, cur.prefix);
    matches!(p, 'E' | 'S') || (matches!(p, 'B' | 'I') && matches!(c, 'B' | 'S' | 'O')) || (p != 'O' && prev.kind != cur.kind)
}

/// seqeval `start_of_chunk`: does an entity start at `cur`?
fn starts(prev: Tag, cur: Tag) -> bool {
    let (p, c) = (prev.prefix, cur.prefix);
    matches!(c, 'B' | 'S') || (matches!(p, 'E' | 'S' | 'O') && matches!(c, 'E' | 'I')) || (c != 'O' && prev.kind != cur.kind)
}

/// Entities of one sentence (seqeval `get_entities`, default mode).
pub fn entities<'a>(tags: &[Tag<'a>]) -> Vec<Entity<'a>> {
    let outside = Tag { prefix: 'O', kind: UNTYPED };
    let mut out = Vec::new();
    let mut prev = outside;
    let mut begin = 0;
    for (i, &cur) in tags.iter().chain(std::iter::once(&outside)).enumerate() {
        if ends(prev, cur) {
            out.push(Entity { kind: prev.kind, start: begin, end: i - 1 });
        }
        if starts(prev, cur) {
            begin = i;
        }
        prev = cur;
    }
    out
}

/// Precision, recall and F1 with their counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Prf {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Correct items (spans or tokens).
    pub true_positives: u64,
    /// Predicted items.
    pub predicted: u64,
    /// Gold items.
    pub support: u64,
}

impl Prf {
    /// From counts; a zero denominator gives 0 (seqeval's `zero_division` default).
    pub fn from_counts(true_positives: u64, predicted: u64, support: u64) -> Prf {
        let div = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let (precision, recall) = (div(true_positives, predicted), div(true_positives, support));
        Prf { precision, recall, f1: f1(precision, recall), true_positives, predicted, support }
    }
}

fn f1(p: f64, r: f64) -> f64 {
    if p + r == 0.0 { 0.0 } else { 2.0 * p * r / (p + r) }
}

/// Per-type scores and their averages.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Scores {
    /// By type name, sorted (seqeval's report order); types seen in gold or predictions.
    pub per_type: BTreeMap<String, Prf>,
    /// Pooled counts over all types.
    pub micro: Prf,
    /// Unweighted mean over `per_type` (counts are the sums).
    #[serde(rename = "macro")]
    pub macro_avg: Prf,
    /// Mean weighted by gold support (counts are the sums).
    pub weighted: Prf,
    /// Token-level only: share of tokens whose type (or `O`) matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
}

impl Scores {
    fn from_counts(counts: BTreeMap<String, (u64, u64, u64)>) -> Scores {
        let per_type: BTreeMap<String, Prf> =
            counts.into_iter().map(|(k, (tp, pred, gold))| (k, Prf::from_counts(tp, pred, gold))).collect();
        let sum = |f: fn(&Prf) -> u64| per_type.values().map(f).sum::<u64>();
        let (tp, pred, gold) = (sum(|p| p.true_positives), sum(|p| p.predicted), sum(|p| p.support));
        let micro = Prf::from_counts(tp, pred, gold);
        let n = per_type.len() as f64;
        let mean = |f: fn(&Prf) -> f64| if n == 0.0 { 0.0 } else { per_type.values().map(f).sum::<f64>() / n };
        let macro_avg = Prf { precision: mean(|p| p.precision), recall: mean(|p| p.recall), f1: mean(|p| p.f1), ..micro };
        let weighted_mean = |f: fn(&Prf) -> f64| {
            if gold == 0 { 0.0 } else { per_type.values().map(|p| f(p) * p.support as f64).sum::<f64>() / gold as f64 }
        };
        let weighted =
            Prf { precision: weighted_mean(|p| p.precision), recall: weighted_mean(|p| p.recall), f1: weighted_mean(|p| p.f1), ..micro };
        Scores { per_type, micro, macro_avg, weighted, accuracy: None }
    }
}

/// Gold and predicted tags of each sentence.
type TagPairs<'a> = Vec<(Vec<Tag<'a>>, Vec<Tag<'a>>)>;

/// Parses and length-checks a gold/prediction pair of tag sequences.
fn parse_pair<'a, S: AsRef<str>>(gold: &'a [Vec<S>], pred: &'a [Vec<S>]) -> Result<TagPairs<'a>, EvalError> {
    if gold.len() != pred.len() {
        let at = Location::Memory { role: Role::Pred, sentence: gold.len().min(pred.len()), token: None };
        let msg = format!("{} gold sentences but {} predicted", gold.len(), pred.len());
        return Err(EvalError::at(at, msg));
    }
    let parse = |role: Role, s: usize, tags: &'a [S]| -> Result<Vec<Tag<'a>>, EvalError> {
        tags.iter()
            .enumerate()
            .map(|(t, tag)| {
                Tag::parse(tag.as_ref()).ok_or_else(|| {
                    let at = Location::Memory { role, sentence: s, token: Some(t) };
                    EvalError::at(at, format!("invalid IOB tag {:?}", tag.as_ref()))
                })
            })
            .collect()
    };
    gold.iter()
        .zip(pred)
        .enumerate()
        .map(|(s, (g, p))| {
            if g.len() != p.len() {
                let at = Location::Memory { role: Role::Pred, sentence: s, token: None };
                return Err(EvalError::at(at, format!("{} tokens, gold has {}", p.len(), g.len())));
            }
            Ok((parse(Role::Gold, s, g)?, parse(Role::Pred, s, p)?))
        })
        .collect()
}

/// Strict entity-span scores (seqeval default mode), per type, micro, macro and weighted.
pub fn span_scores<S: AsRef<str>>(gold: &[Vec<S>], pred: &[Vec<S>]) -> Result<Scores, EvalError> {
    let mut counts: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
    for (g, p) in parse_pair(gold, pred)? {
        let (ge, pe) = (entities(&g), entities(&p));
        let gold_set: HashSet<&Entity> = ge.iter().collect();
        for e in &pe {
            let c = counts.entry(e.kind.to_string()).or_default();
            c.1 += 1;
            if gold_set.contains(e) {
                c.0 += 1;
            }
        }
        for e in &ge {
            counts.entry(e.kind.to_string()).or_default().2 += 1;
        }
    }
    Ok(Scores::from_counts(counts))
}

/// Token-level scores: a token is correct for type X when gold and prediction both have type X
/// (prefix ignored); `O` is not a class. `accuracy` counts `O`/`O` matches too.
pub fn token_scores<S: AsRef<str>>(gold: &[Vec<S>], pred: &[Vec<S>]) -> Result<Scores, EvalError> {
    let mut counts: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
    let (mut same, mut total) = (0u64, 0u64);
    let kind = |t: Tag<'_>| if t.prefix == 'O' { None } else { Some(t.kind.to_string()) };
    for (g, p) in parse_pair(gold, pred)? {
        for (&gt, &pt) in g.iter().zip(&p) {
            let (gk, pk) = (kind(gt), kind(pt));
            total += 1;
            if gk == pk {
                same += 1;
            }
            if let Some(k) = &pk {
                let c = counts.entry(k.clone()).or_default();
                c.1 += 1;
                if gk == pk {
                    c.0 += 1;
                }
            }
            if let Some(k) = gk {
                counts.entry(k).or_default().2 += 1;
            }
        }
    }
    let mut scores = Scores::from_counts(counts);
    scores.accuracy = Some(if total == 0 { 0.0 } else { same as f64 / total as f64 });
    Ok(scores)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ents(tags: &[&str]) -> Vec<(String, usize, usize)> {
        let t: Vec<Tag> = tags.iter().map(|s| Tag::parse(s).unwrap()).collect();
        entities(&t).into_iter().map(|e| (e.kind.to_string(), e.start, e.end)).collect()
    }

    fn e(kind: &str, start: usize, end: usize) -> (String, usize, usize) {
        (kind.to_string(), start, end)
    }

    fn v(s: &[&[&str]]) -> Vec<Vec<String>> {
        s.iter().map(|x| x.iter().map(|t| t.to_string()).collect()).collect()
    }

    #[test]
    fn i_after_o_starts_an_entity() {
        assert_eq!(ents(&["O", "I-PER", "I-PER", "O"]), [e("PER", 1, 2)]);
        assert_eq!(ents(&["I-PER"]), [e("PER", 0, 0)]);
    }

    #[test]
    fn type_change_ends_an_entity() {
        assert_eq!(ents(&["B-PER", "I-LOC", "I-LOC"]), [e("PER", 0, 0), e("LOC", 1, 2)]);
        assert_eq!(ents(&["B-PER", "B-PER", "I-PER"]), [e("PER", 0, 0), e("PER", 1, 2)]);
    }

    #[test]
    fn underscore_style_equals_dash_style() {
        assert_eq!(ents(&["B_DRUG", "I_DRUG", "O", "B_TIME"]), ents(&["B-DRUG", "I-DRUG", "O", "B-TIME"]));
        assert_eq!(Tag::parse("B_DRUG"), Some(Tag { prefix: 'B', kind: "DRUG" }));
    }

    #[test]
    fn bare_b_i_are_one_untyped_class() {
        assert_eq!(ents(&["B", "I", "O", "B", "B", "I"]), [e("_", 0, 1), e("_", 3, 3), e("_", 4, 5)]);
        // An I after O starts an entity here too.
        assert_eq!(ents(&["O", "I", "I"]), [e("_", 1, 2)]);
    }

    #[test]
    fn iobes_tags_follow_seqeval() {
        assert_eq!(ents(&["S-PER", "B-PER", "E-PER", "E-PER"]), [e("PER", 0, 0), e("PER", 1, 2), e("PER", 3, 3)]);
    }

    #[test]
    fn invalid_tags_are_rejected() {
        for bad in ["", "X", "PER", "BPER", "o", "B:X"] {
            assert_eq!(Tag::parse(bad), None, "{bad:?}");
        }
        let err = span_scores(&v(&[&["O", "PER"]]), &v(&[&["O", "O"]])).unwrap_err().to_string();
        assert_eq!(err, "gold sentence 1 token 2: invalid IOB tag \"PER\"");
    }

    #[test]
    fn seqeval_docstring_example() {
        // seqeval's own example: micro P = R = F1 = 0.5; MISC 0, PER 1.
        let gold = v(&[&["O", "O", "O", "B-MISC", "I-MISC", "I-MISC", "O"], &["B-PER", "I-PER", "O"]]);
        let pred = v(&[&["O", "O", "B-MISC", "I-MISC", "I-MISC", "I-MISC", "O"], &["B-PER", "I-PER", "O"]]);
        let s = span_scores(&gold, &pred).unwrap();
        assert_eq!((s.micro.precision, s.micro.recall, s.micro.f1), (0.5, 0.5, 0.5));
        assert_eq!(s.per_type["MISC"].f1, 0.0);
        assert_eq!(s.per_type["PER"].f1, 1.0);
        assert_eq!(s.macro_avg.f1, 0.5);
    }

    #[test]
    fn hand_computed_span_and_token_scores() {
        // gold: [PER 0-1] [LOC 3]        pred: [PER 0-1] [LOC 2-3] [ORG 4]
        let gold = v(&[&["B-PER", "I-PER", "O", "B-LOC", "O"]]);
        let pred = v(&[&["B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG"]]);
        let s = span_scores(&gold, &pred).unwrap();
        assert_eq!((s.micro.true_positives, s.micro.predicted, s.micro.support), (1, 3, 2));
        assert_eq!(s.micro.precision, 1.0 / 3.0);
        assert_eq!(s.micro.recall, 0.5);
        assert_eq!(s.micro.f1, 0.4);
        assert_eq!(s.per_type["ORG"], Prf::from_counts(0, 1, 0));
        // macro over PER (1), LOC (0), ORG (0) types
        assert_eq!(s.macro_avg.f1, 1.0 / 3.0);
        // weighted by gold support: PER 1 (F1 1), LOC 1 (F1 0), ORG 0
        assert_eq!(s.weighted.f1, 0.5);

        let t = token_scores(&gold, &pred).unwrap();
        // tokens: PER/PER, PER/PER, O/LOC, LOC/LOC, O/ORG
        assert_eq!(t.per_type["PER"], Prf::from_counts(2, 2, 2));
        assert_eq!(t.per_type["LOC"], Prf::from_counts(1, 2, 1));
        assert_eq!((t.micro.true_positives, t.micro.predicted, t.micro.support), (3, 5, 3));
        assert_eq!(t.accuracy, Some(3.0 / 5.0));
    }

    #[test]
    fn length_mismatch_is_an_error() {
        let err = span_scores(&v(&[&["O", "O"]]), &v(&[&["O"]])).unwrap_err().to_string();
        assert_eq!(err, "prediction sentence 1: 1 tokens, gold has 2");
    }
}
