//! The reference scorer (`ner_test/eval_results.py`), reproduced exactly: same counts, same
//! rounding, same JSON keys, key order and number types (ALGORITHM.md §9.2, §9.4, §9.5).
//!
//! It is token-level and group-level: each gold token's label is mapped to a display class
//! through the config `mapping`, each predicted tag is reduced to its group(s), and the pair
//! lands in a confusion matrix. Its quirks are kept on purpose (comparability with published
//! numbers); [`super::standard`] is the conventional scoring.
//!
//! The one deliberate difference: where the reference divides by zero and crashes (no gold
//! sentences, nothing scored, no class with P+R > 0), the figure is the integer `0`, the
//! reference's own convention for a zero denominator in precision and recall. Its other
//! crashes (an unknown label, a class missing from the config) are errors naming the place.

use super::{EvalError, Location, Sentences, Token};
use crate::aggregate::strip_bio;
use crate::compat::python_round;
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// The reference's `eval_config.json`. Keys it does not use (file names) are ignored.
#[derive(Clone, Debug, Deserialize)]
pub struct Config {
    /// Gold column holding the term (0-based, after whitespace splitting).
    pub term_index: usize,
    /// Gold column holding the label (1 for `.tsv`, 3 for CoNLL-2003).
    pub label_index: usize,
    /// Gold label meaning "no entity" (a `g_name` in `mapping`); its display name is the
    /// "other" class (`OTHER` for most datasets, `O` for custom).
    pub other_tag: String,
    /// Where the strict scorer puts a wrong group that is not in `fp_type_list`.
    pub misc_tag: String,
    /// Predicted groups that can count as false positives (and are mapped for display).
    pub fp_type_list: Vec<String>,
    /// Predicted subtypes that can count as false positives on gold-O tokens.
    pub fp_subtype_list: Vec<String>,
    /// Predicted group -> display class.
    pub fp_type_to_disp_map: HashMap<String, String>,
    /// Gold label (prefix-stripped) -> display class and 2p aliases, in display order.
    pub mapping: Vec<Mapping>,
    /// Where the config was read from, for error messages.
    #[serde(skip)]
    pub source: Option<String>,
}

/// One `mapping` entry.
#[derive(Clone, Debug, Deserialize)]
pub struct Mapping {
    /// Gold label with `B`/`I` prefix stripped (`B`, `I`, `O` for BioBERT files, `PER`, `DRUG`, ...).
    pub g_name: String,
    /// Class name used in the results.
    pub disp_name: String,
    /// Aliases: in 2p scoring a predicted group that is a substring of one of these counts as
    /// correct; an empty list accepts any prediction.
    #[serde(rename = "map")]
    pub aliases: Vec<String>,
}

impl Config {
    /// Reads and parses a config file.
    pub fn from_path(path: &Path) -> Result<Config, EvalError> {
        let name = path.display().to_string();
        let at = Location::Config { path: Some(name.clone()) };
        let bytes = std::fs::read(path).map_err(|error| EvalError::Io { at: at.clone(), error })?;
        let text = String::from_utf8(bytes).map_err(|_| EvalError::at(at, "invalid UTF-8"))?;
        Config::from_json(&text, Some(name))
    }

    /// Parses config JSON; `source` names it in error messages.
    pub fn from_json(text: &str, source: Option<String>) -> Result<Config, EvalError> {
        let mut config: Config = serde_json::from_str(text).map_err(|e| {
            // serde_json appends " at line L column C"; put the position first, like our other errors.
            let msg = e.to_string();
            let suffix = format!(" at line {} column {}", e.line(), e.column());
            let msg = msg.strip_suffix(&suffix).unwrap_or(&msg);
            let at = Location::Config { path: source.clone() };
            EvalError::at(at, format!("line {} column {}: {msg}", e.line(), e.column()))
        })?;
        config.source = source;
        if !config.mapping.iter().any(|m| m.g_name == config.other_tag) {
            return Err(other_tag_missing(&config));
        }
        Ok(config)
    }

    fn location(&self) -> Location {
        Location::Config { path: self.source.clone() }
    }

    /// Display classes in first-occurrence order of `mapping` (the results' row/column order).
    pub fn classes(&self) -> Vec<&str> {
        let mut seen = HashSet::new();
        self.mapping.iter().map(|m| m.disp_name.as_str()).filter(|d| seen.insert(*d)).collect()
    }
}

fn other_tag_missing(config: &Config) -> EvalError {
    EvalError::at(config.location(), format!("other_tag {:?} is not a g_name in \"mapping\"", config.other_tag))
}

/// Scoring switches, as the reference's command-line flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// `-strict` ("1p"): only the first prediction counts. Default ("2p"): either of two.
    pub strict: bool,
    /// `-ignore_others`: no false-positive test in sentences whose gold labels are all other.
    pub ignore_others: bool,
}

/// A count or a rounded ratio; the reference writes `0` (int) where a denominator is zero
/// and a float otherwise, and the results files keep the distinction.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Num {
    Int(u64),
    Float(f64),
}

impl Num {
    pub fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }
}

impl Serialize for Num {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            Num::Int(i) => s.serialize_u64(i),
            Num::Float(f) => s.serialize_f64(f),
        }
    }
}

/// Per-class scores, in the reference's key order.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ClassScore {
    pub precision: Num,
    pub recall: Num,
    pub f1_score: Num,
    pub recall_val: u64,
    pub prec_val: u64,
    pub recall_val_total: u64,
    pub prec_val_total: u64,
}

/// The `stats` block, in the reference's key order (§9.5 rule 4).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Stats {
    /// Scored tokens (after resync and truncation).
    pub tested_entity_count: u64,
    /// Scored tokens whose tag has exactly two predictions (`a/b`).
    pub dual_predictions: u64,
    pub others_only_sentence_count: u64,
    pub others_only_token_count: u64,
    /// Gold sentences paired.
    pub total_sentences: u64,
    pub processed_sentences: u64,
    /// Empty prediction blocks plus failed resyncs.
    pub out_of_sync_sentences: u64,
    #[serde(rename = "OOS_percent")]
    pub oos_percent: Num,
    pub at_least_one_entity_failed_sentences: u64,
    pub at_least_one_entity_failed_percent: Num,
    pub dual_predictions_percent: Num,
    pub others_only_tokens_percent: Num,
    pub others_only_sentence_percent: Num,
}

/// What the reference scorer computes. Serialises to its results JSON.
#[derive(Clone, Debug)]
pub struct ReferenceResults {
    /// Display classes, the other class included, in config order.
    pub classes: Vec<String>,
    /// Gold tokens per class (row totals), indexed like `classes`.
    pub entity_counts: Vec<u64>,
    /// `confusion[gold][predicted]`, indexed like `classes`.
    pub confusion: Vec<Vec<u64>>,
    pub stats: Stats,
    /// Per class, in `classes` order (a class named `entity_counts` or `stats` is left out, as
    /// the reference's loop skips those names).
    pub f1_scores: Vec<(String, ClassScore)>,
    /// Mean F1 over classes other than `OTHER`/`O` with P+R > 0, rounded.
    pub average_f1_score: Num,
    /// Sentence-level outcomes, for inspection (not part of the JSON).
    pub diagnostics: Diagnostics,
}

/// Which sentences (0-based pair index) fell where; the reference writes these to side files.
#[derive(Clone, Debug, Default)]
pub struct Diagnostics {
    /// Empty prediction block (failed query) or prediction file ended.
    pub empty_predictions: Vec<usize>,
    /// Resync failed.
    pub out_of_sync: Vec<usize>,
    /// Processed with at least one failure.
    pub failed: Vec<usize>,
    /// Gold longer than the prediction: gold truncated (reference behaviour).
    pub truncated: Vec<usize>,
    /// Pairing stopped at this index with non-empty sentences left in a file (both files had
    /// an empty sentence there; the reference stops reading).
    pub stopped_at: Option<usize>,
}

impl ReferenceResults {
    pub fn to_json(&self) -> String {
        super::json::to_python_json(self)
    }

    /// One-line notes on input problems that the numbers do not show.
    pub fn warnings(&self) -> Vec<String> {
        let d = &self.diagnostics;
        let mut w = Vec::new();
        if let Some(k) = d.stopped_at {
            w.push(format!(
                "both files have an empty sentence at sentence {}; the reference scorer stops there and ignores the rest",
                k + 1
            ));
        }
        if !d.empty_predictions.is_empty() {
            w.push(format!(
                "{} gold sentence(s) had an empty prediction (failed query or prediction file too short) and count as out of sync, first: sentence {}",
                d.empty_predictions.len(),
                d.empty_predictions[0] + 1
            ));
        }
        w
    }
}

impl Serialize for ReferenceResults {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Counts<'a>(&'a ReferenceResults);
        impl Serialize for Counts<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(Some(self.0.classes.len()))?;
                for (c, n) in self.0.classes.iter().zip(&self.0.entity_counts) {
                    m.serialize_entry(&format!("{c}_count"), n)?;
                }
                m.end()
            }
        }
        struct Row<'a>(&'a [String], &'a [u64]);
        impl Serialize for Row<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(Some(self.0.len()))?;
                for (c, n) in self.0.iter().zip(self.1) {
                    m.serialize_entry(c, n)?;
                }
                m.end()
            }
        }
        struct Matrix<'a>(&'a ReferenceResults);
        impl Serialize for Matrix<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let r = self.0;
                let mut m = s.serialize_map(Some(r.classes.len()))?;
                for (c, row) in r.classes.iter().zip(&r.confusion) {
                    m.serialize_entry(c, &Row(&r.classes, row))?;
                }
                m.end()
            }
        }
        struct F1<'a>(&'a [(String, ClassScore)]);
        impl Serialize for F1<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(Some(self.0.len()))?;
                for (c, score) in self.0 {
                    m.serialize_entry(c, score)?;
                }
                m.end()
            }
        }
        let mut m = s.serialize_map(Some(5))?;
        m.serialize_entry("entity_counts", &Counts(self))?;
        m.serialize_entry("entities", &Matrix(self))?;
        m.serialize_entry("stats", &self.stats)?;
        m.serialize_entry("f1_scores", &F1(&self.f1_scores))?;
        m.serialize_entry("average_f1_score", &self.average_f1_score)?;
        m.end()
    }
}

/// A predicted tag's parts: `(group, subtype)` for each `/`-separated prediction.
///
/// `B_DRUG[THERAPEUTIC_OR_PREVENTIVE_PROCEDURE]` -> (`THERAPEUTIC_OR_PREVENTIVE_PROCEDURE`, `DRUG`);
/// a part without brackets is its own subtype: `B_DISEASE` -> (`DISEASE`, `DISEASE`) (§9.5 rule 8).
pub fn prediction_parts(tag: &str) -> Vec<(&str, &str)> {
    tag.split('/')
        .map(|part| {
            let inner = part.trim_end_matches(']');
            let group = inner.rfind('[').map_or(inner, |i| &inner[i + 1..]);
            let subtype = inner.find('[').map_or(inner, |i| &inner[..i]);
            (strip_bio(group, "_-"), strip_bio(subtype, "_-"))
        })
        .collect()
}

/// How one gold sentence lines up with its prediction block (the reference's resync).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pairing {
    /// Empty prediction block: a failed query, or the prediction file ended.
    Empty,
    /// Resync failed.
    OutOfSync,
    /// Gold token `i` (for `i < idx.len()`) is scored against prediction token `idx[i]`;
    /// gold tokens past `idx.len()` were truncated away.
    Aligned(Vec<usize>),
}

/// The reference's resync of one non-empty sentence pair (§9.2 step 1, §9.5 rule 3).
pub fn resync(gold: &[Token], pred: &[Token]) -> Pairing {
    let (g, p) = (gold.len(), pred.len());
    if g == p || (g + 1 == p && pred[p - 1].0 == ".") {
        return Pairing::Aligned((0..g).collect());
    }
    if g > p {
        return Pairing::Aligned((0..p).collect()); // gold truncated, not realigned
    }
    // Output longer: concatenate output terms until each gold word matches case-insensitively;
    // the last piece carries the label. Leftover output terms are ignored.
    let mut idx = Vec::with_capacity(g);
    let mut j = 0;
    for (word, _) in gold {
        let word = word.to_lowercase();
        let mut joined = String::new();
        while j < p {
            joined.push_str(&pred[j].0);
            j += 1;
            if joined.to_lowercase() == word {
                idx.push(j - 1);
                break;
            }
        }
    }
    if idx.len() == g { Pairing::Aligned(idx) } else { Pairing::OutOfSync }
}

/// Pairs gold sentence k with prediction block k until both run out, as the reference reads
/// its two files in lock step. A gold sentence without prediction is [`Pairing::Empty`]; a
/// prediction without gold sentence is an error (the reference asserts).
pub fn pair(gold: &Sentences, pred: &Sentences) -> Result<(Vec<Pairing>, Option<usize>), EvalError> {
    let mut pairs = Vec::with_capacity(gold.sentences.len());
    let empty: &[Token] = &[];
    let mut k = 0;
    loop {
        let g = gold.sentences.get(k).map_or(empty, |s| s.as_slice());
        let r = pred.sentences.get(k).map_or(empty, |s| s.as_slice());
        if g.is_empty() && r.is_empty() {
            let rest = |s: &Sentences| s.sentences.iter().skip(k).any(|s| !s.is_empty());
            let stopped = (rest(gold) || rest(pred)).then_some(k);
            return Ok((pairs, stopped));
        }
        if g.is_empty() {
            let n = gold.sentences.len();
            return Err(if k >= n {
                EvalError::at(pred.locate(k, None), format!("sentence {} has no gold sentence (the gold input has {n})", k + 1))
            } else {
                EvalError::at(
                    gold.locate(k, None),
                    format!("empty sentence (two blank lines) paired with non-empty prediction sentence {}", k + 1),
                )
            });
        }
        pairs.push(if r.is_empty() { Pairing::Empty } else { resync(g, r) });
        k += 1;
    }
}

/// Runs the reference scorer on paired sentences.
pub fn score(config: &Config, gold: &Sentences, pred: &Sentences, options: Options) -> Result<ReferenceResults, EvalError> {
    let (pairs, stopped_at) = pair(gold, pred)?;
    let mut s = Scorer::new(config, options)?;
    let mut diag = Diagnostics { stopped_at, ..Diagnostics::default() };
    let (mut processed, mut oos, mut failed) = (0u64, 0u64, 0u64);
    for (k, pairing) in pairs.iter().enumerate() {
        match pairing {
            Pairing::Empty => {
                oos += 1;
                diag.empty_predictions.push(k);
            }
            Pairing::OutOfSync => {
                oos += 1;
                diag.out_of_sync.push(k);
            }
            Pairing::Aligned(idx) => {
                processed += 1;
                if idx.len() < gold.sentences[k].len() {
                    diag.truncated.push(k);
                }
                let at = Place { gold, pred, k, idx };
                if s.sentence(&gold.sentences[k][..idx.len()], &pred.sentences[k], &at)? {
                    failed += 1;
                    diag.failed.push(k);
                }
            }
        }
    }
    s.finish(pairs.len() as u64, processed, oos, failed, diag)
}

/// Locates tokens of pair `k` for error messages.
struct Place<'a> {
    gold: &'a Sentences,
    pred: &'a Sentences,
    k: usize,
    idx: &'a [usize],
}

impl Place<'_> {
    fn gold(&self, i: usize) -> Location {
        self.gold.locate(self.k, Some(i))
    }
    fn pred(&self, i: usize) -> Location {
        self.pred.locate(self.k, Some(self.idx[i]))
    }
}

struct Scorer<'c> {
    config: &'c Config,
    options: Options,
    classes: Vec<&'c str>,
    class_index: HashMap<&'c str, usize>,
    /// g_name -> entry (the last one wins, as in a Python dict).
    by_gname: HashMap<&'c str, &'c Mapping>,
    fp_types: HashSet<&'c str>,
    fp_subtypes: HashSet<&'c str>,
    other: usize,
    confusion: Vec<Vec<u64>>,
    entity_counts: Vec<u64>,
    tested: u64,
    dual: u64,
    others_only_sentences: u64,
    others_only_tokens: u64,
}

impl<'c> Scorer<'c> {
    fn new(config: &'c Config, options: Options) -> Result<Self, EvalError> {
        let classes = config.classes();
        let class_index: HashMap<&str, usize> = classes.iter().enumerate().map(|(i, c)| (*c, i)).collect();
        let by_gname: HashMap<&str, &Mapping> = config.mapping.iter().map(|m| (m.g_name.as_str(), m)).collect();
        let other = match by_gname.get(config.other_tag.as_str()) {
            Some(m) => class_index[m.disp_name.as_str()],
            None => return Err(other_tag_missing(config)),
        };
        let n = classes.len();
        Ok(Scorer {
            config,
            options,
            classes,
            class_index,
            by_gname,
            fp_types: config.fp_type_list.iter().map(String::as_str).collect(),
            fp_subtypes: config.fp_subtype_list.iter().map(String::as_str).collect(),
            other,
            confusion: vec![vec![0; n]; n],
            entity_counts: vec![0; n],
            tested: 0,
            dual: 0,
            others_only_sentences: 0,
            others_only_tokens: 0,
        })
    }

    /// The mapping entry of a gold label (already prefix-stripped where the reference strips).
    fn gname(&self, key: &str, raw: &str, at: impl FnOnce() -> Location) -> Result<(&'c Mapping, usize), EvalError> {
        match self.by_gname.get(key) {
            Some(m) => Ok((m, self.class_index[m.disp_name.as_str()])),
            None => Err(EvalError::at(at(), format!("label {raw:?} (looked up as {key:?}) is not a g_name in the config \"mapping\""))),
        }
    }

    fn class(&self, name: &str, why: impl FnOnce() -> String, at: impl FnOnce() -> Location) -> Result<usize, EvalError> {
        self.class_index
            .get(name)
            .copied()
            .ok_or_else(|| EvalError::at(at(), format!("{}, which is not a disp_name in the config \"mapping\"", why())))
    }

    /// `fp_type_to_disp_map[group]`.
    fn fp_disp(&self, group: &str, at: impl FnOnce() -> Location) -> Result<&'c str, EvalError> {
        let config: &'c Config = self.config;
        config
            .fp_type_to_disp_map
            .get(group)
            .map(String::as_str)
            .ok_or_else(|| EvalError::at(at(), format!("group {group:?} is in fp_type_list but not in fp_type_to_disp_map")))
    }

    /// `fp_type_to_disp_map[group]` as a class index.
    fn fp_class(&self, group: &str, at: impl Fn() -> Location) -> Result<usize, EvalError> {
        let disp = self.fp_disp(group, &at)?;
        self.class(disp, || format!("fp_type_to_disp_map maps group {group:?} to {disp:?}"), at)
    }

    fn count_dual(&mut self, parts: &[(&str, &str)]) {
        if parts.len() == 2 {
            self.dual += 1;
        }
    }

    /// Scores one resynced sentence; true if it failed (§9.5 rule 1).
    fn sentence(&mut self, gold: &[Token], pred: &[Token], at: &Place) -> Result<bool, EvalError> {
        let config: &'c Config = self.config;
        let other_tag = config.other_tag.as_str();
        let tags: Vec<&str> = (0..gold.len()).map(|i| pred[at.idx[i]].1.as_str()).collect();
        if gold.iter().all(|(_, label)| label == other_tag) {
            return self.others_only(&tags, at);
        }
        let mut failed = false;
        for (i, (_, raw)) in gold.iter().enumerate() {
            self.tested += 1;
            let key = strip_bio(raw, "_-");
            let (entry, row) = self.gname(key, raw, || at.gold(i))?;
            self.entity_counts[row] += 1;
            if raw == other_tag {
                failed |= self.fp_check(row, tags[i], other_tag, at, i)?;
                continue;
            }
            let gold_class = entry.disp_name.as_str();
            let parts = prediction_parts(tags[i]);
            self.count_dual(&parts);
            let first = parts[0].0;
            if self.options.strict {
                let label: &str = if first == gold_class {
                    first
                } else {
                    failed = true;
                    if first == other_tag {
                        other_tag
                    } else if self.fp_types.contains(first) {
                        self.fp_disp(first, || at.pred(i))? // may credit an alias as a hit
                    } else {
                        config.misc_tag.as_str()
                    }
                };
                let col = if label == other_tag {
                    self.other
                } else {
                    self.class(label, || format!("strict scoring counts group {first:?} under {label:?}"), || at.pred(i))?
                };
                self.confusion[row][col] += 1;
            } else {
                let aliases = &entry.aliases;
                // Substring test; an empty alias list accepts anything.
                let alias_ok = |g: &str| aliases.is_empty() || aliases.iter().any(|a| a.contains(g));
                if parts.iter().any(|&(g, _)| g == gold_class || alias_ok(g)) {
                    self.confusion[row][row] += 1;
                } else if gold_class == config.misc_tag {
                    // The reference re-reads the tag here, so the dual count is taken twice.
                    failed |= self.fp_check(row, tags[i], &config.misc_tag, at, i)?;
                } else {
                    failed = true;
                    let col = if self.fp_types.contains(first) { self.fp_class(first, || at.pred(i))? } else { self.other };
                    self.confusion[row][col] += 1;
                }
            }
        }
        Ok(failed)
    }

    /// A sentence whose gold labels are all other_tag: every token is a possible false positive,
    /// judged on the first prediction only and only if its group and subtype are whitelisted.
    fn others_only(&mut self, tags: &[&str], at: &Place) -> Result<bool, EvalError> {
        self.others_only_sentences += 1;
        let other_tag = self.config.other_tag.as_str();
        let mut failed = false;
        for (i, tag) in tags.iter().enumerate() {
            self.others_only_tokens += 1;
            self.tested += 1;
            self.entity_counts[self.other] += 1;
            let parts = prediction_parts(tag);
            self.count_dual(&parts);
            let (group, subtype) = parts[0];
            if !self.options.ignore_others && group != other_tag && self.fp_types.contains(group) && self.fp_subtypes.contains(subtype) {
                let col = self.fp_class(group, || at.pred(i))?;
                self.confusion[self.other][col] += 1;
                failed = true;
            } else {
                self.confusion[self.other][self.other] += 1;
            }
        }
        Ok(failed)
    }

    /// The reference's `single_term_fp_check`: a whitelisted first prediction is a false positive
    /// in the gold row; otherwise one count on the diagonal of `l_tag`'s class.
    fn fp_check(&mut self, row: usize, tag: &str, l_tag: &str, at: &Place, i: usize) -> Result<bool, EvalError> {
        let parts = prediction_parts(tag);
        self.count_dual(&parts);
        let (group, subtype) = parts[0];
        if self.fp_types.contains(group) && self.fp_subtypes.contains(subtype) && group != self.config.other_tag {
            let col = self.fp_class(group, || at.pred(i))?;
            self.confusion[row][col] += 1;
            return Ok(true);
        }
        let l = match self.by_gname.get(l_tag) {
            Some(m) => self.class_index[m.disp_name.as_str()],
            None => {
                let msg = format!("misc_tag {l_tag:?} is not a g_name in \"mapping\" (needed for gold class {l_tag:?})");
                return Err(EvalError::at(self.config.location(), msg));
            }
        };
        self.confusion[l][l] += 1;
        Ok(false)
    }

    fn finish(self, total: u64, processed: u64, oos: u64, failed: u64, diagnostics: Diagnostics) -> Result<ReferenceResults, EvalError> {
        let n = self.classes.len();
        // The reference skips these names when iterating its results dict.
        let scored: Vec<usize> = (0..n).filter(|&c| !matches!(self.classes[c], "entity_counts" | "stats")).collect();
        let ratio = |num: u64, den: u64| if den == 0 { Num::Int(0) } else { Num::Float(python_round(num as f64 / den as f64, 2)) };
        let mut f1_scores = Vec::with_capacity(scored.len());
        let (mut f1_sum, mut f1_count) = (0.0f64, 0u32);
        for &c in &scored {
            let hits = self.confusion[c][c];
            let row_total: u64 = self.confusion[c].iter().sum();
            if row_total != self.entity_counts[c] {
                // The reference asserts this; it fails when misc_tag or other_tag is a g_name
                // whose display class differs from the class named like it.
                return Err(EvalError::at(
                    self.config.location(),
                    format!(
                        "class {:?}: {row_total} scored tokens but {} gold tokens (misc_tag/other_tag map to another class)",
                        self.classes[c], self.entity_counts[c]
                    ),
                ));
            }
            let col_total: u64 = scored.iter().map(|&r| self.confusion[r][c]).sum();
            let precision = ratio(hits, col_total);
            let recall = ratio(hits, row_total);
            let (p, r) = (precision.as_f64(), recall.as_f64());
            let f1_score = if p + r != 0.0 {
                // F1 of the already rounded P and R (§9.2 step 4), summed in class order.
                let f1 = python_round((2.0 * (p * r)) / (p + r), 2);
                if !matches!(self.classes[c], "OTHER" | "O") {
                    f1_sum += f1;
                    f1_count += 1;
                }
                Num::Float(f1)
            } else {
                Num::Int(0)
            };
            let score = ClassScore {
                precision,
                recall,
                f1_score,
                recall_val: hits,
                prec_val: hits,
                recall_val_total: row_total,
                prec_val_total: col_total,
            };
            f1_scores.push((self.classes[c].to_string(), score));
        }
        let average_f1_score = if f1_count == 0 { Num::Int(0) } else { Num::Float(python_round(f1_sum / f64::from(f1_count), 2)) };
        let percent = |num: u64, den: u64| {
            if den == 0 { Num::Int(0) } else { Num::Float(python_round((num as f64 / den as f64) * 100.0, 2)) }
        };
        let stats = Stats {
            tested_entity_count: self.tested,
            dual_predictions: self.dual,
            others_only_sentence_count: self.others_only_sentences,
            others_only_token_count: self.others_only_tokens,
            total_sentences: total,
            processed_sentences: processed,
            out_of_sync_sentences: oos,
            oos_percent: percent(oos, total),
            at_least_one_entity_failed_sentences: failed,
            at_least_one_entity_failed_percent: percent(failed, total),
            dual_predictions_percent: percent(self.dual, self.tested),
            others_only_tokens_percent: percent(self.others_only_tokens, self.tested),
            others_only_sentence_percent: percent(self.others_only_sentences, total),
        };
        Ok(ReferenceResults {
            classes: self.classes.iter().map(|c| c.to_string()).collect(),
            entity_counts: self.entity_counts,
            confusion: self.confusion,
            stats,
            f1_scores,
            average_f1_score,
            diagnostics,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::Role;

    /// Sentences from `"term=tag term=tag"` strings; `""` is an empty sentence.
    fn sents(role: Role, sentences: &[&str]) -> Sentences {
        let parse = |s: &str| {
            s.split_whitespace().map(|t| t.split_once('=').map(|(a, b)| (a.to_string(), b.to_string())).expect("term=tag")).collect()
        };
        Sentences::in_memory(role, sentences.iter().map(|s| parse(s)).collect())
    }

    fn config(extra: &str) -> Config {
        let json = format!(r#"{{"label_index": 1, "term_index": 0, "other_tag": "O", "misc_tag": "O", {extra}}}"#);
        Config::from_json(&json, None).expect("test config")
    }

    /// Disease config with a GENE class whose own name is missing from the subtype whitelist.
    fn disease() -> Config {
        config(
            r#""fp_type_list": ["DISEASE", "GENE"], "fp_subtype_list": ["DISEASE", "PROTEIN"],
            "fp_type_to_disp_map": {"DISEASE": "DISEASE", "GENE": "GENE"},
            "mapping": [{"g_name": "B", "disp_name": "DISEASE", "map": ["DISEASE"]},
                        {"g_name": "I", "disp_name": "DISEASE", "map": ["DISEASE"]},
                        {"g_name": "G", "disp_name": "GENE", "map": ["GENE"]},
                        {"g_name": "O", "disp_name": "OTHER", "map": []}]"#,
        )
    }

    fn run(config: &Config, gold: &[&str], pred: &[&str], strict: bool) -> ReferenceResults {
        let (g, p) = (sents(Role::Gold, gold), sents(Role::Pred, pred));
        score(config, &g, &p, Options { strict, ignore_others: false }).expect("score")
    }

    fn cell(r: &ReferenceResults, gold: &str, pred: &str) -> u64 {
        let i = |c: &str| r.classes.iter().position(|x| x == c).expect("class");
        r.confusion[i(gold)][i(pred)]
    }

    fn f1<'a>(r: &'a ReferenceResults, class: &str) -> &'a ClassScore {
        &r.f1_scores.iter().find(|(c, _)| c == class).expect("class").1
    }

    #[test]
    fn rounding_is_python_round_on_the_binary_value() {
        assert_eq!(python_round(5.0 / 8.0, 2), 0.62); // exact tie -> even (half-up: 0.63)
        assert_eq!(python_round(1.0 / 8.0, 2), 0.12);
        assert_eq!(python_round(7.0 / 8.0, 2), 0.88);
        assert_eq!(python_round(1.0 / 40.0, 2), 0.03); // just above .025, though 100x is exactly 2.5
        assert_eq!(python_round(3.0 / 40.0, 2), 0.07); // just below .075, though 100x is exactly 7.5
        assert_eq!(python_round(2.675, 2), 2.67);
        assert_eq!(python_round(1.005, 2), 1.0);
        assert_eq!(python_round(1.0 / 32.0 * 100.0, 2), 3.12);
        assert_eq!(python_round(100.0, 2), 100.0);
        assert_eq!(python_round(-0.625, 2), -0.62);
    }

    #[test]
    fn f1_uses_rounded_precision_and_recall_and_zero_denominators_are_int() {
        // 8 gold entity tokens, 1 found: P = 1/1, R = 1/8 = 0.125 -> 0.12 (half-even);
        // F1 of the rounded values 2*.12/1.12 = 0.214 -> 0.21 (unrounded F1 would give 0.22).
        let r = run(&disease(), &["a=B b=I c=I d=I e=I f=I g=I h=I"], &["a=B_DISEASE b=O c=O d=O e=O f=O g=O h=O"], true);
        let d = f1(&r, "DISEASE");
        assert_eq!((d.precision, d.recall, d.f1_score), (Num::Float(1.0), Num::Float(0.12), Num::Float(0.21)));
        // OTHER: no gold tokens (recall int 0), 7 predicted, none right (precision 0.0), F1 int 0.
        let o = f1(&r, "OTHER");
        assert_eq!((o.precision, o.recall, o.f1_score), (Num::Float(0.0), Num::Int(0), Num::Int(0)));
        assert_eq!(r.average_f1_score, Num::Float(0.21));
        let json = r.to_json();
        assert!(json.contains("\"recall\": 0.12,") && json.contains("\"precision\": 0.0,") && json.contains("\"recall\": 0,"));
    }

    #[test]
    fn two_blank_lines_are_a_failed_query_paired_with_its_gold_sentence() {
        let g = sents(Role::Gold, &["a=B", "b=B", "c=B x=O"]);
        let p = crate::eval::read::parse_pred("a B_DISEASE\n\n\nc B_DISEASE\nx O\n", "p").unwrap();
        assert_eq!(p.sentences.len(), 3);
        let r = score(&disease(), &g, &p, Options::default()).unwrap();
        // Collapsing the blank lines would pair [c x] with gold "b" and leave "c x" empty: 2 OOS.
        assert_eq!((r.stats.out_of_sync_sentences, r.stats.processed_sentences), (1, 2));
        assert_eq!(r.diagnostics.empty_predictions, [1]);
        assert_eq!(cell(&r, "DISEASE", "DISEASE"), 2);
    }

    #[test]
    fn resync_ignores_leftovers_and_truncates_gold() {
        let t = |words: &[&str]| -> Vec<Token> { words.iter().map(|w| (w.to_string(), "O".to_string())).collect() };
        // Concatenation, case-insensitive; the leftovers "d e" do not make it out of sync.
        assert_eq!(resync(&t(&["ab", "c"]), &t(&["a", "B", "c", "d", "e"])), Pairing::Aligned(vec![1, 2]));
        assert_eq!(resync(&t(&["ab", "x"]), &t(&["a", "b", "c"])), Pairing::OutOfSync);
        // One longer ending in ".": dropped without comparing words.
        assert_eq!(resync(&t(&["a", "b"]), &t(&["x", "y", "."])), Pairing::Aligned(vec![0, 1]));
        // Output shorter: gold truncated, not realigned.
        assert_eq!(resync(&t(&["a", "b", "c"]), &t(&["b", "c"])), Pairing::Aligned(vec![0, 1]));
        let r = run(&disease(), &["a=B b=I c=I"], &["a=B_DISEASE b=I_DISEASE"], true);
        assert_eq!(r.entity_counts, [2, 0, 0]); // third gold token not counted
        assert_eq!(r.diagnostics.truncated, [0]);
    }

    #[test]
    fn bracketless_tag_is_its_own_subtype() {
        assert_eq!(prediction_parts("B_DISEASE"), [("DISEASE", "DISEASE")]);
        assert_eq!(prediction_parts("B_DRUG[THERAPEUTIC]/I_GENE"), [("THERAPEUTIC", "DRUG"), ("GENE", "GENE")]);
        assert_eq!(prediction_parts("O"), [("O", "O")]);
        // In an others-only sentence: B_DISEASE passes the subtype whitelist (DISEASE) and is a
        // false positive; B_GENE does not (GENE is not a whitelisted subtype); B_PROTEIN[GENE]
        // does; a second prediction is never looked at.
        let r = run(&disease(), &["a=O b=O c=O d=O"], &["a=B_DISEASE b=B_GENE c=B_PROTEIN[GENE] d=O/B_DISEASE"], false);
        assert_eq!((cell(&r, "OTHER", "DISEASE"), cell(&r, "OTHER", "GENE"), cell(&r, "OTHER", "OTHER")), (1, 1, 2));
    }

    #[test]
    fn failed_sentences_include_false_positives() {
        let r = run(&disease(), &["a=O b=O", "c=B", "d=B"], &["a=B_DISEASE b=O", "c=B_DISEASE", "d=B_DISEASE"], false);
        assert_eq!(r.stats.at_least_one_entity_failed_sentences, 1);
        assert_eq!(r.stats.at_least_one_entity_failed_percent, Num::Float(33.33));
        // The average leaves OTHER out even though its P+R > 0.
        assert_eq!(f1(&r, "OTHER").f1_score, Num::Float(0.67)); // P 1/1, R 1/2
        assert_eq!(r.average_f1_score, f1(&r, "DISEASE").f1_score);
    }

    #[test]
    fn other_class_is_the_display_name_of_other_tag() {
        // As in custom: other_tag O displays as "O"; a separate "OTHER" class exists.
        let c = config(
            r#""misc_tag": "MISC", "fp_type_list": ["DISEASE"], "fp_subtype_list": ["DISEASE"],
            "fp_type_to_disp_map": {"DISEASE": "DISEASE"},
            "mapping": [{"g_name": "DISEASE", "disp_name": "DISEASE", "map": []},
                        {"g_name": "UNTAGGED_ENTITY", "disp_name": "OTHER", "map": []},
                        {"g_name": "O", "disp_name": "O", "map": []}]"#
                .replace("\"misc_tag\": \"MISC\", ", "")
                .as_str(),
        );
        let r = run(&c, &["a=O b=O", "c=B_DISEASE d=O"], &["a=O b=O", "c=O d=O"], true);
        assert_eq!(r.classes, ["DISEASE", "OTHER", "O"]);
        assert_eq!(cell(&r, "O", "O"), 3);
        assert_eq!(cell(&r, "DISEASE", "O"), 1);
        assert_eq!(r.entity_counts, [1, 0, 3]);
        assert!(r.to_json().contains("\"OTHER_count\": 0,\n        \"O_count\": 3"));
    }

    #[test]
    fn stats_denominators_and_dual_counts() {
        let g = sents(Role::Gold, &["a=O b=O", "c=B d=O", "e=B"]);
        let mut p = sents(Role::Pred, &["a=O b=B_X/B_Y", "c=B_DISEASE/B_GENE d=B_A/B_B/B_C"]);
        p.sentences.push(Vec::new()); // failed query for the third sentence
        let r = score(&disease(), &g, &p, Options::default()).unwrap();
        let s = &r.stats;
        assert_eq!((s.tested_entity_count, s.dual_predictions), (4, 2)); // gold-O tokens count; 3 parts do not
        assert_eq!((s.others_only_sentence_count, s.others_only_token_count), (1, 2));
        assert_eq!((s.total_sentences, s.processed_sentences, s.out_of_sync_sentences), (3, 2, 1));
        assert_eq!(s.oos_percent, Num::Float(33.33));
        assert_eq!(s.dual_predictions_percent, Num::Float(50.0)); // over tested tokens
        assert_eq!(s.others_only_tokens_percent, Num::Float(50.0));
        assert_eq!(s.others_only_sentence_percent, Num::Float(33.33)); // over total, not processed
    }

    fn bio() -> Config {
        config(
            r#""fp_type_list": ["BIO", "PERSON"], "fp_subtype_list": ["VIRUS"],
            "fp_type_to_disp_map": {"BIO": "BIO", "PERSON": "BIO"},
            "mapping": [{"g_name": "B", "disp_name": "BIO", "map": ["BIO", "PERSON"]},
                        {"g_name": "I", "disp_name": "BIO", "map": ["BIO", "PERSON"]},
                        {"g_name": "O", "disp_name": "OTHER", "map": []}]"#,
        )
    }

    #[test]
    fn strict_credits_a_mapped_group_but_fails_the_sentence() {
        let r = run(&bio(), &["a=B"], &["a=B_PERSON"], true);
        assert_eq!(cell(&r, "BIO", "BIO"), 1);
        assert_eq!(r.stats.at_least_one_entity_failed_sentences, 1);
        // A group outside fp_type_list goes to misc_tag, which here is O -> the other class.
        let r = run(&bio(), &["a=B"], &["a=B_GENE"], true);
        assert_eq!(cell(&r, "BIO", "OTHER"), 1);
    }

    #[test]
    fn two_predictions_use_substring_aliases() {
        let r = run(&bio(), &["a=B b=B c=B"], &["a=B_GENE/B_PERSON b=B_PERS c=B_GENE"], false);
        // PERSON is an alias, "PERS" a substring of one; GENE fails and lands in OTHER.
        assert_eq!((cell(&r, "BIO", "BIO"), cell(&r, "BIO", "OTHER")), (2, 1));
        assert_eq!(r.stats.at_least_one_entity_failed_sentences, 1);
    }

    #[test]
    fn empty_alias_list_accepts_anything_and_misc_path_counts_dual_twice() {
        let c = config(
            r#""misc_tag": "MISC", "fp_type_list": ["PERSON"], "fp_subtype_list": ["PERSON"],
            "fp_type_to_disp_map": {"PERSON": "PERSON"},
            "mapping": [{"g_name": "PER", "disp_name": "PERSON", "map": ["PERSON"]},
                        {"g_name": "MISC", "disp_name": "MISC", "map": []},
                        {"g_name": "MISCX", "disp_name": "MISC", "map": ["MISC"]},
                        {"g_name": "O", "disp_name": "OTHER", "map": []}]"#
                .replace("\"misc_tag\": \"MISC\", ", "")
                .as_str(),
        );
        let c = Config { misc_tag: "MISC".into(), ..c };
        let r = run(&c, &["a=B-MISC"], &["a=B_DRUG[THERAPEUTIC]"], false);
        assert_eq!(cell(&r, "MISC", "MISC"), 1);
        // With aliases, a miss on the misc class goes through the false-positive check, which
        // reads the tag again: one token, two dual counts.
        let r = run(&c, &["a=B-MISCX"], &["a=B_PERSON/B_X"], false);
        assert_eq!(cell(&r, "MISC", "PERSON"), 1);
        assert_eq!(r.stats.dual_predictions, 2);
    }

    #[test]
    fn nothing_scored_gives_integer_zeros_instead_of_a_crash() {
        let g = sents(Role::Gold, &["a=B"]);
        let p = Sentences::in_memory(Role::Pred, vec![]);
        let r = score(&disease(), &g, &p, Options::default()).unwrap();
        assert_eq!((r.stats.dual_predictions_percent, r.average_f1_score), (Num::Int(0), Num::Int(0)));
        assert_eq!(r.stats.oos_percent, Num::Float(100.0));
    }

    #[test]
    fn errors_name_the_token() {
        let g = sents(Role::Gold, &["a=O", "b=B c=X"]);
        let p = sents(Role::Pred, &["a=O", "b=O c=O"]);
        let e = score(&disease(), &g, &p, Options::default()).unwrap_err().to_string();
        assert_eq!(e, "gold sentence 2 token 2: label \"X\" (looked up as \"X\") is not a g_name in the config \"mapping\"");
        let e = Config::from_json(
            r#"{"label_index": 1, "term_index": 0, "other_tag": "Z", "misc_tag": "O",
            "fp_type_list": [], "fp_subtype_list": [], "fp_type_to_disp_map": {}, "mapping": []}"#,
            None,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(e, "eval config: other_tag \"Z\" is not a g_name in \"mapping\"");
    }
}
