//! The NER engine: one process holding every ensemble member, running a sentence from text to
//! final tags through the stages in order — phrases ([`crate::text`]), prompts and descriptors
//! ([`crate::descriptors`], on [`crate::mlm`]), per-model distributions
//! ([`crate::aggregate`]) and the ensemble decision ([`crate::ensemble`]).
//!
//! All prompts of a batch of inputs (the 2N sequences of every sentence) go through each model
//! in one packed, batched call.

use crate::aggregate::{Descriptor, EntityTag, SpanPrediction};
use crate::compat::Numerics;
use crate::descriptors::{self, HarvestContext, Prompt, Stoplist, VocabCasing};
use crate::ensemble::{self, Decision, EnsembleConfig, MemberConfig, MemberOutput, SecondCsRule};
use crate::entity_map::taxonomy::{OTHER, UNTAGGED_ENTITY};
use crate::entity_map::{BuildOptions, EntityMap, Group, SeedSet, Taxonomy, cache};
use crate::mlm::{self, MaskedLm};
use crate::text::{self, MarkedSentence, Phrase, Word};
use crate::token_classify::{self, Aggregation, EntitySpan, LoadOptions, TokenClassifier};
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
/// classifier, and the groups it is trusted for. Unknown keys in a config file are errors (a
/// misspelt setting must not be ignored).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
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
    /// Token classifiers: how tokens form entities when the member runs alone (the Hugging
    /// Face pipeline's `aggregation_strategy`; default `first`).
    #[serde(default)]
    pub aggregation: Option<Aggregation>,
    /// Token classifiers: tokens shared by consecutive windows of a long text (default
    /// [`token_classify::DEFAULT_STRIDE`], at most half a window).
    #[serde(default)]
    pub stride: Option<usize>,
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
            stride: None,
            labels: None,
        }
    }

    /// Whether this member is a token classifier: its `kind`, or for `auto` its checkpoint's
    /// `config.json` (resolving a hub id, which downloads the model's files if needed).
    pub fn is_token_classifier(&self) -> anyhow::Result<bool> {
        Ok(match self.kind {
            MemberKind::Auto => {
                is_token_classifier(&crate::hub::resolve(&self.model).with_context(|| format!("member {}", self.name))?)
            }
            k => k == MemberKind::TokenClassifier,
        })
    }
}

/// The engine's configuration (also the format of `--config FILE`, JSON; unknown keys are
/// errors).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
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
    /// The file this configuration was read from, named in errors about its settings.
    #[serde(skip)]
    pub source: Option<PathBuf>,
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
            source: None,
        }
    }

    pub fn from_file(path: &std::path::Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))?;
        let mut cfg: Self =
            serde_json::from_str(&text).map_err(|e| anyhow!("{}: invalid engine config ({e})", path.display()))?;
        cfg.source = Some(path.to_path_buf());
        Ok(cfg)
    }

    /// `what`, prefixed with the config file it comes from (if any), for error contexts.
    fn at(&self, what: impl std::fmt::Display) -> String {
        match &self.source {
            Some(p) => format!("{}: {what}", p.display()),
            None => what.to_string(),
        }
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

/// A member after its settings were checked, before its model loads.
enum Plan {
    Tc { dir: PathBuf },
    /// With the given map (directory, opened) if any.
    Mlm { dir: PathBuf, map: Option<(PathBuf, Box<EntityMap>)> },
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
    /// The phrases came from `:__entity__` markers: the text between a phrase's terms holds
    /// markers, so the phrase reads as its terms joined by spaces, not as the text slice.
    pub markers: bool,
}

/// An entity a token classifier found and typed itself (running alone in automatic mode):
/// the entity of its Hugging Face-style pipeline, and where its label goes in our taxonomy.
#[derive(Debug, Clone)]
pub struct ClassifiedEntity {
    /// As the pipeline reports it: the model's own label (`entity_group`), its score, word and
    /// character offsets.
    pub span: EntitySpan,
    /// Our group and subtype from the member's label map; `UNTAGGED_ENTITY` for a label the
    /// map does not list (reported when the member loads).
    pub tag: EntityTag,
}

/// The engine's answer for one input.
#[derive(Debug, Clone)]
pub struct TagResult {
    pub text: String,
    pub sentences: Vec<TaggedSentence>,
    /// Set when a token classifier ran alone and found the entities itself: they are the
    /// result's entities as the classifier reports them (the sentences' term tags follow them
    /// word by word).
    pub classified: Option<Vec<ClassifiedEntity>>,
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
    markers: bool,
}

impl Engine {
    /// Loads every member's model and map (building and caching maps on first use).
    ///
    /// Every member's settings are checked before any model loads: its kind (from
    /// `config.json`) against the options given for it, its precedence groups, and a given
    /// map's taxonomy against the engine's — so a bad setting fails at once, naming the member
    /// (and the config file), instead of after minutes of loading or on the first sentence.
    pub fn load(config: &EngineConfig, progress: bool) -> anyhow::Result<Self> {
        if config.members.is_empty() {
            bail!("{}", config.at("the ensemble has no members"));
        }
        if config.members.len() > 2 {
            bail!("{}", config.at(format!("ensembles of {} members are not supported (one or two)", config.members.len())));
        }
        for (i, m) in config.members.iter().enumerate() {
            if config.members[..i].iter().any(|o| o.name == m.name) {
                bail!("{}", config.at(format!("two members are named {}; each member runs once, under its own name", m.name)));
            }
        }
        let taxonomy = Taxonomy::from_name_or_path(&config.taxonomy).with_context(|| config.at("taxonomy"))?;
        let group = |n: &String| -> anyhow::Result<Group> { Ok(taxonomy.group(n)?.clone()) };
        let common = match &config.common {
            Some(c) => c.iter().map(group).collect::<anyhow::Result<Vec<_>>>().with_context(|| config.at("common"))?,
            None => EnsembleConfig::reference(&taxonomy)?.common,
        };
        let mut planned = Vec::with_capacity(config.members.len());
        for spec in &config.members {
            planned.push(Self::plan(config, spec, &taxonomy)?);
        }
        let mut ensemble = EnsembleConfig { members: Vec::new(), common, second_cs: config.second_cs };
        let mut seeds: Option<SeedSet> = None;
        let mut members = Vec::new();
        for (spec, plan) in config.members.iter().zip(planned) {
            let at = || format!("member {}", spec.name);
            let backend = match plan {
                Plan::Tc { dir } => {
                    let opts = LoadOptions { labels: spec.labels.clone(), taxonomy: taxonomy.clone() };
                    let mut tc = TokenClassifier::load_with(&spec.model, &dir, &opts).with_context(at)?;
                    if let Some(s) = spec.stride {
                        tc.set_stride(s).with_context(at)?;
                    }
                    Backend::Tc { tc, aggregation: spec.aggregation.unwrap_or(Aggregation::First) }
                }
                Plan::Mlm { dir, map } => {
                    let lm = MaskedLm::load(&spec.model, &dir).with_context(|| format!("member {}: loading model {}", spec.name, spec.model))?;
                    if !lm.has_mlm_head() {
                        bail!("member {}: {} has no masked-LM head (cls.predictions.*)", spec.name, spec.model);
                    }
                    let map = match map {
                        Some((dir, m)) => {
                            m.check_vocab(lm.tokenizer().vocab())
                                .with_context(|| format!("member {}: map {}", spec.name, dir.display()))?;
                            *m
                        }
                        None => {
                            if seeds.is_none() {
                                seeds = Some(match &config.seeds {
                                    Some(d) => SeedSet::load(d, &taxonomy).with_context(|| config.at("seeds"))?,
                                    None => SeedSet::builtin(&taxonomy)?,
                                });
                            }
                            let s = seeds.as_ref().ok_or_else(|| anyhow!("no seeds"))?;
                            cache::ensure_map(&lm, s, &BuildOptions::default(), &taxonomy, progress).with_context(at)?
                        }
                    };
                    let casing = VocabCasing::new(lm.tokenizer().vocab());
                    Backend::Mlm { lm, map, casing }
                }
            };
            let mut names = spec.precedence.clone();
            if names.is_empty() {
                names = match &backend {
                    Backend::Tc { tc, .. } => mapped_groups(tc),
                    Backend::Mlm { .. } => crate::ensemble::BIO_PRECEDENCE.iter().map(|g| g.to_string()).collect(),
                };
            }
            let precedence = names.iter().map(group).collect::<anyhow::Result<Vec<_>>>().with_context(|| config.at(format!("member {}: precedence", spec.name)))?;
            ensemble.members.push(MemberConfig { name: spec.name.clone(), precedence });
            members.push(Member { spec: MemberSpec { precedence: names, ..spec.clone() }, backend });
        }
        Ok(Self { members, ensemble, taxonomy, numerics: config.numerics, stoplist: Stoplist::builtin() })
    }

    /// A member's kind and given map, checked against its settings (no model is loaded).
    fn plan(config: &EngineConfig, spec: &MemberSpec, taxonomy: &Taxonomy) -> anyhow::Result<Plan> {
        let at = |what: String| config.at(format!("member {}: {what}", spec.name));
        let dir = crate::hub::resolve(&spec.model).with_context(|| config.at(format!("member {}", spec.name)))?;
        let classifier = match spec.kind {
            MemberKind::Auto => is_token_classifier(&dir),
            k => k == MemberKind::TokenClassifier,
        };
        for n in &spec.precedence {
            taxonomy.group(n).with_context(|| at("precedence".into()))?;
        }
        if classifier {
            if let Some(m) = &spec.map {
                bail!(
                    "{}",
                    at(format!("{} is a token classifier; a descriptor map ({}) is for masked-LM members", spec.model, m.display()))
                );
            }
            return Ok(Plan::Tc { dir });
        }
        let only_tc = [
            ("a label map (--labels / \"labels\")", spec.labels.is_some()),
            ("--aggregation / \"aggregation\"", spec.aggregation.is_some()),
            ("--stride / \"stride\"", spec.stride.is_some()),
        ];
        if let Some((what, _)) = only_tc.iter().find(|(_, given)| *given) {
            bail!("{}", at(format!("{} is a masked LM; {what} applies to token-classifier members only", spec.model)));
        }
        let map = match &spec.map {
            Some(d) => {
                let m = EntityMap::open(d).with_context(|| at(format!("map {}", d.display())))?;
                let built = &m.meta().taxonomy;
                if built != taxonomy.name() {
                    bail!(
                        "{}",
                        at(format!(
                            "map {} was built for taxonomy {built} but the engine uses {}; pass --config with \"taxonomy\": \"{built}\" or rebuild the map with `maskner build-map --taxonomy {}`",
                            d.display(),
                            taxonomy.name(),
                            taxonomy.name()
                        ))
                    );
                }
                Some((d.clone(), Box::new(m)))
            }
            None => None,
        };
        Ok(Plan::Mlm { dir, map })
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
                    "stride": tc.stride(),
                    "max_len": tc.max_len(),
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

    /// Tags a batch of inputs. Every input gets its own result; a bad input (e.g. invalid spans,
    /// a phrase too long for a model) fails alone. `Err` only when a model fails for the batch
    /// as a whole.
    pub fn tag(&self, requests: &[TagRequest]) -> anyhow::Result<Vec<anyhow::Result<TagResult>>> {
        let mut results: Vec<anyhow::Result<TagResult>> = Vec::with_capacity(requests.len());
        let mut prepared: Vec<Prepared> = Vec::new();
        for (i, req) in requests.iter().enumerate() {
            let mode = match &req.mode {
                PhraseMode::Detect if text::has_markers(&req.text) => PhraseMode::Markers,
                PhraseMode::Detect => PhraseMode::Auto,
                m => m.clone(),
            };
            if let (Some((tc, aggregation)), PhraseMode::Auto) = (self.lone_classifier(), &mode) {
                results.push(self.tag_alone(tc, aggregation, &req.text));
                continue;
            }
            match self.prepare(i, &req.text, mode) {
                Ok(p) => {
                    prepared.extend(p);
                    results.push(Ok(TagResult { text: req.text.clone(), sentences: Vec::new(), classified: None }));
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
            if !results.get(p.request).is_some_and(|r| r.is_ok()) {
                continue;
            }
            let request = p.request;
            let preds: Vec<Vec<SpanPrediction>> = per_member.iter_mut().map(|m| std::mem::take(&mut m[s])).collect();
            match self.decide(p, preds) {
                Ok(sentence) => {
                    if let Some(Ok(res)) = results.get_mut(request) {
                        res.sentences.push(sentence);
                    }
                }
                Err(e) => results[request] = Err(e),
            }
        }
        Ok(results)
    }

    /// The ensemble's decision on one sentence, from each member's predictions of its phrases.
    fn decide(&self, p: Prepared, preds: Vec<Vec<SpanPrediction>>) -> anyhow::Result<TaggedSentence> {
        let mut outputs = Vec::with_capacity(self.members.len());
        for (mi, member_preds) in preds.into_iter().enumerate() {
            let spans: Vec<(Range<usize>, SpanPrediction)> = p.phrases.iter().cloned().zip(member_preds).collect();
            let out = MemberOutput::new(p.member_terms[mi].clone(), spans)
                .with_context(|| format!("member {}", self.members[mi].spec.name))?;
            outputs.push(out);
        }
        let decision = ensemble::decide(&outputs, &self.ensemble, self.numerics)?;
        Ok(TaggedSentence { range: p.range, terms: p.terms, phrases: p.phrases, outputs, decision, markers: p.markers })
    }

    /// The token classifier, when it is the only member: in automatic mode it finds and types
    /// the entities itself.
    fn lone_classifier(&self) -> Option<(&TokenClassifier, Aggregation)> {
        match self.members.as_slice() {
            [Member { backend: Backend::Tc { tc, aggregation }, .. }] => Some((tc, *aggregation)),
            _ => None,
        }
    }

    /// A lone token classifier on a whole text: exactly the entities of its pipeline with the
    /// member's aggregation strategy (windows over long texts), each mapped to our taxonomy.
    /// Entities whose label maps to `-` or `OTHER` are not entities of ours and are left out,
    /// like `O`. The sentences' terms are tagged from the entities: a word overlapping an
    /// entity belongs to the first such entity, a run of words of one entity is one phrase.
    fn tag_alone(&self, tc: &TokenClassifier, aggregation: Aggregation, text: &str) -> anyhow::Result<TagResult> {
        let name = &self.members[0].spec.name;
        let found = tc.classify(text, aggregation).with_context(|| format!("member {name}"))?;
        let entities: Vec<ClassifiedEntity> = found
            .into_iter()
            .filter_map(|span| {
                let tag = match tc.label_map().target(&span.entity_group) {
                    Some(token_classify::Target::Tag(t)) if t.group.as_str() != OTHER => t.clone(),
                    Some(_) => return None,
                    None => EntityTag::bare(Group::new(UNTAGGED_ENTITY)),
                };
                Some(ClassifiedEntity { span, tag })
            })
            .collect();
        let byte_of = text::char_byte_offsets(text);
        let at = |c: usize| byte_of.get(c).copied().unwrap_or(text.len());
        let bytes: Vec<Range<usize>> = entities.iter().map(|e| at(e.span.start)..at(e.span.end)).collect();
        let mut sentences = Vec::new();
        for range in text::sentences(text) {
            let words = sentence_words(text, range.clone());
            if words.is_empty() {
                continue;
            }
            let owner: Vec<Option<usize>> =
                words.iter().map(|w| bytes.iter().position(|b| w.start < b.end && w.end > b.start)).collect();
            let mut phrases = Vec::new();
            let mut preds = Vec::new();
            let mut i = 0;
            while i < words.len() {
                let Some(k) = owner[i] else {
                    i += 1;
                    continue;
                };
                let mut j = i + 1;
                while j < words.len() && owner[j] == Some(k) {
                    j += 1;
                }
                phrases.push(Phrase { words: i..j });
                let (tag, score) = (&entities[k].tag, f64::from(entities[k].span.score));
                preds.push(SpanPrediction::from_shares(&[(tag.group.clone(), score)], &[(tag.clone(), score)]));
                i = j;
            }
            let p = self.prepare_sentence(0, range, text, MarkedSentence { words, phrases }, false);
            sentences.push(self.decide(p, vec![preds])?);
        }
        Ok(TagResult { text: text.to_string(), sentences, classified: Some(entities) })
    }

    /// Runs all prompts of all sentences through one member; returns, per sentence, one
    /// prediction per phrase. A sentence whose prompts cannot run fails its request.
    fn run_member(&self, mi: usize, prepared: &[Prepared], results: &mut [anyhow::Result<TagResult>]) -> anyhow::Result<Vec<Vec<SpanPrediction>>> {
        let m = &self.members[mi];
        let (lm, map, casing) = match &m.backend {
            Backend::Mlm { lm, map, casing } => (lm, map, casing),
            Backend::Tc { tc, .. } => return Ok(self.run_classifier(tc, mi, prepared, results)),
        };
        let fail = |e: anyhow::Error| Err(e.context(format!("member {}", m.spec.name)));
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
                            "a phrase of {} word pieces is longer than the model's maximum of {}",
                            ci.input.ids.len() - 5,
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
                Err(e) => results[p.request] = fail(e),
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
            let request = prepared[s].request;
            if results[request].is_err() {
                continue;
            }
            // a descriptor whose map labels are not in the taxonomy fails its input only
            match SpanPrediction::new(cs_desc, ci_desc, &self.taxonomy, self.numerics) {
                Ok(pred) => per_sentence[s].push(pred),
                Err(e) => results[request] = fail(e.into()),
            }
        }
        Ok(per_sentence)
    }

    /// A token classifier's vote on every phrase: its label probabilities over the phrase's
    /// tokens, folded into our groups; what it assigns to no group of ours (`O`, unmapped
    /// labels) goes to `OTHER`. A sentence the classifier cannot run fails its request.
    fn run_classifier(
        &self,
        tc: &TokenClassifier,
        mi: usize,
        prepared: &[Prepared],
        results: &mut [anyhow::Result<TagResult>],
    ) -> Vec<Vec<SpanPrediction>> {
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
                        groups.push((Group::new(OTHER), f64::from(d.outside + d.unmapped)));
                        groups.sort_by(|a, b| b.1.total_cmp(&a.1));
                        let tags: Vec<_> = d.tags.iter().map(|t| (t.tag.clone(), f64::from(t.prob))).collect();
                        SpanPrediction::from_shares(&groups, &tags)
                    }
                    None => SpanPrediction::from_shares(&[], &[]),
                };
                out[s].push(pred);
            }
        }
        out
    }

    /// Text -> sentences with words, phrases and per-member model terms.
    fn prepare(&self, request: usize, text: &str, mode: PhraseMode) -> anyhow::Result<Vec<Prepared>> {
        let markers = mode == PhraseMode::Markers;
        let sentences: Vec<(Range<usize>, MarkedSentence)> = match mode {
            PhraseMode::Markers => vec![(0..text.len(), text::parse_markers(text))],
            PhraseMode::Spans(spans) => vec![(0..text.len(), text::phrases_from_spans(text, &spans)?)],
            PhraseMode::Auto | PhraseMode::Detect => text::sentences(text)
                .into_iter()
                .map(|r| {
                    let words = sentence_words(text, r.clone());
                    let phrases = text::auto_phrases(&words);
                    (r, MarkedSentence { words, phrases })
                })
                .collect(),
        };
        Ok(sentences
            .into_iter()
            .filter(|(_, s)| !s.words.is_empty())
            .map(|(range, s)| self.prepare_sentence(request, range, text, s, markers))
            .collect())
    }

    fn prepare_sentence(&self, request: usize, range: Range<usize>, text: &str, s: MarkedSentence, markers: bool) -> Prepared {
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
                        // the reference's prompts turn `"` into `'`; a classifier reads the text as is
                        match &m.backend {
                            Backend::Mlm { casing, .. } if !in_phrase(i) => casing.apply(&t.text.replace('"', "'")),
                            Backend::Mlm { .. } => t.text.replace('"', "'"),
                            Backend::Tc { .. } => t.text.clone(),
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
        Prepared { request, range, terms, member_terms, phrases, ignore_cs, markers }
    }
}

/// The words of the sentence at byte range `r` of `text`, with offsets into `text`.
fn sentence_words(text: &str, r: Range<usize>) -> Vec<Word> {
    text::split_words(&text[r.clone()])
        .into_iter()
        .map(|w| Word { text: w.text, start: w.start + r.start, end: w.end + r.start })
        .collect()
}
