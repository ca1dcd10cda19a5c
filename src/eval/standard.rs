//! Conventional scores for the reference's inputs: gold labels and predicted tags are mapped
//! to IOB2 tags over the config's display classes, then scored by [`super::span`].
//!
//! Choices, so that numbers are comparable with published NER results:
//! * Types: a gold label goes through `mapping` (prefix-stripped `g_name` -> `disp_name`); a
//!   predicted tag keeps its first prediction only and maps its group as the reference's
//!   strict (1p) rule does: a display class stays itself, a group in `fp_type_list` goes
//!   through `fp_type_to_disp_map`, anything else becomes `misc_tag`. No subtype whitelist:
//!   that is the reference's false-positive filter, not a type mapping.
//! * The other class (display of `other_tag`) and classes named `OTHER` or `O` are outside.
//! * `B`/`I` come from the label's or first prediction's prefix; no prefix reads as `I`.
//! * Alignment is the reference's (pairing, resync, last piece's label), but nothing is
//!   dropped: an empty or out-of-sync prediction scores as all `O` and a truncated gold tail
//!   as `O`, so failures cost recall. CoNLL `-DOCSTART-` sentences are skipped.

use super::reference::{self, Config, Pairing, prediction_parts};
use super::span::{self, Scores};
use super::{EvalError, Sentences};
use crate::aggregate::strip_bio;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// Sentence bookkeeping of a standard scoring run.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SentenceCounts {
    /// Gold sentences scored (including those scored as all `O` below).
    pub scored: u64,
    /// Empty prediction (failed query, or prediction file too short): scored as all `O`.
    pub empty_predictions: u64,
    /// Resync failed: scored as all `O`.
    pub out_of_sync: u64,
    /// Prediction shorter than gold: the gold tail scored against `O`.
    pub truncated: u64,
    /// CoNLL `-DOCSTART-` lines, not scored.
    pub docstart_skipped: u64,
}

/// One standard scoring, labelled.
#[derive(Clone, Debug, Serialize)]
pub struct StandardReport {
    /// [`super::SCORING_SPAN`] or [`super::SCORING_TOKEN`].
    pub scoring: &'static str,
    /// Always `"first"`: only the first of two predictions is used.
    pub predictions: &'static str,
    pub sentences: SentenceCounts,
    #[serde(flatten)]
    pub scores: Scores,
    #[serde(skip)]
    pub stopped_at: Option<usize>,
}

impl StandardReport {
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if let Some(k) = self.stopped_at {
            w.push(format!("both files have an empty sentence at sentence {}; scoring stops there", k + 1));
        }
        let s = &self.sentences;
        if s.empty_predictions + s.out_of_sync > 0 {
            w.push(format!("{} empty and {} out-of-sync prediction sentence(s) scored as all O", s.empty_predictions, s.out_of_sync));
        }
        w
    }
}

/// Span and token reports from one alignment.
#[derive(Clone, Debug)]
pub struct Standard {
    pub span: StandardReport,
    pub token: StandardReport,
}

/// Maps gold labels and predicted tags to IOB2 tags over display classes (see module docs).
pub struct TypeMapper<'c> {
    config: &'c Config,
    classes: HashSet<&'c str>,
    by_gname: HashMap<&'c str, &'c str>,
    fp_types: HashSet<&'c str>,
    other: &'c str,
}

impl<'c> TypeMapper<'c> {
    pub fn new(config: &'c Config) -> Self {
        let by_gname: HashMap<&str, &str> = config.mapping.iter().map(|m| (m.g_name.as_str(), m.disp_name.as_str())).collect();
        TypeMapper {
            config,
            classes: config.mapping.iter().map(|m| m.disp_name.as_str()).collect(),
            other: by_gname.get(config.other_tag.as_str()).copied().unwrap_or("O"),
            by_gname,
            fp_types: config.fp_type_list.iter().map(String::as_str).collect(),
        }
    }

    fn outside(&self, class: &str) -> bool {
        class == self.other || class == self.config.other_tag || class == "OTHER" || class == "O"
    }

    /// `B-PER` for CoNLL `B-PER`, `B-DISEASE` for a BioBERT `B` (via mapping), `O` for other.
    pub fn gold(&self, raw: &str) -> Result<String, String> {
        if raw == self.config.other_tag {
            return Ok("O".into());
        }
        let key = strip_bio(raw, "_-");
        let class = self
            .by_gname
            .get(key)
            .ok_or_else(|| format!("label {raw:?} (looked up as {key:?}) is not a g_name in the config \"mapping\""))?;
        Ok(self.iob(iob_prefix(raw), class))
    }

    /// `B_DRUG[THERAPEUTIC_OR_PREVENTIVE_PROCEDURE]/B_GENE` -> `B-THERAPEUTIC_OR_PREVENTIVE_PROCEDURE`.
    pub fn pred(&self, tag: &str) -> Result<String, String> {
        let first = tag.split('/').next().unwrap_or(tag);
        let group = prediction_parts(first)[0].0;
        if group == self.config.other_tag {
            return Ok("O".into());
        }
        let class = if self.classes.contains(group) {
            group
        } else if self.fp_types.contains(group) {
            self.config
                .fp_type_to_disp_map
                .get(group)
                .ok_or_else(|| format!("group {group:?} is in fp_type_list but not in fp_type_to_disp_map"))?
        } else {
            &self.config.misc_tag
        };
        Ok(self.iob(iob_prefix(first), class))
    }

    fn iob(&self, prefix: char, class: &str) -> String {
        if self.outside(class) { "O".into() } else { format!("{prefix}-{class}") }
    }
}

fn iob_prefix(label: &str) -> char {
    match label.as_bytes() {
        [b'B'] | [b'B', b'_' | b'-', ..] => 'B',
        _ => 'I',
    }
}

/// Gold and predicted IOB2 sequences over display classes, aligned sentence by sentence.
#[derive(Clone, Debug)]
pub struct Typed {
    pub gold: Vec<Vec<String>>,
    pub pred: Vec<Vec<String>>,
    pub sentences: SentenceCounts,
    /// See [`reference::Diagnostics::stopped_at`].
    pub stopped_at: Option<usize>,
}

/// Maps and aligns gold and predictions (see module docs) for [`span`] scoring.
pub fn typed_sequences(config: &Config, gold: &Sentences, pred: &Sentences) -> Result<Typed, EvalError> {
    let mapper = TypeMapper::new(config);
    let (pairs, stopped_at) = reference::pair(gold, pred)?;
    let mut counts = SentenceCounts::default();
    let (mut golds, mut preds) = (Vec::new(), Vec::new());
    for (k, pairing) in pairs.iter().enumerate() {
        let g = &gold.sentences[k];
        if g.len() == 1 && g[0].0 == "-DOCSTART-" {
            counts.docstart_skipped += 1;
            continue;
        }
        let gold_tags = g
            .iter()
            .enumerate()
            .map(|(i, (_, raw))| mapper.gold(raw).map_err(|m| EvalError::at(gold.locate(k, Some(i)), m)))
            .collect::<Result<Vec<_>, _>>()?;
        let n = g.len();
        let pred_tags = match pairing {
            Pairing::Empty => {
                counts.empty_predictions += 1;
                vec!["O".to_string(); n]
            }
            Pairing::OutOfSync => {
                counts.out_of_sync += 1;
                vec!["O".to_string(); n]
            }
            Pairing::Aligned(idx) => {
                if idx.len() < n {
                    counts.truncated += 1;
                }
                let mut tags = idx
                    .iter()
                    .map(|&j| mapper.pred(&pred.sentences[k][j].1).map_err(|m| EvalError::at(pred.locate(k, Some(j)), m)))
                    .collect::<Result<Vec<_>, _>>()?;
                tags.resize(n, "O".to_string());
                tags
            }
        };
        counts.scored += 1;
        golds.push(gold_tags);
        preds.push(pred_tags);
    }
    Ok(Typed { gold: golds, pred: preds, sentences: counts, stopped_at })
}

/// Span-level and token-level scores of the first prediction.
pub fn score(config: &Config, gold: &Sentences, pred: &Sentences) -> Result<Standard, EvalError> {
    let typed = typed_sequences(config, gold, pred)?;
    let report = |scoring, scores| StandardReport {
        scoring,
        predictions: "first",
        sentences: typed.sentences.clone(),
        scores,
        stopped_at: typed.stopped_at,
    };
    Ok(Standard {
        span: report(super::SCORING_SPAN, span::span_scores(&typed.gold, &typed.pred)?),
        token: report(super::SCORING_TOKEN, span::token_scores(&typed.gold, &typed.pred)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> Config {
        Config::from_json(json, None).unwrap()
    }

    const CHEM: &str = r#"{"label_index": 1, "term_index": 0, "other_tag": "O", "misc_tag": "O",
        "fp_type_list": ["THERAPEUTIC_OR_PREVENTIVE_PROCEDURE"], "fp_subtype_list": ["DRUG"],
        "fp_type_to_disp_map": {"THERAPEUTIC_OR_PREVENTIVE_PROCEDURE": "THERAPEUTIC_OR_PREVENTIVE_PROCEDURE"},
        "mapping": [
            {"g_name": "B", "disp_name": "THERAPEUTIC_OR_PREVENTIVE_PROCEDURE", "map": []},
            {"g_name": "I", "disp_name": "THERAPEUTIC_OR_PREVENTIVE_PROCEDURE", "map": []},
            {"g_name": "O", "disp_name": "OTHER", "map": []}]}"#;

    const CONLL: &str = r#"{"label_index": 3, "term_index": 0, "other_tag": "O", "misc_tag": "MISC",
        "fp_type_list": ["PERSON", "ORGANIZATION", "ENT"], "fp_subtype_list": [],
        "fp_type_to_disp_map": {"PERSON": "PERSON", "ORGANIZATION": "ORGANIZATION", "ENT": "ORGANIZATION"},
        "mapping": [
            {"g_name": "PER", "disp_name": "PERSON", "map": ["PERSON"]},
            {"g_name": "ORG", "disp_name": "ORGANIZATION", "map": ["ORGANIZATION", "ENT"]},
            {"g_name": "MISC", "disp_name": "MISC", "map": []},
            {"g_name": "O", "disp_name": "OTHER", "map": []}]}"#;

    #[test]
    fn gold_labels_map_through_the_config() {
        let c = config(CHEM);
        let m = TypeMapper::new(&c);
        assert_eq!(m.gold("B").unwrap(), "B-THERAPEUTIC_OR_PREVENTIVE_PROCEDURE");
        assert_eq!(m.gold("I").unwrap(), "I-THERAPEUTIC_OR_PREVENTIVE_PROCEDURE");
        assert_eq!(m.gold("O").unwrap(), "O");
        assert!(m.gold("B-X").unwrap_err().contains("\"X\""));
        let c = config(CONLL);
        let m = TypeMapper::new(&c);
        assert_eq!(m.gold("B-PER").unwrap(), "B-PERSON");
        assert_eq!(m.gold("I-ORG").unwrap(), "I-ORGANIZATION");
    }

    #[test]
    fn predictions_use_the_first_tag_and_the_strict_mapping() {
        let c = config(CHEM);
        let m = TypeMapper::new(&c);
        assert_eq!(m.pred("B_DRUG[THERAPEUTIC_OR_PREVENTIVE_PROCEDURE]/B_GENE").unwrap(), "B-THERAPEUTIC_OR_PREVENTIVE_PROCEDURE");
        assert_eq!(m.pred("I_DRUG[THERAPEUTIC_OR_PREVENTIVE_PROCEDURE]").unwrap(), "I-THERAPEUTIC_OR_PREVENTIVE_PROCEDURE");
        // Second prediction ignored; a group outside the lists becomes misc_tag, here O.
        assert_eq!(m.pred("B_GENE/B_DRUG[THERAPEUTIC_OR_PREVENTIVE_PROCEDURE]").unwrap(), "O");
        assert_eq!(m.pred("O").unwrap(), "O");
        let c = config(CONLL);
        let m = TypeMapper::new(&c);
        assert_eq!(m.pred("B_ENT").unwrap(), "B-ORGANIZATION");
        assert_eq!(m.pred("I_PERSON/I_LOCATION").unwrap(), "I-PERSON");
        assert_eq!(m.pred("B_DRUG[THERAPEUTIC_OR_PREVENTIVE_PROCEDURE]").unwrap(), "B-MISC");
    }
}
