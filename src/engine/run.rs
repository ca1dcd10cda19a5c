//! Tagging: a batch of texts through the stages, each input isolated from the others.

use super::{Engine, MemberModel, PhraseMode, TagRequest, isolate};
use crate::aggregate::{Descriptor, EntityTag, SpanPrediction};
use crate::descriptors::{self, HarvestContext, Prompt};
use crate::ensemble::{self, Decision, MemberOutput};
use crate::entity_map::Group;
use crate::entity_map::taxonomy::{OTHER, UNTAGGED_ENTITY};
use crate::error::{Error, ErrorKind, Result};
use crate::mlm;
use crate::text::{self, MarkedSentence, Phrase};
use crate::token_classify::{self, Aggregation, EntitySpan, TokenClassifier};
use anyhow::Context;
use serde::Serialize;
use std::ops::Range;

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
    /// Tags a batch of inputs: one result per input, in order. An input fails alone, whatever
    /// fails — invalid spans ([`Error::Input`]), a phrase too long for a model
    /// ([`Error::Limit`]), a model failing or panicking on it ([`Error::Internal`]): a batch a
    /// model fails as a whole is re-run input by input ([`isolate`]).
    pub fn tag(&self, requests: &[TagRequest]) -> Vec<Result<TagResult>> {
        isolate(requests, &|rs| self.tag_batch(rs))
    }

    /// [`tag`](Self::tag) without isolation: `Err` when a model fails for the batch as a whole.
    fn tag_batch(&self, requests: &[TagRequest]) -> Result<Vec<Result<TagResult>>> {
        let mut results: Vec<Result<TagResult>> = Vec::with_capacity(requests.len());
        let mut prepared: Vec<Prepared> = Vec::new();
        for (i, req) in requests.iter().enumerate() {
            let mode = match &req.mode {
                PhraseMode::Detect if text::has_markers(&req.text) => PhraseMode::Markers,
                PhraseMode::Detect => PhraseMode::Auto,
                m => m.clone(),
            };
            if let (Some((tc, aggregation)), PhraseMode::Auto) = (self.lone_classifier(), &mode) {
                results.push(self.tag_alone(tc, aggregation, &req.text).map_err(|e| Error::from_chain(e, ErrorKind::Internal)));
                continue;
            }
            match self.prepare(i, &req.text, mode) {
                Ok(p) => {
                    prepared.extend(p);
                    results.push(Ok(TagResult { text: req.text.clone(), sentences: Vec::new(), classified: None }));
                }
                Err(e) => results.push(Err(Error::from_chain(e, ErrorKind::Input))),
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
                Err(e) => results[request] = Err(Error::from_chain(e, ErrorKind::Internal)),
            }
        }
        Ok(results)
    }

    /// The ensemble's decision on one sentence, from each member's predictions of its phrases.
    fn decide(&self, p: Prepared, preds: Vec<Vec<SpanPrediction>>) -> anyhow::Result<TaggedSentence> {
        let mut outputs = Vec::with_capacity(self.members.len());
        for (mi, member_preds) in preds.into_iter().enumerate() {
            let spans: Vec<(Range<usize>, SpanPrediction)> = p.phrases.iter().cloned().zip(member_preds).collect();
            let out =
                MemberOutput::new(p.member_terms[mi].clone(), spans).with_context(|| format!("member {}", self.members[mi].spec.name))?;
            outputs.push(out);
        }
        let decision = ensemble::decide(&outputs, &self.ensemble, self.numerics)?;
        Ok(TaggedSentence { range: p.range, terms: p.terms, phrases: p.phrases, outputs, decision, markers: p.markers })
    }

    /// The token classifier, when it is the only member: in automatic mode it finds and types
    /// the entities itself.
    fn lone_classifier(&self) -> Option<(&TokenClassifier, Aggregation)> {
        match self.members.as_slice() {
            [super::Member { model: MemberModel::Classifier { tc, aggregation }, .. }] => Some((tc, *aggregation)),
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
            let words = text::sentence_words(text, range.clone());
            if words.is_empty() {
                continue;
            }
            let owner: Vec<Option<usize>> = words.iter().map(|w| bytes.iter().position(|b| w.start < b.end && w.end > b.start)).collect();
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
    fn run_member(&self, mi: usize, prepared: &[Prepared], results: &mut [Result<TagResult>]) -> Result<Vec<Vec<SpanPrediction>>> {
        let m = &self.members[mi];
        let (lm, map, casing) = match &m.model {
            MemberModel::Mlm { lm, map, casing } => (lm, map, casing),
            MemberModel::Classifier { tc, .. } => return Ok(self.run_classifier(tc, mi, prepared, results)),
        };
        let fail = |e: anyhow::Error, kind: ErrorKind| Error::from_chain(e.context(format!("member {}", m.spec.name)), kind);
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
                    descriptors::check_ci_fits(&ci, lm.max_len())?;
                    let cs =
                        if p.ignore_cs { None } else { Some(descriptors::cs_prompt(tok, &p.member_terms[mi], r.clone(), lm.max_len())?) };
                    Ok((ci, cs))
                })
                .collect();
            match built {
                Ok(v) => prompts.extend(v.into_iter().map(|(ci, cs)| (s, ci, cs))),
                Err(e) => results[p.request] = Err(fail(e, ErrorKind::Input)),
            }
        }
        let mut inputs = Vec::with_capacity(prompts.len() * 2);
        for (_, ci, cs) in &prompts {
            inputs.push(ci.input.clone());
            if let Some(cs) = cs {
                inputs.push(cs.input.clone());
            }
        }
        let logits = lm.predict(&inputs).map_err(|e| fail(e, ErrorKind::Internal))?;
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
                Err(e) => results[request] = Err(fail(e.into(), ErrorKind::Files)),
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
        results: &mut [Result<TagResult>],
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
                    let e = e.context(format!("member {}", self.members[mi].spec.name));
                    results[p.request] = Err(Error::from_chain(e, ErrorKind::Internal));
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
                    let words = text::sentence_words(text, r.clone());
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
        let mut terms: Vec<Term> =
            s.words.iter().map(|w| Term { text: w.text.clone(), start: w.start, end: w.end, synthetic: false }).collect();
        if text::appends_period(&text[range.clone()]) {
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
                        // a classifier reads the text as is
                        match &m.model {
                            MemberModel::Mlm { casing, .. } if !in_phrase(i) => casing.apply(&text::prompt_word(&t.text)),
                            MemberModel::Mlm { .. } => text::prompt_word(&t.text),
                            MemberModel::Classifier { .. } => t.text.clone(),
                        }
                    })
                    .collect()
            })
            .collect();
        let words: Vec<&str> = terms.iter().map(|t| t.text.as_str()).collect();
        let ignore_cs = descriptors::skips_cs(&phrases, &words);
        Prepared { request, range, terms, member_terms, phrases, ignore_cs, markers }
    }
}
