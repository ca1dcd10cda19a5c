//! Token predictions to entities: the Hugging Face token-classification pipeline's
//! post-processing (`transformers.pipelines.token_classification`, 5.x), ported step by step:
//! softmax, gather pre-entities (sub-word detection), word aggregation (`first` / `average` /
//! `max`), grouping of adjacent B-/I- tags (`simple` and after word aggregation), filtering
//! of `O`, and, for texts split into several windows, the merge of overlapping entities.
//!
//! Quirks are kept on purpose, so outputs match the pipeline's: the entity group is the label
//! after its first `-`; the `word` of a group is the tokenizer's decoder applied to the pieces
//! (or, after word aggregation, to the already decoded words, which concatenates words for
//! SentencePiece tokenizers); non-word-aware tokenizers (no continuing-subword prefix, e.g.
//! SentencePiece) detect sub-words with the pipeline's fallback heuristic (no space just before
//! the token); an `[UNK]` token's word is the original text.

use serde::{Deserialize, Serialize};

use crate::aggregate::Prefix;

/// How token predictions are combined into entities; the pipeline's `aggregation_strategy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Aggregation {
    /// Each token keeps its own label; adjacent tokens with the same entity type (B- then I-)
    /// form one entity.
    Simple,
    /// A word takes the label of its first token.
    First,
    /// A word takes the label with the highest probability averaged over its tokens.
    Average,
    /// A word takes the label of its token with the highest probability.
    Max,
}

impl Aggregation {
    pub const ALL: [Aggregation; 4] = [Self::Simple, Self::First, Self::Average, Self::Max];

    /// The strategy called `name` (`simple`, `first`, `average`, `max`), as `--aggregation`
    /// takes it.
    pub fn from_name(name: &str) -> crate::Result<Self> {
        crate::error::from_value_name("aggregation", name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Simple => "simple",
            Self::First => "first",
            Self::Average => "average",
            Self::Max => "max",
        }
    }
}

impl std::fmt::Display for Aggregation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Aggregation {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| anyhow::anyhow!("unknown aggregation strategy {s:?} (expected simple, first, average or max)"))
    }
}

/// One entity, as the pipeline reports it: `{entity_group, score, word, start, end}`.
/// `start`/`end` are character (Unicode scalar value) offsets into the text, end exclusive.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EntitySpan {
    pub entity_group: String,
    pub score: f32,
    pub word: String,
    pub start: usize,
    pub end: usize,
}

/// What the post-processing needs of one window.
pub(crate) struct WindowView<'a> {
    pub ids: &'a [u32],
    /// Vocabulary strings of the ids (`convert_ids_to_tokens`).
    pub tokens: &'a [String],
    /// Character offsets into the text.
    pub offsets: &'a [(usize, usize)],
    pub special: &'a [bool],
    /// `[tokens][labels]` logits.
    pub logits: &'a [Vec<f32>],
}

/// What the post-processing needs of the tokenizer and model.
pub(crate) struct Context<'a> {
    pub text: &'a [char],
    pub id2label: &'a [String],
    pub unk_id: Option<u32>,
    /// The tokenizer's model has a continuing-subword prefix (WordPiece `##`): sub-words are
    /// exact; otherwise the pipeline's fallback heuristic applies.
    pub word_aware: bool,
    /// `convert_tokens_to_string`: the tokenizer's decoder on a list of tokens.
    pub decode: &'a dyn Fn(Vec<String>) -> String,
}

struct PreEntity {
    word: String,
    scores: Vec<f32>,
    start: usize,
    end: usize,
    is_subword: bool,
}

struct TokenEntity {
    entity: String,
    score: f32,
    word: String,
    start: usize,
    end: usize,
}

/// numpy-style softmax of one row in f32.
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = logits.iter().map(|&x| (x - max).exp()).collect();
    let sum: f32 = exp.iter().sum();
    exp.into_iter().map(|e| e / sum).collect()
}

/// numpy `argmax`: the first index of the maximum.
pub fn argmax(xs: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in xs.iter().enumerate() {
        if x > xs[best] {
            best = i;
        }
    }
    best
}

/// Entities of a text from its windows' logits (the pipeline's `postprocess`).
pub(crate) fn postprocess(ctx: &Context, windows: &[WindowView], strategy: Aggregation) -> Vec<EntitySpan> {
    let mut all = Vec::new();
    for w in windows {
        let scores: Vec<Vec<f32>> = w.logits.iter().map(|row| softmax(row)).collect();
        let pre = gather_pre_entities(ctx, w, scores);
        let grouped = aggregate(ctx, pre, strategy);
        all.extend(grouped.into_iter().filter(|e| e.entity_group != "O"));
    }
    if windows.len() > 1 { aggregate_overlapping_entities(all) } else { all }
}

fn slice(text: &[char], start: usize, end: usize) -> String {
    let end = end.min(text.len());
    let start = start.min(end);
    text[start..end].iter().collect()
}

fn gather_pre_entities(ctx: &Context, w: &WindowView, scores: Vec<Vec<f32>>) -> Vec<PreEntity> {
    let mut out = Vec::new();
    for (idx, token_scores) in scores.into_iter().enumerate() {
        if w.special[idx] {
            continue;
        }
        let mut word = w.tokens[idx].clone();
        let (start, end) = w.offsets[idx];
        let word_ref = slice(ctx.text, start, end);
        let mut is_subword = if ctx.word_aware {
            word.chars().count() != word_ref.chars().count()
        } else {
            // `start_ind > 0 and " " not in sentence[start_ind - 1 : start_ind + 1]`
            start > 0 && !slice(ctx.text, start - 1, start + 1).contains(' ')
        };
        if Some(w.ids[idx]) == ctx.unk_id {
            word = word_ref;
            is_subword = false;
        }
        out.push(PreEntity { word, scores: token_scores, start, end, is_subword });
    }
    out
}

fn aggregate(ctx: &Context, pre: Vec<PreEntity>, strategy: Aggregation) -> Vec<EntitySpan> {
    let entities: Vec<TokenEntity> = match strategy {
        Aggregation::Simple => pre
            .into_iter()
            .map(|p| {
                let idx = argmax(&p.scores);
                TokenEntity { entity: ctx.id2label[idx].clone(), score: p.scores[idx], word: p.word, start: p.start, end: p.end }
            })
            .collect(),
        _ => aggregate_words(ctx, pre, strategy),
    };
    group_entities(ctx, entities)
}

fn aggregate_word(ctx: &Context, group: &[PreEntity], strategy: Aggregation) -> TokenEntity {
    let word = (ctx.decode)(group.iter().map(|e| e.word.clone()).collect());
    let (idx, score) = match strategy {
        Aggregation::First | Aggregation::Simple => {
            let s = &group[0].scores;
            let i = argmax(s);
            (i, s[i])
        }
        Aggregation::Max => {
            // Python `max` keeps the first of equal maxima
            let mut best = &group[0];
            let mut best_max = best.scores[argmax(&best.scores)];
            for e in &group[1..] {
                let m = e.scores[argmax(&e.scores)];
                if m > best_max {
                    best = e;
                    best_max = m;
                }
            }
            let i = argmax(&best.scores);
            (i, best.scores[i])
        }
        Aggregation::Average => {
            let n = group[0].scores.len();
            let mut avg = vec![0.0f32; n];
            for e in group {
                for (a, s) in avg.iter_mut().zip(&e.scores) {
                    *a += s;
                }
            }
            let count = group.len() as f32;
            for a in &mut avg {
                *a /= count;
            }
            let i = argmax(&avg);
            (i, avg[i])
        }
    };
    TokenEntity { entity: ctx.id2label[idx].clone(), score, word, start: group[0].start, end: group[group.len() - 1].end }
}

fn aggregate_words(ctx: &Context, pre: Vec<PreEntity>, strategy: Aggregation) -> Vec<TokenEntity> {
    let mut words = Vec::new();
    let mut group: Vec<PreEntity> = Vec::new();
    for e in pre {
        if !group.is_empty() && !e.is_subword {
            words.push(aggregate_word(ctx, &group, strategy));
            group.clear();
        }
        group.push(e);
    }
    if !group.is_empty() {
        words.push(aggregate_word(ctx, &group, strategy));
    }
    words
}

/// `(B|I, tag)` of a label; labels without a B-/I- prefix count as I- continuations.
fn get_tag(label: &str) -> (char, &str) {
    match Prefix::split(label, "-") {
        Some((Prefix::B, t)) => ('B', t),
        Some((Prefix::I, t)) => ('I', t),
        None => ('I', label),
    }
}

fn group_sub_entities(ctx: &Context, group: &[TokenEntity]) -> EntitySpan {
    let entity_group = super::labels::entity_group_of(&group[0].entity).to_string();
    let score = group.iter().map(|e| e.score).sum::<f32>() / group.len() as f32;
    let word = (ctx.decode)(group.iter().map(|e| e.word.clone()).collect());
    EntitySpan { entity_group, score, word, start: group[0].start, end: group[group.len() - 1].end }
}

fn group_entities(ctx: &Context, entities: Vec<TokenEntity>) -> Vec<EntitySpan> {
    let mut groups = Vec::new();
    let mut current: Vec<TokenEntity> = Vec::new();
    for e in entities {
        if let Some(last) = current.last() {
            let (bi, tag) = get_tag(&e.entity);
            let (_, last_tag) = get_tag(&last.entity);
            if !(tag == last_tag && bi != 'B') {
                groups.push(group_sub_entities(ctx, &current));
                current.clear();
            }
        }
        current.push(e);
    }
    if !current.is_empty() {
        groups.push(group_sub_entities(ctx, &current));
    }
    groups
}

/// Entities of overlapping windows: sorted by start (stable); an entity starting inside the
/// previous kept one replaces it if longer, or as long with a higher score.
pub(crate) fn aggregate_overlapping_entities(mut entities: Vec<EntitySpan>) -> Vec<EntitySpan> {
    if entities.is_empty() {
        return entities;
    }
    entities.sort_by_key(|e| e.start);
    let mut out = Vec::new();
    // As in the pipeline, the loop starts with the first entity compared with itself (a no-op,
    // except that an empty first span is kept twice).
    let mut prev = entities[0].clone();
    for e in entities {
        if prev.start <= e.start && e.start < prev.end {
            let cur_len = e.end as i64 - e.start as i64;
            let prev_len = prev.end as i64 - prev.start as i64;
            if cur_len > prev_len || (cur_len == prev_len && e.score > prev.score) {
                prev = e;
            }
        } else {
            out.push(prev);
            prev = e;
        }
    }
    out.push(prev);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(g: &str, s: f32, start: usize, end: usize) -> EntitySpan {
        EntitySpan { entity_group: g.into(), score: s, word: String::new(), start, end }
    }

    #[test]
    fn overlap_merge_keeps_longer_then_higher_score() {
        let got = aggregate_overlapping_entities(vec![
            span("A", 0.5, 10, 14),
            span("B", 0.9, 0, 4),
            span("C", 0.6, 10, 18),
            span("D", 0.7, 12, 18),
            span("E", 0.8, 20, 24),
            span("F", 0.9, 20, 24),
        ]);
        let names: Vec<&str> = got.iter().map(|e| e.entity_group.as_str()).collect();
        assert_eq!(names, ["B", "C", "F"]);
    }

    #[test]
    fn tags_and_groups() {
        assert_eq!(get_tag("B-protein"), ('B', "protein"));
        assert_eq!(get_tag("I-DNA"), ('I', "DNA"));
        assert_eq!(get_tag("O"), ('I', "O"));
        assert_eq!(super::super::labels::entity_group_of("B-Sign_symptom"), "Sign_symptom");
        assert_eq!(super::super::labels::entity_group_of("O"), "O");
        assert_eq!("Average".parse::<Aggregation>().unwrap(), Aggregation::Average);
        assert!("none".parse::<Aggregation>().is_err());
    }

    #[test]
    fn softmax_and_argmax_follow_numpy() {
        let p = softmax(&[1.0, 3.0, 3.0]);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert_eq!(argmax(&p), 1, "first of equal maxima");
    }
}
