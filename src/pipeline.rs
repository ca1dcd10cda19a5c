//! The NER engine: one process holding every ensemble member, running a sentence from text to
//! final tags through the stages in order — phrases ([`crate::text`]), prompts and descriptors
//! ([`crate::descriptors`], on [`crate::mlm`]), per-model distributions
//! ([`crate::aggregate`]) and the ensemble decision ([`crate::ensemble`]).
//!
//! All prompts of a batch of inputs (the 2N sequences of every sentence) go through each model
//! in one packed, batched call.

use crate::aggregate::{Descriptor, SpanPrediction};
use crate::compat::Numerics;
use crate::descriptors::{self, HarvestContext, Prompt, Stoplist, VocabCasing};
use crate::ensemble::{self, Decision, EnsembleConfig, MemberConfig, MemberOutput, SecondCsRule};
use crate::entity_map::{BuildOptions, EntityMap, Group, SeedSet, Taxonomy, cache};
use crate::mlm::{self, MaskedLm};
use crate::text::{self, MarkedSentence, Phrase, Word};
use crate::token_classify::{self, Aggregation, LoadOptions, TokenClassifier};
use anyhow::{Context, anyhow, bail};
use serde::{Deserialize, Serialize};
use std::ops::Range;
use std::path::PathBuf;

/// What kind of model a member is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MemberKind {
    /// From the checkpoint's `config.json`: `*ForTokenClassification` is a token classifier,
    /// anything else a masked LM.
    #[default]
    Auto,
    /// A masked LM run through the descriptor method.
    MaskedLm,
    /// A supervised token classifier whose label probabilities vote over our groups.
    TokenClassifier,
}

/// One ensemble member: a masked LM with its descriptor map, or a supervised token
/// classifier, and the groups it is trusted for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MemberSpec {
    pub name: String,
    #[serde(default)]
    pub kind: MemberKind,
    /// Hub id or local directory.
    pub model: String,
    /// A map directory; default: the model's cached map, built on first use.
    #[serde(default)]
    pub map: Option<PathBuf>,
    /// Read `[CLS]` in the CI prompt too (the reference does for its biomedical model).
    #[serde(default)]
    pub use_cls: bool,
    /// Groups this member is trusted for (§8). Empty: a token classifier's mapped groups, or
    /// the reference's biomedical list for a masked LM.
    #[serde(default)]
    pub precedence: Vec<String>,
    /// Token classifiers: how tokens form entities when the member finds phrases itself.
    #[serde(default)]
    pub aggregation: Option<Aggregation>,
    /// Token classifiers: a label -> taxonomy map file (default: the built-in map of the model).
    #[serde(default)]
    pub labels: Option<PathBuf>,
}

impl MemberSpec {
    /// A member added by model name alone (`--members <hub id or dir>`): kind from its config.
    pub fn from_model(model: &str) -> Self {
        Self {
            name: model.to_string(),
            kind: MemberKind::Auto,
            model: model.to_string(),
            map: None,
            use_cls: false,
            precedence: Vec::new(),
            aggregation: None,
            labels: None,
        }
    }
}

/// The engine's configuration (also the format of `--config FILE`, JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EngineConfig {
    pub members: Vec<MemberSpec>,
    /// Groups common to all members; default: the reference's list.
    #[serde(default)]
    pub common: Option<Vec<String>>,
    #[serde(default)]
    pub second_cs: SecondCsRule,
    /// `jan2022` (default), `feb2022` or a taxonomy file.
    #[serde(default = "default_taxonomy")]
    pub taxonomy: String,
    /// Seed directory for maps built on first use; default: the built-in lists.
    #[serde(default)]
    pub seeds: Option<PathBuf>,
    #[serde(skip)]
    pub numerics: Numerics,
}

/// The groups a token classifier's labels map to, in label order.
fn mapped_groups(tc: &TokenClassifier) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for l in tc.labels() {
        if let Some(token_classify::Target::Tag(t)) = tc.label_map().target(token_classify::entity_group_of(l)) {
            let g = t.group.as_str().to_string();
            if !out.contains(&g) {
                out.push(g);
            }
        }
    }
    out
}

fn default_taxonomy() -> String {
    "jan2022".into()
}

impl EngineConfig {
    /// The reference's ensemble: the biomedical model (reads `[CLS]`) and bert-base-cased.
    pub fn reference_default() -> Self {
        let tax = Taxonomy::jan2022();
        let cfg = EnsembleConfig::reference(&tax).expect("built-in precedence lists are in the built-in taxonomy");
        let names = |m: &MemberConfig| m.precedence.iter().map(|g| g.as_str().to_string()).collect();
        Self {
            members: vec![
                MemberSpec {
                    name: "bio".into(),
                    use_cls: true,
                    precedence: names(&cfg.members[0]),
                    kind: MemberKind::MaskedLm,
                    ..MemberSpec::from_model("ajitrajasekharan/biomedical")
                },
                MemberSpec {
                    name: "phi".into(),
                    precedence: names(&cfg.members[1]),
                    kind: MemberKind::MaskedLm,
                    ..MemberSpec::from_model("bert-base-cased")
                },
            ],
            common: None,
            second_cs: SecondCsRule::Reference,
            taxonomy: default_taxonomy(),
            seeds: None,
            numerics: Numerics::Fixed,
        }
    }

    pub fn from_file(path: &std::path::Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))?;
        serde_json::from_str(&text).map_err(|e| anyhow!("{}: invalid engine config ({e})", path.display()))
    }
}

struct Member {
    spec: MemberSpec,
    backend: Backend,
}

enum Backend {
    Mlm { lm: MaskedLm, map: EntityMap, casing: VocabCasing },
    Tc { tc: TokenClassifier, aggregation: Aggregation },
}

/// Is the checkpoint in `dir` a token classifier (by `config.json` `architectures`)?
fn is_token_classifier(dir: &std::path::Path) -> bool {
    std::fs::read_to_string(dir.join("config.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v.get("architectures").cloned())
        .and_then(|a| a.as_array().cloned())
        .is_some_and(|a| a.iter().any(|x| x.as_str().is_some_and(|s| s.ends_with("ForTokenClassification"))))
}

/// How the phrases of an input are chosen.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PhraseMode {
    /// Marker mode if the text contains `:__entity__`, else automatic.
    #[default]
    Detect,
    Markers,
    Auto,
    /// Explicit byte spans of the text.
    Spans(Vec<Range<usize>>),
}

/// One input text.
#[derive(Debug, Clone)]
pub struct TagRequest {
    pub text: String,
    pub mode: PhraseMode,
}

/// A term of the output: a word of the input (byte offsets into the text) or the period the
/// method appends (`synthetic`, no offsets).
#[derive(Debug, Clone, Serialize)]
pub struct Term {
    pub text: String,
    pub start: usize,
    pub end: usize,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub synthetic: bool,
}

/// One sentence after the ensemble.
#[derive(Debug, Clone)]
pub struct TaggedSentence {
    /// Byte range of the sentence in the text.
    pub range: Range<usize>,
    pub terms: Vec<Term>,
    /// Phrases as term ranges.
    pub phrases: Vec<Range<usize>>,
    /// Per member, in configuration order.
    pub outputs: Vec<MemberOutput>,
    pub decision: Decision,
}

/// The engine's answer for one input.
#[derive(Debug, Clone)]
pub struct TagResult {
    pub text: String,
    pub sentences: Vec<TaggedSentence>,
}

/// The loaded ensemble.
pub struct Engine {
    members: Vec<Member>,
    ensemble: EnsembleConfig,
    taxonomy: Taxonomy,
    numerics: Numerics,
    stoplist: Stoplist,
}

/// A sentence on its way through the stages.
struct Prepared {
    request: usize,
    range: Range<usize>,
    terms: Vec<Term>,
    /// Per member: the words the model sees (vocabulary casing outside phrases).
    member_terms: Vec<Vec<String>>,
    phrases: Vec<Range<usize>>,
    ignore_cs: bool,
}

impl Engine {
    /// Loads every member's model and map (building and caching maps on first use).
    pub fn load(config: &EngineConfig, progress: bool) -> anyhow::Result<Self> {
        if config.members.is_empty() {
            bail!("the ensemble has no members");
        }
        if config.members.len() > 2 {
            bail!("ensembles of {} members are not supported (one or two)", config.members.len());
        }
        let taxonomy = Taxonomy::from_name_or_path(&config.taxonomy)?;
        let group = |n: &String| -> anyhow::Result<Group> { Ok(taxonomy.group(n)?.clone()) };
        let common = match &config.common {
            Some(c) => c.iter().map(group).collect::<anyhow::Result<Vec<_>>>()?,
            None => EnsembleConfig::reference(&taxonomy)?.common,
        };
        let mut ensemble = EnsembleConfig { members: Vec::new(), common, second_cs: config.second_cs };
        let mut seeds: Option<SeedSet> = None;
        let mut members = Vec::new();
        for spec in &config.members {
            let dir = crate::hub::resolve(&spec.model).with_context(|| format!("member {}", spec.name))?;
            let tc_kind = match spec.kind {
                MemberKind::Auto => is_token_classifier(&dir),
                k => k == MemberKind::TokenClassifier,
            };
            let backend = if tc_kind {
                let opts = LoadOptions { labels: spec.labels.clone(), taxonomy: taxonomy.clone() };
                let tc = TokenClassifier::load_with(&spec.model, &dir, &opts).with_context(|| format!("member {}", spec.name))?;
                Backend::Tc { tc, aggregation: spec.aggregation.unwrap_or(Aggregation::First) }
            } else {
                let lm = MaskedLm::load(&spec.model, &dir).with_context(|| format!("member {}: loading model {}", spec.name, spec.model))?;
                if !lm.has_mlm_head() {
                    bail!("member {}: {} has no masked-LM head (cls.predictions.*)", spec.name, spec.model);
                }
                let map = match &spec.map {
                    Some(dir) => {
                        let m = EntityMap::open(dir)?;
                        m.check_vocab(lm.tokenizer().vocab())
                            .with_context(|| format!("member {}: map {}", spec.name, dir.display()))?;
                        m
                    }
                    None => {
                        if seeds.is_none() {
                            seeds = Some(match &config.seeds {
                                Some(d) => SeedSet::load(d, &taxonomy)?,
                                None => SeedSet::builtin(&taxonomy)?,
                            });
                        }
                        let s = seeds.as_ref().ok_or_else(|| anyhow!("no seeds"))?;
                        cache::ensure_map(&lm, s, &BuildOptions::default(), &taxonomy, progress)?
                    }
                };
                let casing = VocabCasing::new(lm.tokenizer().vocab());
                Backend::Mlm { lm, map, casing }
            };
            let mut names = spec.precedence.clone();
            if names.is_empty() {
                names = match &backend {
                    Backend::Tc { tc, .. } => mapped_groups(tc),
                    Backend::Mlm { .. } => crate::ensemble::BIO_PRECEDENCE.iter().map(|g| g.to_string()).collect(),
                };
            }
            let precedence = names.iter().map(group).collect::<anyhow::Result<Vec<_>>>()?;
            ensemble.members.push(MemberConfig { name: spec.name.clone(), precedence });
            members.push(Member { spec: MemberSpec { precedence: names, ..spec.clone() }, backend });
        }
        Ok(Self { members, ensemble, taxonomy, numerics: config.numerics, stoplist: Stoplist::builtin() })
    }

    pub fn numerics(&self) -> Numerics {
        self.numerics
    }

    pub fn taxonomy(&self) -> &Taxonomy {
        &self.taxonomy
    }

    pub fn member_names(&self) -> Vec<&str> {
        self.members.iter().map(|m| m.spec.name.as_str()).collect()
    }

    /// Name, model and map metadata of each member.
    pub fn info(&self) -> serde_json::Value {
        serde_json::json!({
            "numerics": self.numerics,
            "taxonomy": self.taxonomy.name(),
            "members": self.members.iter().map(|m| match &m.backend {
                Backend::Mlm { lm, map, .. } => serde_json::json!({
                    "name": m.spec.name,
                    "kind": "masked-lm",
                    "model": m.spec.model,
                    "use_cls": m.spec.use_cls,
                    "precedence": m.spec.precedence,
                    "vocab_size": lm.tokenizer().vocab_size(),
                    "max_len": lm.max_len(),
                    "map": map.meta(),
                }),
                Backend::Tc { tc, aggregation } => serde_json::json!({
                    "name": m.spec.name,
                    "kind": "token-classifier",
                    "model": m.spec.model,
                    "precedence": m.spec.precedence,
                    "labels": tc.labels(),
                    "label_map": tc.label_map().source(),
                    "aggregation": aggregation,
                    "warnings": tc.warnings(),
                }),
            }).collect::<Vec<_>>(),
            "common": self.ensemble.common,
        })
    }

    /// The first masked-LM member's model (for fill-mask next to tagging, e.g. in the server).
    pub fn first_model(&self) -> Option<&MaskedLm> {
        self.members.iter().find_map(|m| match &m.backend {
            Backend::Mlm { lm, .. } => Some(lm),
            Backend::Tc { .. } => None,
        })
    }

    /// Tags a batch of inputs. Every input gets its own result; a bad input (e.g. invalid spans)
    /// fails alone.
    pub fn tag(&self, requests: &[TagRequest]) -> anyhow::Result<Vec<anyhow::Result<TagResult>>> {
        let mut results: Vec<anyhow::Result<TagResult>> = Vec::with_capacity(requests.len());
        let mut prepared: Vec<Prepared> = Vec::new();
        for (i, req) in requests.iter().enumerate() {
            match self.prepare(i, req) {
                Ok(p) => {
                    prepared.extend(p);
                    results.push(Ok(TagResult { text: req.text.clone(), sentences: Vec::new() }));
                }
                Err(e) => results.push(Err(e)),
            }
        }
        // prompts, per member
        let mut per_member: Vec<Vec<Vec<SpanPrediction>>> = Vec::new();
        for mi in 0..self.members.len() {
            per_member.push(self.run_member(mi, &prepared, &mut results)?);
        }
        for (s, p) in prepared.into_iter().enumerate() {
            let Some(Ok(res)) = results.get_mut(p.request) else { continue };
            let mut outputs = Vec::with_capacity(self.members.len());
            for (mi, preds) in per_member.iter_mut().enumerate() {
                let spans: Vec<(Range<usize>, SpanPrediction)> = p.phrases.iter().cloned().zip(std::mem::take(&mut preds[s])).collect();
                outputs.push(MemberOutput::new(p.member_terms[mi].clone(), spans)?);
            }
            let decision = ensemble::decide(&outputs, &self.ensemble, self.numerics)?;
            res.sentences.push(TaggedSentence { range: p.range, terms: p.terms, phrases: p.phrases, outputs, decision });
        }
        Ok(results)
    }

    /// Runs all prompts of all sentences through one member; returns, per sentence, one
    /// prediction per phrase. A sentence whose prompts cannot run fails its request.
    fn run_member(&self, mi: usize, prepared: &[Prepared], results: &mut [anyhow::Result<TagResult>]) -> anyhow::Result<Vec<Vec<SpanPrediction>>> {
        let m = &self.members[mi];
        let (lm, map, casing) = match &m.backend {
            Backend::Mlm { lm, map, casing } => (lm, map, casing),
            Backend::Tc { tc, .. } => return self.run_classifier(tc, mi, prepared, results),
        };
        let tok = lm.tokenizer();
        // (sentence, ci prompt, cs prompt) per phrase
        let mut prompts: Vec<(usize, Prompt, Option<Prompt>)> = Vec::new();
        for (s, p) in prepared.iter().enumerate() {
            if results[p.request].is_err() {
                continue;
            }
            let built: anyhow::Result<Vec<(Prompt, Option<Prompt>)>> = p
                .phrases
                .iter()
                .map(|r| {
                    let words = &p.member_terms[mi][r.clone()];
                    let ci = descriptors::ci_prompt(tok, casing, words, m.spec.use_cls)?;
                    if ci.input.ids.len() > lm.max_len() {
                        bail!(
                            "a phrase of {} word pieces is longer than {}'s maximum of {}",
                            ci.input.ids.len() - 5,
                            m.spec.name,
                            lm.max_len()
                        );
                    }
                    let cs = if p.ignore_cs {
                        None
                    } else {
                        Some(descriptors::cs_prompt(tok, &p.member_terms[mi], r.clone(), lm.max_len())?)
                    };
                    Ok((ci, cs))
                })
                .collect();
            match built {
                Ok(v) => prompts.extend(v.into_iter().map(|(ci, cs)| (s, ci, cs))),
                Err(e) => results[p.request] = Err(e),
            }
        }
        let mut inputs = Vec::with_capacity(prompts.len() * 2);
        for (_, ci, cs) in &prompts {
            inputs.push(ci.input.clone());
            if let Some(cs) = cs {
                inputs.push(cs.input.clone());
            }
        }
        let logits = lm.predict(&inputs).with_context(|| format!("member {}", m.spec.name))?;
        let ctx = HarvestContext { tokenizer: tok, map, stoplist: &self.stoplist, numerics: self.numerics };
        let harvest = |p: &Prompt, l: &[mlm::Logits]| -> Vec<Descriptor> {
            let mut out = Vec::new();
            for (j, lg) in l.iter().enumerate() {
                out.extend(descriptors::harvest(&ctx, lg, &p.kind, p.at_cls[j], p.budgets[j]));
            }
            out
        };
        let mut per_sentence: Vec<Vec<SpanPrediction>> = prepared.iter().map(|_| Vec::new()).collect();
        let mut li = logits.into_iter();
        for (s, ci, cs) in prompts {
            let ci_logits = li.next().unwrap_or_default();
            let ci_desc = harvest(&ci, &ci_logits);
            let cs_desc = match &cs {
                Some(cs) => harvest(cs, &li.next().unwrap_or_default()),
                None => Vec::new(),
            };
            per_sentence[s].push(SpanPrediction::new(cs_desc, ci_desc, &self.taxonomy, self.numerics)?);
        }
        Ok(per_sentence)
    }

    /// A token classifier's vote on every phrase: its label probabilities over the phrase's
    /// tokens, folded into our groups; what it assigns to no group of ours (`O`, unmapped
    /// labels) goes to `OTHER`.
    fn run_classifier(
        &self,
        tc: &TokenClassifier,
        mi: usize,
        prepared: &[Prepared],
        results: &mut [anyhow::Result<TagResult>],
    ) -> anyhow::Result<Vec<Vec<SpanPrediction>>> {
        let mut out: Vec<Vec<SpanPrediction>> = prepared.iter().map(|_| Vec::new()).collect();
        for (s, p) in prepared.iter().enumerate() {
            if results[p.request].is_err() || p.phrases.is_empty() {
                continue;
            }
            // the sentence as plain text (markers removed), with each term's character span
            let mut text = String::new();
            let mut spans = Vec::with_capacity(p.member_terms[mi].len());
            for w in &p.member_terms[mi] {
                if !text.is_empty() {
                    text.push(' ');
                }
                let start = text.chars().count();
                text.push_str(w);
                spans.push((start, text.chars().count()));
            }
            let tokens = match tc.token_scores(&text) {
                Ok(t) => t,
                Err(e) => {
                    results[p.request] = Err(e.context(format!("member {}", self.members[mi].spec.name)));
                    continue;
                }
            };
            for r in &p.phrases {
                let (start, end) = (spans[r.start].0, spans[r.end - 1].1);
                let pred = match token_classify::span_distribution(&tokens, start, end, tc.label_map()) {
                    Some(d) => {
                        let mut groups: Vec<(Group, f64)> = d.groups.iter().map(|g| (g.group.clone(), f64::from(g.prob))).collect();
                        groups.push((Group::new(crate::entity_map::taxonomy::OTHER), f64::from(d.outside + d.unmapped)));
                        groups.sort_by(|a, b| b.1.total_cmp(&a.1));
                        let tags: Vec<_> = d.tags.iter().map(|t| (t.tag.clone(), f64::from(t.prob))).collect();
                        SpanPrediction::from_shares(&groups, &tags)
                    }
                    None => SpanPrediction::from_shares(&[], &[]),
                };
                out[s].push(pred);
            }
        }
        Ok(out)
    }

    /// Text -> sentences with words, phrases and per-member model terms.
    fn prepare(&self, request: usize, req: &TagRequest) -> anyhow::Result<Vec<Prepared>> {
        let text = &req.text;
        let mode = match &req.mode {
            PhraseMode::Detect if text::has_markers(text) => PhraseMode::Markers,
            PhraseMode::Detect => PhraseMode::Auto,
            m => m.clone(),
        };
        let sentences: Vec<(Range<usize>, MarkedSentence)> = match mode {
            PhraseMode::Markers => vec![(0..text.len(), text::parse_markers(text))],
            PhraseMode::Spans(spans) => vec![(0..text.len(), text::phrases_from_spans(text, &spans)?)],
            PhraseMode::Auto | PhraseMode::Detect => text::sentences(text)
                .into_iter()
                .map(|r| {
                    let words: Vec<Word> = text::split_words(&text[r.clone()])
                        .into_iter()
                        .map(|w| Word { text: w.text, start: w.start + r.start, end: w.end + r.start })
                        .collect();
                    let phrases = self.auto_phrases(text, r.clone(), &words)?;
                    Ok((r, MarkedSentence { words, phrases }))
                })
                .collect::<anyhow::Result<_>>()?,
        };
        Ok(sentences.into_iter().filter(|(_, s)| !s.words.is_empty()).map(|(range, s)| self.prepare_sentence(request, range, text, s)).collect())
    }

    /// Automatic phrases: the chunker's, or — when a token classifier runs alone — the entities
    /// it finds itself (as word ranges).
    fn auto_phrases(&self, text: &str, range: Range<usize>, words: &[Word]) -> anyhow::Result<Vec<Phrase>> {
        let [Member { backend: Backend::Tc { tc, aggregation }, .. }] = self.members.as_slice() else {
            return Ok(text::auto_phrases(words));
        };
        let sentence = &text[range.clone()];
        let byte_of: Vec<usize> = sentence.char_indices().map(|(b, _)| b).chain([sentence.len()]).collect();
        let mut phrases: Vec<Phrase> = Vec::new();
        for e in tc.classify(sentence, *aggregation)? {
            let (bs, be) = (byte_of.get(e.start).copied().unwrap_or(sentence.len()), byte_of.get(e.end).copied().unwrap_or(sentence.len()));
            let (bs, be) = (bs + range.start, be + range.start);
            let covered: Vec<usize> = (0..words.len()).filter(|&i| words[i].start < be && words[i].end > bs).collect();
            let (Some(&a), Some(&b)) = (covered.first(), covered.last()) else { continue };
            match phrases.last_mut() {
                Some(last) if last.words.end > a => last.words.end = last.words.end.max(b + 1),
                _ => phrases.push(Phrase { words: a..b + 1 }),
            }
        }
        Ok(phrases)
    }

    fn prepare_sentence(&self, request: usize, range: Range<usize>, text: &str, s: MarkedSentence) -> Prepared {
        let mut terms: Vec<Term> = s.words.iter().map(|w| Term { text: w.text.clone(), start: w.start, end: w.end, synthetic: false }).collect();
        // the method appends a period to a sentence that does not end in punctuation (§3.1)
        let last = text[range.clone()].trim_end().chars().last();
        if !matches!(last, Some('!' | ',' | '.' | ':' | ';' | '?')) && text[range.clone()].trim_end().chars().count() > 1 {
            terms.push(Term { text: ".".into(), start: range.end, end: range.end, synthetic: true });
        }
        let phrases: Vec<Range<usize>> = s.phrases.iter().map(|p: &Phrase| p.words.clone()).collect();
        let in_phrase = |i: usize| phrases.iter().any(|r| r.contains(&i));
        let member_terms = self
            .members
            .iter()
            .map(|m| {
                terms
                    .iter()
                    .enumerate()
                    .map(|(i, t)| {
                        let w = t.text.replace('"', "'");
                        match &m.backend {
                            Backend::Mlm { casing, .. } if !in_phrase(i) => casing.apply(&w),
                            _ => w,
                        }
                    })
                    .collect()
            })
            .collect();
        // the whole input is one phrase: its CS prompt would be just "[MASK] ." (§3.3 ignore_cs)
        let ignore_cs = phrases.len() == 1 && {
            let r = &phrases[0];
            let rest: Vec<&Term> = terms.iter().enumerate().filter(|(i, _)| !r.contains(i)).map(|(_, t)| t).collect();
            r.start == 0 && rest.len() == 1 && rest[0].text == "."
        };
        Prepared { request, range, terms, member_terms, phrases, ignore_cs }
    }
}
