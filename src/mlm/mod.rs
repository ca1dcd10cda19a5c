//! Masked-language-model stage: load a BERT checkpoint and read vocabulary logits at chosen
//! positions (the `[MASK]`s and `[CLS]`) of batches of token-id sequences.

pub mod bert;
pub mod config;
pub mod pytorch;
pub mod rank;
pub mod tokenizer;
pub mod weights;

use anyhow::{Context, bail};
use candle_core::{Device, Tensor};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

pub use crate::nn::Precision;
use crate::nn::Threads;
pub use config::BertConfig;
pub use rank::{Logits, Prediction};
pub use tokenizer::{Encoded, WordPieceTokenizer};

/// Default number of word pieces run through the encoder at once, by the masked LMs here and
/// the token classifiers ([`crate::token_classify`] packs its windows up to this many). Large
/// enough that the matrix multiplications reach full speed, small enough that a layer's
/// activations stay in cache: on BERT-base, 1024 ran fill-mask 1.15-1.2x faster than 4096
/// (docs/benchmarks.md).
pub const DEFAULT_TOKEN_BUDGET: usize = 1024;

/// One sequence to run: token ids including `[CLS]`/`[SEP]`, and the positions whose
/// vocabulary logits are wanted.
#[derive(Debug, Clone)]
pub struct MlmInput {
    pub ids: Vec<u32>,
    pub reads: Vec<usize>,
}

/// A loaded masked LM: configuration, tokenizer and weights.
pub struct MaskedLm {
    name: String,
    dir: PathBuf,
    tokenizer: WordPieceTokenizer,
    bert: bert::Bert,
    token_budget: usize,
    precision: Precision,
}

impl MaskedLm {
    /// Loads a model from a directory holding `config.json`, weights and tokenizer files.
    /// `name` is how the user named it (hub id or path), kept for messages and outputs.
    pub fn load(name: &str, dir: &Path) -> anyhow::Result<Self> {
        Self::load_with(name, dir, Precision::Fp32)
    }

    /// [`MaskedLm::load`] with the weight matrices held at `precision`.
    pub fn load_with(name: &str, dir: &Path, precision: Precision) -> anyhow::Result<Self> {
        let device = Device::Cpu;
        let config = BertConfig::from_file(&dir.join("config.json"))?;
        let tokenizer = WordPieceTokenizer::from_dir(dir, config.do_lower_case)?;
        if tokenizer.vocab_size() > config.vocab_size {
            bail!(
                "{}: vocab mismatch: the tokenizer has {} tokens but config.json says vocab_size {}; the tokenizer files belong to another model (use the ones published with these weights)",
                dir.display(),
                tokenizer.vocab_size(),
                config.vocab_size
            );
        }
        let weights = weights::Weights::from_dir_with(dir, &device, precision)?;
        let bert = bert::Bert::load(&weights, &config, &device)?;
        drop(weights);
        let bert = bert.prepare()?;
        Ok(Self { name: name.to_string(), dir: dir.to_path_buf(), tokenizer, bert, token_budget: DEFAULT_TOKEN_BUDGET, precision })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn config(&self) -> &BertConfig {
        self.bert.config()
    }

    pub fn tokenizer(&self) -> &WordPieceTokenizer {
        &self.tokenizer
    }

    pub fn has_mlm_head(&self) -> bool {
        self.bert.has_mlm_head()
    }

    /// The longest sequence (in word pieces, with `[CLS]`/`[SEP]`) the model accepts.
    pub fn max_len(&self) -> usize {
        self.config().max_position_embeddings
    }

    pub fn set_token_budget(&mut self, budget: usize) {
        self.token_budget = budget.max(1);
    }

    /// How the weight matrices are held.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// The input word-embedding matrix `[vocab, hidden]` as held: f32, or bf16 under
    /// [`Precision::Bf16`].
    pub fn word_embeddings(&self) -> &Tensor {
        self.bert.word_embeddings()
    }

    /// The input word embeddings in full fp32 precision, which descriptor maps are built from
    /// whatever the model runs at: the held matrix, or under [`Precision::Bf16`] the
    /// checkpoint's, read again from its file (so a map built under bf16 equals the fp32 one).
    pub fn word_embeddings_f32(&self) -> anyhow::Result<Tensor> {
        if self.word_embeddings().dtype() == candle_core::DType::F32 {
            return Ok(self.word_embeddings().clone());
        }
        let weights = weights::Weights::from_dir(&self.dir, &Device::Cpu)?;
        let c = self.config();
        weights.get("bert.embeddings.word_embeddings.weight", &[c.vocab_size, c.hidden_size])
    }

    /// Logits at every requested position of every input, in input order
    /// (`result[i][j]` belongs to `inputs[i].reads[j]`).
    ///
    /// Inputs are packed into chunks of at most the token budget; a sequence's result does not
    /// depend on the chunk it lands in.
    pub fn predict(&self, inputs: &[MlmInput]) -> anyhow::Result<Vec<Vec<Logits>>> {
        self.validate(inputs)?;
        let vocab = self.config().vocab_size;
        // A checkpoint may have more embedding rows than its tokenizer has tokens (padded
        // vocabularies); rows without a token are never predictions.
        let known = self.tokenizer.vocab_size().min(vocab);
        let per_chunk = self.run_chunks(inputs, |chunk, threads| {
            let (ids, lens) = pack(chunk);
            let mut rows = Vec::new();
            let mut offset = 0u32;
            for inp in chunk {
                rows.extend(inp.reads.iter().map(|&r| offset + r as u32));
                offset += inp.ids.len() as u32;
            }
            if rows.is_empty() {
                return Ok(chunk.iter().map(|_| Vec::new()).collect());
            }
            let hidden = self.bert.encode_rows(&ids, &lens, threads)?;
            let logits = self.bert.mlm_logits_rows(&hidden, &rows, threads)?;
            let mut rows = logits.chunks_exact(vocab);
            Ok(chunk
                .iter()
                .map(|inp| inp.reads.iter().filter_map(|_| rows.next()).map(|r| Logits::new(r[..known].to_vec())).collect())
                .collect())
        })?;
        Ok(per_chunk.into_iter().flatten().collect())
    }

    /// Last hidden states `[len, hidden]` of each sequence (no masked-LM head needed).
    pub fn hidden_states(&self, seqs: &[Vec<u32>]) -> anyhow::Result<Vec<Tensor>> {
        let inputs: Vec<MlmInput> = seqs.iter().map(|ids| MlmInput { ids: ids.clone(), reads: vec![] }).collect();
        self.validate(&inputs)?;
        let h = self.config().hidden_size;
        let per_chunk = self.run_chunks(&inputs, |chunk, threads| {
            let (ids, lens) = pack(chunk);
            let hidden = self.bert.encode_rows(&ids, &lens, threads)?;
            let mut offset = 0;
            let mut out = Vec::with_capacity(lens.len());
            for len in lens {
                out.push(Tensor::from_slice(&hidden[offset * h..(offset + len) * h], (len, h), &Device::Cpu)?);
                offset += len;
            }
            Ok(out)
        })?;
        Ok(per_chunk.into_iter().flatten().collect())
    }

    /// Packs `inputs` into chunks by the token budget and runs `f` on each, results in chunk
    /// order. With two or more chunks (and threads), whole chunks run in parallel on
    /// single-threaded kernels: no synchronisation inside a forward pass, which on two cores
    /// beat spreading each product over both (docs/benchmarks.md). The chunk count is then
    /// rounded up to a multiple of the thread count so that no core idles at the end. Each
    /// sequence's result is the same either way.
    fn run_chunks<T: Send>(
        &self,
        inputs: &[MlmInput],
        f: impl Fn(&[MlmInput], Threads) -> anyhow::Result<Vec<T>> + Sync,
    ) -> anyhow::Result<Vec<Vec<T>>> {
        let threads = rayon::current_num_threads();
        let total: usize = inputs.iter().map(|i| i.ids.len()).sum();
        let n = total.div_ceil(self.token_budget);
        if n < 2 || threads < 2 {
            return chunks_by_budget(inputs, self.token_budget).into_iter().map(|c| f(c, Threads::Pool)).collect();
        }
        let budget = total.div_ceil(n.div_ceil(threads) * threads);
        chunks_by_budget(inputs, budget).par_iter().map(|c| f(c, Threads::One)).collect()
    }

    fn validate(&self, inputs: &[MlmInput]) -> anyhow::Result<()> {
        let vocab = self.config().vocab_size as u32;
        for (i, inp) in inputs.iter().enumerate() {
            if inp.ids.is_empty() {
                bail!("input {}: empty token sequence", i + 1);
            }
            if inp.ids.len() > self.max_len() {
                bail!(
                    "input {}: {} word pieces, more than the model's maximum of {} (split the text into shorter pieces)",
                    i + 1,
                    inp.ids.len(),
                    self.max_len()
                );
            }
            if let Some(bad) = inp.ids.iter().find(|&&id| id >= vocab) {
                bail!("input {}: token id {bad} is outside the vocabulary ({vocab} tokens)", i + 1);
            }
            if let Some(bad) = inp.reads.iter().find(|&&r| r >= inp.ids.len()) {
                bail!("input {}: read position {bad} is past the end of the sequence", i + 1);
            }
        }
        if inputs.iter().any(|i| !i.reads.is_empty()) && !self.has_mlm_head() {
            bail!("{}: this checkpoint has no masked-LM head (cls.predictions.*); use a BertForMaskedLM model", self.dir.display());
        }
        Ok(())
    }
}

/// Consecutive runs of inputs whose total length stays within `budget` (a longer single input
/// forms its own chunk).
fn chunks_by_budget(inputs: &[MlmInput], budget: usize) -> Vec<&[MlmInput]> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut tokens = 0;
    for (i, inp) in inputs.iter().enumerate() {
        if i > start && tokens + inp.ids.len() > budget {
            chunks.push(&inputs[start..i]);
            start = i;
            tokens = 0;
        }
        tokens += inp.ids.len();
    }
    if start < inputs.len() {
        chunks.push(&inputs[start..]);
    }
    chunks
}

fn pack(chunk: &[MlmInput]) -> (Vec<u32>, Vec<usize>) {
    let ids = chunk.iter().flat_map(|i| i.ids.iter().copied()).collect();
    let lens = chunk.iter().map(|i| i.ids.len()).collect();
    (ids, lens)
}

/// Loads a model by hub id or local directory (see [`crate::hub::resolve`]).
pub fn load_model(spec: &str) -> anyhow::Result<MaskedLm> {
    load_model_with(spec, Precision::Fp32)
}

/// [`load_model`] with the weight matrices held at `precision`.
pub fn load_model_with(spec: &str, precision: Precision) -> anyhow::Result<MaskedLm> {
    let dir = crate::hub::resolve(spec)?;
    MaskedLm::load_with(spec, &dir, precision).with_context(|| format!("loading model {spec}"))
}
