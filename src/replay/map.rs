//! Replay of the reference's logged *real* descriptors with signatures from a maskner map
//! (`maskner replay --map`): the one measurement of a descriptor map on what real masked LMs
//! predict in entity slots.
//!
//! Every logged descriptor token keeps its logit but gets its signature from the given map's
//! lookup (ALGORITHM.md §4) instead of the reference's; each span is re-aggregated and pooled
//! (§7) and tagged with the pooled top tag. Single-model tagging: the log does not say which
//! member produced a span, and the precedence lists need both members' data. The second
//! prediction (for 2p scoring) is the second pooled group when §8.1's above-mean rule admits it.
//! The output is a `term TAG` file in the reference's format, scored with the reference scorer
//! against a gold file, and compared span by span and token by token with the logged
//! signatures.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::ops::Range;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;

use super::{LoggedDescriptor, Record};
use crate::aggregate::{self, Descriptor, EntityTag, PackedScore, PooledGroup, Prefix, SpanPrediction, TermTag};
use crate::compat::Numerics;
use crate::ensemble::above_mean;
use crate::entity_map::build::top_group;
use crate::entity_map::{EntityMap, LookupSource, SeedSet, Signature, Taxonomy};
use crate::eval::reference::Mapping;
use crate::eval::{self, Config, Options, Role, Sentences};

/// Where descriptor signatures come from.
pub enum Signatures<'a> {
    /// The reference's own, as logged (the baseline the maps are compared with).
    Logged,
    /// A maskner map's lookup of each descriptor token.
    Map {
        map: &'a EntityMap,
        /// Tokens absent from the map's vocabulary get their seed labels (count 100 each)
        /// instead of `UNTAGGED_ENTITY`: approximates a map built on the real model's vocabulary.
        seed_fallback: Option<&'a SeedSet>,
    },
}

/// What to replay with.
pub struct MapReplayOptions<'a> {
    pub numerics: Numerics,
    pub taxonomy: Taxonomy,
    pub signatures: Signatures<'a>,
    /// Gold file and scorer config: score the tags with the reference scorer.
    pub gold: Option<(&'a Path, &'a Config)>,
}

/// Record ranges reported separately (the halves of the 106 logged records).
const HALVES: [(&str, Range<usize>); 2] = [("records_1_53", 0..53), ("records_54_106", 53..106)];

/// Descriptor occurrences by where their signature came from.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SourceCounts {
    pub exact: usize,
    pub lowercase: usize,
    pub case_union: usize,
    pub digits: usize,
    /// Not in the map: `UNTAGGED_ENTITY`, or the seed labels with the fallback.
    pub unknown: usize,
    /// Of the unknown ones, those the seed fallback labelled.
    pub seed_fallback: usize,
}

/// How often the map's top group of a token equals the logged signature's.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Agreement {
    pub compared: usize,
    pub agree: usize,
    pub rate: f64,
}

impl Agreement {
    fn add(&mut self, same: bool) {
        self.compared += 1;
        self.agree += usize::from(same);
    }

    fn finish(&mut self) {
        self.rate = if self.compared == 0 { 0.0 } else { self.agree as f64 / self.compared as f64 };
    }
}

/// Reference-scorer F1 (the `average_f1_score`) on one range of records.
#[derive(Clone, Debug, Serialize)]
pub struct Scores {
    pub records: String,
    pub sentences: usize,
    pub f1_1p: f64,
    pub f1_2p: f64,
}

/// The replay's report; printed as JSON by `maskner replay --map`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct MapReplayReport {
    pub signatures: String,
    pub numerics: Numerics,
    pub records: usize,
    pub spans: usize,
    /// Descriptor occurrences (CS and CI) replayed.
    pub descriptors: usize,
    pub by_source: SourceCounts,
    /// Spans whose pooled top group is the one the logged signatures give.
    pub span_top_group_agreement: Agreement,
    /// Descriptor occurrences the map knows (exact, lower-case or case-union lookups) whose top
    /// group is the logged signature's top group.
    pub token_top_group_agreement: Agreement,
    /// The most frequent token-level disagreements, `logged -> map` group, with counts.
    pub top_disagreements: Vec<(String, usize)>,
    /// Reference scorer results: all records, then each half.
    pub scores: Vec<Scores>,
}

/// The report and the predicted sentences (`(term, tag)` per term, one list per record).
pub struct MapReplay {
    pub report: MapReplayReport,
    pub predictions: Vec<Vec<(String, String)>>,
}

impl MapReplay {
    /// The predictions in the reference's `term TAG` format (blank line after each sentence).
    pub fn conll(&self) -> String {
        let mut out = String::new();
        for sentence in &self.predictions {
            for (term, tag) in sentence {
                let _ = writeln!(out, "{term} {tag}");
            }
            out.push('\n');
        }
        out
    }
}

/// Replays a log file with the given signatures.
pub fn replay_with_map(log: &Path, options: &MapReplayOptions<'_>) -> Result<MapReplay> {
    let text = std::fs::read(log).with_context(|| log.display().to_string())?;
    let mut run = Run::new(options);
    let stream = serde_json::Deserializer::from_slice(&text).into_iter::<Record>();
    for (i, record) in stream.enumerate() {
        let n = i + 1;
        let record = record.with_context(|| format!("{}: record {n}", log.display()))?;
        run.record(&record).with_context(|| format!("{}: record {n}", log.display()))?;
    }
    if run.predictions.is_empty() {
        bail!("{}: no records", log.display());
    }
    run.finish()
}

struct Run<'o, 'a> {
    options: &'o MapReplayOptions<'a>,
    report: MapReplayReport,
    disagreements: BTreeMap<(String, String), usize>,
    predictions: Vec<Vec<(String, String)>>,
}

impl<'o, 'a> Run<'o, 'a> {
    fn new(options: &'o MapReplayOptions<'a>) -> Self {
        let signatures = match &options.signatures {
            Signatures::Logged => "logged".to_owned(),
            Signatures::Map { map, seed_fallback } => {
                let model = map.meta().model.clone().unwrap_or_else(|| "labels.txt".to_owned());
                let fallback = if seed_fallback.is_some() { ", seed fallback" } else { "" };
                format!("map {} ({}){fallback}", map.meta().source, model)
            }
        };
        Self {
            options,
            report: MapReplayReport { signatures, numerics: options.numerics, ..Default::default() },
            disagreements: BTreeMap::new(),
            predictions: Vec::new(),
        }
    }

    /// The descriptor with the chosen signature; counts sources and token agreement.
    fn descriptor(&mut self, d: &LoggedDescriptor) -> Result<Descriptor> {
        let logged = d.to_descriptor()?;
        self.report.descriptors += 1;
        let Signatures::Map { map, seed_fallback } = &self.options.signatures else {
            return Ok(logged);
        };
        let (mut signature, source) = map.lookup(&d.d);
        let counts = &mut self.report.by_source;
        match source {
            LookupSource::Exact => counts.exact += 1,
            LookupSource::Lowercase => counts.lowercase += 1,
            LookupSource::CaseUnion => counts.case_union += 1,
            LookupSource::Digits => counts.digits += 1,
            LookupSource::Unknown => counts.unknown += 1,
        }
        if source == LookupSource::Unknown {
            if let Some(seeds) = seed_fallback {
                let labels = seeds.exact(&d.d).or_else(|| seeds.lower(&d.d)).filter(|l| !l.is_empty());
                if let Some(labels) = labels {
                    signature = Signature::new(labels.iter().map(|l| (l.clone(), 100)).collect())
                        .map_err(|e| anyhow!("seed labels of {:?}: {e}", d.d))?;
                    self.report.by_source.seed_fallback += 1;
                }
            }
        } else if source != LookupSource::Digits {
            let taxonomy = &self.options.taxonomy;
            let (want, got) = (top_group(&logged.signature, taxonomy), top_group(&signature, taxonomy));
            let want = want.unwrap_or_else(|| "OTHER".to_owned());
            let got = got.unwrap_or_else(|| "OTHER".to_owned());
            self.report.token_top_group_agreement.add(want == got);
            if want != got {
                *self.disagreements.entry((want, got)).or_default() += 1;
            }
        }
        Ok(Descriptor::new(logged.token, signature, logged.logit))
    }

    fn record(&mut self, rec: &Record) -> Result<()> {
        let options = self.options;
        let (taxonomy, numerics) = (&options.taxonomy, options.numerics);
        let terms = rec.terms()?;
        let mut tags: Vec<String> = vec!["O".to_owned(); terms.len()];
        for span in rec.spans(&terms)? {
            let key = span.key;
            let logged = SpanPrediction::new(
                span.cs_descriptors(LoggedDescriptor::to_descriptor)?,
                span.ci_descriptors(LoggedDescriptor::to_descriptor)?,
                taxonomy,
                numerics,
            )
            .with_context(|| format!("span {key}"))?;
            let cs = span.cs_descriptors(|d| self.descriptor(d))?;
            let ci = span.ci_descriptors(|d| self.descriptor(d))?;
            let ours = SpanPrediction::new(cs, ci, taxonomy, numerics).with_context(|| format!("span {key}"))?;
            self.report.spans += 1;
            self.report.span_top_group_agreement.add(ours.top.group == logged.top.group);
            let second = second_prediction(&ours.pooled);
            for (k, slot) in tags[span.start..span.start + span.len].iter_mut().enumerate() {
                let prefix = if k == 0 { Prefix::B } else { Prefix::I };
                let mut tag = TermTag::Entity(prefix, ours.top.clone()).flipped();
                if let Some(second) = &second {
                    tag.push('/');
                    tag.push_str(&TermTag::Entity(prefix, second.clone()).flipped());
                }
                *slot = tag;
            }
        }
        self.report.records += 1;
        self.predictions.push(terms.iter().map(|t| t.term.clone()).zip(tags).collect());
        Ok(())
    }

    fn finish(mut self) -> Result<MapReplay> {
        self.report.span_top_group_agreement.finish();
        self.report.token_top_group_agreement.finish();
        let mut pairs: Vec<((String, String), usize)> = std::mem::take(&mut self.disagreements).into_iter().collect();
        pairs.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        self.report.top_disagreements = pairs.into_iter().take(20).map(|((want, got), n)| (format!("{want} -> {got}"), n)).collect();
        if let Some((gold_path, config)) = self.options.gold {
            let gold = eval::read_gold(gold_path, config)?;
            if gold.sentences.len() != self.predictions.len() {
                bail!(
                    "{}: {} gold sentences but {} log records; give the gold file of the same sentences (custom/test.tsv for the reference's log)",
                    gold_path.display(),
                    gold.sentences.len(),
                    self.predictions.len()
                );
            }
            let scorer = with_misc_class(config);
            let mut ranges = vec![("all".to_owned(), 0..self.predictions.len())];
            if self.predictions.len() == HALVES[1].1.end {
                ranges.extend(HALVES.iter().map(|(name, r)| ((*name).to_owned(), r.clone())));
            }
            for (name, range) in ranges {
                self.report.scores.push(score_range(&scorer, &gold, &self.predictions, name, range)?);
            }
        }
        Ok(MapReplay { report: self.report, predictions: self.predictions })
    }
}

/// The second pooled group as a tag, when §8.1's above-mean rule admits at least two groups.
fn second_prediction(pooled: &[PooledGroup]) -> Option<EntityTag> {
    let packed: Vec<PackedScore> =
        pooled.iter().map(|g| PackedScore { tag: aggregate::top_tag(std::slice::from_ref(g)), confidence: g.confidence }).collect();
    (above_mean(&packed).len() >= 2).then(|| packed[1].tag.clone())
}

/// The scorer config with its `misc_tag` made a class when it is none. The reference scorer
/// puts a strict-mode prediction of a group outside `fp_type_list` (GRAMMAR_CONSTRUCT, which a
/// map can give a span) under `misc_tag`, and crashes when that is no class, as in the custom
/// config; the reference's own map never hit it. The added class has no gold tokens, so its
/// P+R is 0 and it leaves the average F1 as it is: the prediction still counts as a miss.
fn with_misc_class(config: &Config) -> Config {
    let mut config = config.clone();
    if !config.mapping.iter().any(|m| m.disp_name == config.misc_tag) {
        config.mapping.push(Mapping { g_name: config.misc_tag.clone(), disp_name: config.misc_tag.clone(), aliases: Vec::new() });
    }
    config
}

/// Reference-scorer 1p and 2p F1 of the predictions in `range` against the same gold sentences.
fn score_range(
    config: &Config,
    gold: &Sentences,
    predictions: &[Vec<(String, String)>],
    name: String,
    range: Range<usize>,
) -> Result<Scores> {
    let gold = Sentences::in_memory(Role::Gold, gold.sentences[range.clone()].to_vec());
    let pred = Sentences::in_memory(Role::Pred, predictions[range.clone()].to_vec());
    let f1 = |strict: bool| -> Result<f64> {
        let options = Options { strict, ignore_others: false };
        let results = eval::reference::score(config, &gold, &pred, options).map_err(|e| anyhow!("{name}: {e}"))?;
        Ok(results.average_f1_score.as_f64())
    };
    Ok(Scores { sentences: range.len(), f1_1p: f1(true)?, f1_2p: f1(false)?, records: name })
}
