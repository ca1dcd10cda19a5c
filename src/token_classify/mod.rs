//! Supervised token classifiers as ensemble members: fine-tuned NER models
//! (`BertForTokenClassification`, `DebertaV2ForTokenClassification`) run on candle, with the
//! Hugging Face token-classification pipeline's output (entity lists for the `simple`,
//! `first`, `average` and `max` aggregation strategies), a sliding window instead of
//! truncation for long texts, and a label map onto our taxonomy so that a member's label
//! probabilities for a span can vote as a distribution over our groups.
//!
//! ```no_run
//! use maskner::token_classify::{Aggregation, TokenClassifier};
//! # fn main() -> anyhow::Result<()> {
//! let dir = maskner::hub::resolve("fran-martinez/scibert_scivocab_cased_ner_jnlpba")?;
//! let tc = TokenClassifier::load("fran-martinez/scibert_scivocab_cased_ner_jnlpba", &dir)?;
//! for e in tc.classify("IL-2 receptor alpha is expressed in Jurkat T cells.", Aggregation::First)? {
//!     println!("{} {} [{}, {})", e.entity_group, e.word, e.start, e.end);
//! }
//! let dist = tc.group_distribution("IL-2 receptor alpha is expressed in Jurkat T cells.", 0, 19)?;
//! # Ok(()) }
//! ```
//!
//! **Windows.** A text is tokenised once (without special tokens); if its tokens do not fit
//! the model (`max_len()` minus `[CLS]`/`[SEP]`), it is cut into windows of that many tokens,
//! each starting `content - stride` tokens after the previous one, so consecutive windows
//! share `stride` tokens — exactly the windows of the pipeline called with `stride=` (the
//! tokenizer's overflowing tokens). Entities are computed per window and merged as the
//! pipeline merges them: sorted by start, an entity starting inside the previous one replaces
//! it when longer (or as long with a higher score). `max_len()` is the smaller of
//! `model_max_length` in `tokenizer_config.json` and `max_position_embeddings`. Texts that fit
//! one window give exactly the pipeline's output without `stride`.
//!
//! Offsets (`start`, `end`) are character offsets (Unicode scalar values), as in Python.

pub mod bert;
pub mod deberta;
pub mod entities;
pub mod labels;
pub mod spm;

use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow, bail};
use candle_core::Device;
use serde::Serialize;
use tokenizers::{Decoder, ModelWrapper, Tokenizer};

use crate::entity_map::Taxonomy;
use crate::mlm::DEFAULT_TOKEN_BUDGET;
use crate::mlm::config::BertConfig;
use crate::mlm::tokenizer::WordPieceTokenizer;

pub use entities::{Aggregation, EntitySpan, argmax, softmax};
pub use labels::{GroupDistribution, GroupProb, LabelMap, TagProb, Target, entity_group_of};

/// Default overlap of consecutive windows, capped at half a window.
pub const DEFAULT_STRIDE: usize = 128;

/// The architecture family of a token classifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Family {
    /// `BertForTokenClassification` (WordPiece; `vocab.txt` or `tokenizer.json`).
    Bert,
    /// `DebertaV2ForTokenClassification` (DeBERTa-v2/v3; SentencePiece `tokenizer.json` or `spm.model`).
    DebertaV2,
}

enum Backend {
    Bert(bert::BertTokenClassifier),
    Deberta(deberta::DebertaTokenClassifier),
}

/// One window of a text: token ids with `[CLS]`/`[SEP]`, their vocabulary strings, character
/// offsets into the text (`(0, 0)` for the added specials) and special-token mask.
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    pub ids: Vec<u32>,
    pub tokens: Vec<String>,
    pub offsets: Vec<(usize, usize)>,
    pub special: Vec<bool>,
    /// The text tokens this window covers: `[start, end)` indices into the text's tokens.
    pub range: (usize, usize),
}

/// A text token with its label probabilities (softmax of the logits), taken from the window in
/// which the token is farthest from a window edge (the first such window on ties).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScoredToken {
    pub token: String,
    pub start: usize,
    pub end: usize,
    pub probs: Vec<f32>,
}

/// Options of [`TokenClassifier::load_with`].
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// A label map file; default: maskner's builtin map for the member's hub id, if any.
    pub labels: Option<PathBuf>,
    /// The taxonomy label maps are checked against (default jan2022).
    pub taxonomy: Taxonomy,
}

/// A loaded token classifier (see the module documentation).
pub struct TokenClassifier {
    name: String,
    dir: PathBuf,
    family: Family,
    backend: Backend,
    tokenizer: Tokenizer,
    id2label: Vec<String>,
    label_map: LabelMap,
    max_len: usize,
    stride: usize,
    cls: u32,
    sep: u32,
    unk: Option<u32>,
    word_aware: bool,
    warnings: Vec<String>,
    token_budget: usize,
}

/// `tokenizer_config.json` fields used here.
#[derive(Default)]
struct TokenizerSettings {
    model_max_length: Option<usize>,
    do_lower_case: Option<bool>,
    split_by_punct: Option<bool>,
    add_prefix_space: Option<bool>,
    specials: Vec<(String, String)>,
}

fn read_json(path: &Path) -> anyhow::Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).map_err(|e| anyhow!("{}: cannot read: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| anyhow!("{}: invalid JSON ({e})", path.display()))
}

fn read_tokenizer_settings(dir: &Path) -> anyhow::Result<TokenizerSettings> {
    let path = dir.join("tokenizer_config.json");
    if !path.is_file() {
        return Ok(TokenizerSettings::default());
    }
    let v = read_json(&path)?;
    let len = v.get("model_max_length").or_else(|| v.get("max_len")).and_then(|x| x.as_f64());
    // transformers writes 1e30 ("unlimited") when a repository sets no length
    let model_max_length = len.filter(|x| (1.0..1e9).contains(x)).map(|x| x as usize);
    let mut specials = Vec::new();
    for key in ["cls_token", "sep_token", "pad_token", "unk_token", "mask_token"] {
        let tok = match v.get(key) {
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(o @ serde_json::Value::Object(_)) => o.get("content").and_then(|c| c.as_str()).map(String::from),
            _ => None,
        };
        if let Some(t) = tok {
            specials.push((key.to_string(), t));
        }
    }
    Ok(TokenizerSettings {
        model_max_length,
        do_lower_case: v.get("do_lower_case").and_then(|x| x.as_bool()),
        split_by_punct: v.get("split_by_punct").and_then(|x| x.as_bool()),
        add_prefix_space: v.get("add_prefix_space").and_then(|x| x.as_bool()),
        specials,
    })
}

impl TokenizerSettings {
    fn special(&self, key: &str, default: &str) -> String {
        self.specials.iter().find(|(k, _)| k == key).map_or_else(|| default.to_string(), |(_, v)| v.clone())
    }
}

/// `id2label` of `config.json` as a dense list.
fn read_id2label(v: &serde_json::Value, path: &Path) -> anyhow::Result<Vec<String>> {
    let map = v
        .get("id2label")
        .and_then(|m| m.as_object())
        .ok_or_else(|| anyhow!("{}: no id2label (a token-classification config lists its labels there)", path.display()))?;
    let mut labels = vec![None; map.len()];
    for (k, l) in map {
        let i: usize = k.parse().map_err(|_| anyhow!("{}: id2label key {k:?} is not a number", path.display()))?;
        let l = l.as_str().ok_or_else(|| anyhow!("{}: id2label[{k}] is not a string", path.display()))?;
        let slot = labels.get_mut(i).ok_or_else(|| anyhow!("{}: id2label ids are not 0..{} (found {i})", path.display(), map.len()))?;
        *slot = Some(l.to_string());
    }
    labels.into_iter().enumerate().map(|(i, l)| l.ok_or_else(|| anyhow!("{}: id2label has no label {i}", path.display()))).collect()
}

fn detect_family(v: &serde_json::Value, path: &Path) -> anyhow::Result<Family> {
    let model_type = v.get("model_type").and_then(|x| x.as_str());
    let archs: Vec<&str> =
        v.get("architectures").and_then(|a| a.as_array()).map(|a| a.iter().filter_map(|x| x.as_str()).collect()).unwrap_or_default();
    if let Some(a) = archs.iter().find(|a| !a.ends_with("ForTokenClassification"))
        && !archs.iter().any(|a| a.ends_with("ForTokenClassification"))
    {
        bail!("{}: the checkpoint is a {a}, not a token classifier (…ForTokenClassification)", path.display());
    }
    let is = |m: &str, arch: &str| model_type == Some(m) || archs.contains(&arch);
    if is("deberta-v2", "DebertaV2ForTokenClassification") {
        Ok(Family::DebertaV2)
    } else if is("bert", "BertForTokenClassification") || (model_type.is_none() && archs.is_empty()) {
        Ok(Family::Bert)
    } else {
        bail!(
            "{}: model_type {:?} / architectures {:?} are not supported for token classification (supported: BertForTokenClassification, DebertaV2ForTokenClassification)",
            path.display(),
            model_type.unwrap_or("(none)"),
            archs
        )
    }
}

impl TokenClassifier {
    /// Loads a token classifier from a model directory; `name` is how the user named it (hub
    /// id or path). The label map is maskner's builtin one for that hub id, if any; otherwise
    /// every label is unmapped (warned). Taxonomy: jan2022.
    pub fn load(name: &str, dir: &Path) -> anyhow::Result<Self> {
        Self::load_with(name, dir, &LoadOptions::default())
    }

    /// [`load`](Self::load) with an explicit label map file and/or taxonomy. Warnings (unmapped
    /// labels, map entries naming no label) are printed on stderr and kept in
    /// [`warnings`](Self::warnings).
    pub fn load_with(name: &str, dir: &Path, opts: &LoadOptions) -> anyhow::Result<Self> {
        let device = Device::Cpu;
        let cfg_path = dir.join("config.json");
        let cfg_json = read_json(&cfg_path)?;
        let family = detect_family(&cfg_json, &cfg_path)?;
        let id2label = read_id2label(&cfg_json, &cfg_path)?;
        let settings = read_tokenizer_settings(dir)?;
        let (backend, tokenizer, vocab_size, max_pos) = match family {
            Family::Bert => {
                let cfg = BertConfig::from_file(&cfg_path)?;
                let wp = WordPieceTokenizer::from_dir(dir, cfg.do_lower_case)?;
                let tokenizer = wp.inner().clone();
                let b = bert::BertTokenClassifier::load(dir, &cfg, id2label.len(), &device)?;
                (Backend::Bert(b), tokenizer, cfg.vocab_size, cfg.max_position_embeddings)
            }
            Family::DebertaV2 => {
                let cfg = deberta::DebertaV2Config::from_file(&cfg_path)?;
                let tokenizer = deberta_tokenizer(dir, &settings)?;
                let d = deberta::DebertaTokenClassifier::load(dir, &cfg, id2label.len(), &device)?;
                (Backend::Deberta(d), tokenizer, cfg.vocab_size, cfg.max_position_embeddings)
            }
        };
        let tok_vocab = tokenizer.get_vocab_size(true);
        if tok_vocab > vocab_size {
            bail!("{}: vocab mismatch: the tokenizer has {tok_vocab} tokens but config.json says vocab_size {vocab_size}", dir.display());
        }
        let id = |key: &str, default: &str| -> anyhow::Result<u32> {
            let t = settings.special(key, default);
            tokenizer.token_to_id(&t).ok_or_else(|| anyhow!("{}: the vocabulary has no {t} token", dir.display()))
        };
        let (cls, sep) = (id("cls_token", "[CLS]")?, id("sep_token", "[SEP]")?);
        let unk = tokenizer.token_to_id(&settings.special("unk_token", "[UNK]"));
        let max_len = settings.model_max_length.map_or(max_pos, |m| m.min(max_pos));
        if max_len < 3 {
            bail!("{}: maximum sequence length {max_len} leaves no room for text", dir.display());
        }
        let word_aware = match tokenizer.get_model() {
            ModelWrapper::WordPiece(wp) => !wp.continuing_subword_prefix.is_empty(),
            ModelWrapper::BPE(bpe) => bpe.continuing_subword_prefix.as_deref().is_some_and(|p| !p.is_empty()),
            _ => false,
        };
        let (label_map, source_note) = match &opts.labels {
            Some(path) => (LabelMap::from_file(path, &id2label, &opts.taxonomy)?, None),
            None => match labels::builtin(name) {
                Some((path, text)) => (LabelMap::parse(path, text, &id2label, &opts.taxonomy)?, None),
                None => (
                    LabelMap::empty(&id2label),
                    Some(format!(
                        "{name}: no label map (maskner ships maps for {}; give one with a labels file)",
                        "fran-martinez/scibert_scivocab_cased_ner_jnlpba, venkatd/BIOMed_NER"
                    )),
                ),
            },
        };
        let mut warnings: Vec<String> = source_note.into_iter().collect();
        warnings.extend(label_map.warnings());
        let content = max_len - 2;
        let stride = DEFAULT_STRIDE.min(content / 2);
        Ok(Self {
            name: name.to_string(),
            dir: dir.to_path_buf(),
            family,
            backend,
            tokenizer,
            id2label,
            label_map,
            max_len,
            stride,
            cls,
            sep,
            unk,
            word_aware,
            warnings,
            token_budget: DEFAULT_TOKEN_BUDGET,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn family(&self) -> Family {
        self.family
    }

    /// The model's labels in id order (`id2label`).
    pub fn labels(&self) -> &[String] {
        &self.id2label
    }

    pub fn label_map(&self) -> &LabelMap {
        &self.label_map
    }

    /// Load-time warnings (also printed on stderr when loading).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The tokenizer (tokenizers crate).
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Window length in tokens, `[CLS]` and `[SEP]` included.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Tokens shared by consecutive windows.
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// Sets the window overlap; it must be below the window's text capacity (`max_len() - 2`).
    pub fn set_stride(&mut self, stride: usize) -> anyhow::Result<()> {
        let content = self.max_len - 2;
        if stride >= content {
            bail!("stride {stride} must be less than the {content} text tokens of a window ({} with [CLS]/[SEP])", self.max_len);
        }
        self.stride = stride;
        Ok(())
    }

    pub fn set_token_budget(&mut self, budget: usize) {
        self.token_budget = budget.max(1);
    }

    /// The windows of a text (one if it fits; see the module documentation).
    pub fn windows(&self, text: &str) -> anyhow::Result<Vec<Window>> {
        let enc = self.tokenizer.encode_char_offsets(text, false).map_err(|e| anyhow!("{}: cannot tokenize {text:?}: {e}", self.name))?;
        let ids = enc.get_ids();
        let n = ids.len();
        let content = self.max_len - 2;
        let mut ranges = Vec::new();
        if n <= content {
            ranges.push((0, n));
        } else {
            let step = content - self.stride; // > 0: set_stride keeps stride < content
            let mut start = 0;
            loop {
                let stop = (start + content).min(n);
                ranges.push((start, stop));
                if stop == n {
                    break;
                }
                start += step;
            }
        }
        let token_of = |i: usize| -> String { self.tokenizer.id_to_token(ids[i]).unwrap_or_else(|| enc.get_tokens()[i].clone()) };
        let cls_tok = self.tokenizer.id_to_token(self.cls).unwrap_or_default();
        let sep_tok = self.tokenizer.id_to_token(self.sep).unwrap_or_default();
        Ok(ranges
            .into_iter()
            .map(|(s, e)| {
                let mut w = Window {
                    ids: vec![self.cls],
                    tokens: vec![cls_tok.clone()],
                    offsets: vec![(0, 0)],
                    special: vec![true],
                    range: (s, e),
                };
                for (i, &id) in ids.iter().enumerate().take(e).skip(s) {
                    w.ids.push(id);
                    w.tokens.push(token_of(i));
                    w.offsets.push(enc.get_offsets()[i]);
                    w.special.push(enc.get_special_tokens_mask()[i] != 0);
                }
                w.ids.push(self.sep);
                w.tokens.push(sep_tok.clone());
                w.offsets.push((0, 0));
                w.special.push(true);
                w
            })
            .collect())
    }

    /// Logits `[window][token][label]` of windows (packed up to the token budget).
    pub fn logits(&self, windows: &[Window]) -> anyhow::Result<Vec<Vec<Vec<f32>>>> {
        let mut out = Vec::with_capacity(windows.len());
        let mut start = 0;
        while start < windows.len() {
            let mut end = start;
            let mut tokens = 0;
            while end < windows.len() && (end == start || tokens + windows[end].ids.len() <= self.token_budget) {
                tokens += windows[end].ids.len();
                end += 1;
            }
            let chunk = &windows[start..end];
            let ids: Vec<u32> = chunk.iter().flat_map(|w| w.ids.iter().copied()).collect();
            let lens: Vec<usize> = chunk.iter().map(|w| w.ids.len()).collect();
            let logits = match &self.backend {
                Backend::Bert(b) => b.logits(&ids, &lens),
                Backend::Deberta(d) => d.logits(&ids, &lens),
            }
            .with_context(|| format!("{}: inference failed", self.name))?;
            let rows: Vec<Vec<f32>> = logits.to_vec2()?;
            let mut rows = rows.into_iter();
            for len in lens {
                out.push(rows.by_ref().take(len).collect());
            }
            start = end;
        }
        Ok(out)
    }

    fn decode(&self, tokens: Vec<String>) -> String {
        match self.tokenizer.get_decoder() {
            Some(d) => {
                let fallback = tokens.join(" ");
                d.decode(tokens).unwrap_or(fallback)
            }
            None => tokens.join(" "),
        }
    }

    /// The entities of a text, as `pipeline("token-classification", aggregation_strategy=...)`
    /// returns them (with `stride=` [`stride`](Self::stride) when the text needs several windows).
    pub fn classify(&self, text: &str, strategy: Aggregation) -> anyhow::Result<Vec<EntitySpan>> {
        let windows = self.windows(text)?;
        let logits = self.logits(&windows)?;
        let chars: Vec<char> = text.chars().collect();
        let decode = |t: Vec<String>| self.decode(t);
        let ctx =
            entities::Context { text: &chars, id2label: &self.id2label, unk_id: self.unk, word_aware: self.word_aware, decode: &decode };
        let views: Vec<entities::WindowView> = windows
            .iter()
            .zip(&logits)
            .map(|(w, l)| entities::WindowView { ids: &w.ids, tokens: &w.tokens, offsets: &w.offsets, special: &w.special, logits: l })
            .collect();
        Ok(entities::postprocess(&ctx, &views, strategy))
    }

    /// Every (non-special) token of a text with its label probabilities; for tokens in several
    /// windows, the window where the token is farthest from an edge.
    pub fn token_scores(&self, text: &str) -> anyhow::Result<Vec<ScoredToken>> {
        let windows = self.windows(text)?;
        let logits = self.logits(&windows)?;
        let n = windows.last().map_or(0, |w| w.range.1);
        let mut out = Vec::with_capacity(n);
        for t in 0..n {
            // (window, margin): the first window with the largest distance to an edge
            let mut best: Option<(usize, usize)> = None;
            for (k, w) in windows.iter().enumerate() {
                let (s, e) = w.range;
                if s <= t && t < e {
                    let margin = (t - s).min(e - 1 - t);
                    if best.is_none_or(|(_, m)| margin > m) {
                        best = Some((k, margin));
                    }
                }
            }
            let Some((k, _)) = best else { continue };
            let w = &windows[k];
            let pos = t - w.range.0 + 1;
            if w.special[pos] {
                continue;
            }
            out.push(ScoredToken {
                token: w.tokens[pos].clone(),
                start: w.offsets[pos].0,
                end: w.offsets[pos].1,
                probs: softmax(&logits[k][pos]),
            });
        }
        Ok(out)
    }

    /// The member's vote for the character span `[start, end)` of a text: the label
    /// probabilities averaged over the tokens overlapping the span, folded into our groups by
    /// the label map. `None` if no token overlaps the span.
    pub fn group_distribution(&self, text: &str, start: usize, end: usize) -> anyhow::Result<Option<GroupDistribution>> {
        let len = text.chars().count();
        if start > end || end > len {
            bail!("span [{start}, {end}) is not inside the text ({len} characters)");
        }
        let tokens = self.token_scores(text)?;
        Ok(span_distribution(&tokens, start, end, &self.label_map))
    }

    /// Where an entity's group goes in our taxonomy (`None`: unmapped).
    pub fn target_of(&self, span: &EntitySpan) -> Option<&Target> {
        self.label_map.target(&span.entity_group)
    }
}

/// The group distribution of the character span `[start, end)` from already scored tokens:
/// the label probabilities of the tokens overlapping the span, averaged, then folded by `map`.
/// `None` if no token overlaps the span.
pub fn span_distribution(tokens: &[ScoredToken], start: usize, end: usize, map: &LabelMap) -> Option<GroupDistribution> {
    let chosen: Vec<&ScoredToken> = tokens.iter().filter(|t| t.end > t.start && t.start < end && t.end > start).collect();
    let first = chosen.first()?;
    let mut avg = vec![0.0f32; first.probs.len()];
    for t in &chosen {
        for (a, p) in avg.iter_mut().zip(&t.probs) {
            *a += p;
        }
    }
    let n = chosen.len() as f32;
    avg.iter_mut().for_each(|a| *a /= n);
    Some(map.fold(&avg, chosen.len()))
}

/// DeBERTa tokenizer: `tokenizer.json`, else converted from `spm.model`.
fn deberta_tokenizer(dir: &Path, settings: &TokenizerSettings) -> anyhow::Result<Tokenizer> {
    let tok_json = dir.join("tokenizer.json");
    let spm_model = dir.join("spm.model");
    let how = format!(
        "tokenizer.json is required; write it once with python: `from transformers import AutoTokenizer; AutoTokenizer.from_pretrained(\"{0}\").save_pretrained(\"{0}\")`",
        dir.display()
    );
    let mut t = if tok_json.is_file() {
        Tokenizer::from_file(&tok_json).map_err(|e| anyhow!("{}: not a valid tokenizer file ({e})", tok_json.display()))?
    } else if spm_model.is_file() {
        let opts = spm::SpmOptions {
            do_lower_case: settings.do_lower_case.unwrap_or(false),
            split_by_punct: settings.split_by_punct.unwrap_or(false),
            add_prefix_space: settings.add_prefix_space.unwrap_or(true),
            cls: settings.special("cls_token", "[CLS]"),
            sep: settings.special("sep_token", "[SEP]"),
            pad: settings.special("pad_token", "[PAD]"),
            unk: settings.special("unk_token", "[UNK]"),
            mask: settings.special("mask_token", "[MASK]"),
        };
        spm::tokenizer_from_spm(&spm_model, &opts).map_err(|e| anyhow!("{e}; {how}"))?
    } else {
        bail!("{}: no tokenizer (expected tokenizer.json or spm.model); {how}", dir.display());
    };
    t.with_padding(None);
    t.with_truncation(None).map_err(|e| anyhow!("{}: {e}", tok_json.display()))?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scored(start: usize, end: usize, probs: &[f32]) -> ScoredToken {
        ScoredToken { token: String::new(), start, end, probs: probs.to_vec() }
    }

    #[test]
    fn span_distribution_averages_overlapping_tokens() {
        let labels: Vec<String> =
            ["O", "B-protein", "I-protein", "B-DNA", "I-DNA", "B-odd", "I-odd"].iter().map(|s| s.to_string()).collect();
        let map =
            LabelMap::parse("t", "protein GENE[PROTEIN]\nDNA GENE[NUCLEOTIDE_SEQUENCE]\nO -\n", &labels, &Taxonomy::jan2022()).unwrap();
        assert_eq!(map.unmapped, ["odd"]);
        let toks = [
            scored(0, 3, &[0.1, 0.6, 0.1, 0.1, 0.0, 0.1, 0.0]),
            scored(3, 5, &[0.3, 0.0, 0.3, 0.2, 0.0, 0.0, 0.2]),
            scored(6, 9, &[1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
        ];
        let d = span_distribution(&toks, 0, 5, &map).unwrap();
        assert_eq!(d.tokens, 2);
        assert!((d.prob("GENE") - 0.65).abs() < 1e-6);
        assert!((d.outside - 0.2).abs() < 1e-6);
        assert!((d.unmapped - 0.15).abs() < 1e-6);
        assert_eq!(d.tags[0].tag.to_string(), "GENE[PROTEIN]");
        assert!((d.tags[0].prob - 0.5).abs() < 1e-6);
        let shares = d.entity_shares();
        assert!((shares[0].prob - 1.0).abs() < 1e-6);
        assert!(span_distribution(&toks, 5, 6, &map).is_none(), "the gap between tokens");
        assert_eq!(span_distribution(&toks, 4, 7, &map).unwrap().tokens, 2);
    }
}
