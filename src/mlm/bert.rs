//! BERT encoder and masked-LM head on candle, run on *packed* sequences.
//!
//! The module tree mirrors the checkpoint (`bert.embeddings`, `bert.encoder.layer.N`,
//! `cls.predictions`), like candle-transformers' model files, but the forward pass differs in
//! two ways that matter for speed: sequences of a batch are concatenated into one
//! `[tokens, hidden]` matrix (no padding, so no work on pad tokens and no attention mask), and
//! the vocabulary projection runs only on the rows that are read. Attention is computed per
//! sequence, which is cheap next to the linear layers for sentence-length inputs. Inside the
//! encoder the hidden states stay plain row-major vectors run through the fused kernels of
//! [`crate::nn::kernels`] (bias in the product, GELU in place, residual and LayerNorm in one
//! pass).
//!
//! Because every row of the packed matrix is transformed independently (linear layers,
//! LayerNorm) and attention never looks across sequences, a sequence's outputs do not depend on
//! what else is in its batch — bit for bit, provided the matrix multiplication sums in the same
//! order for every height. The `gemm` crate picks its kernel by shape: a dot-product kernel when
//! `rows × cols <= 256` and a vector kernel for one row, each summing in another order than
//! the blocked kernel used otherwise (whose order depends only on the inner dimension). So every
//! product whose height varies with the batch is given at least [`MIN_ROWS`] rows (padding
//! with a throw-away sequence or repeated rows), which keeps it on the blocked kernel.

use super::config::BertConfig;
use super::weights::Weights;
use crate::nn::{LayerNorm, Linear, Threads, kernels};
use candle_core::{DType, Device, Tensor};

/// Minimum height of the packed matrices; see the module documentation.
pub const MIN_ROWS: usize = 16;

struct Layer {
    /// Query, key and value projections fused into one `[3*hidden, hidden]` matrix.
    qkv: Linear,
    attn_out: Linear,
    attn_ln: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_ln: LayerNorm,
}

impl Layer {
    fn load(w: &Weights, prefix: &str, cfg: &BertConfig) -> anyhow::Result<Self> {
        let h = cfg.hidden_size;
        let q = Linear::load(w, &format!("{prefix}.attention.self.query"), h, h)?;
        let k = Linear::load(w, &format!("{prefix}.attention.self.key"), h, h)?;
        let v = Linear::load(w, &format!("{prefix}.attention.self.value"), h, h)?;
        let qkv = Linear::stack(&[&q, &k, &v])?;
        Ok(Self {
            qkv,
            attn_out: Linear::load(w, &format!("{prefix}.attention.output.dense"), h, h)?,
            attn_ln: LayerNorm::load(w, &format!("{prefix}.attention.output.LayerNorm"), h, cfg.layer_norm_eps)?,
            intermediate: Linear::load(w, &format!("{prefix}.intermediate.dense"), h, cfg.intermediate_size)?,
            output: Linear::load(w, &format!("{prefix}.output.dense"), cfg.intermediate_size, h)?,
            output_ln: LayerNorm::load(w, &format!("{prefix}.output.LayerNorm"), h, cfg.layer_norm_eps)?,
        })
    }

    fn prepare(self) -> anyhow::Result<Self> {
        Ok(Self {
            qkv: self.qkv.prepare()?,
            attn_out: self.attn_out.prepare()?,
            intermediate: self.intermediate.prepare()?,
            output: self.output.prepare()?,
            ..self
        })
    }

    /// `x`: packed `[tokens, hidden]` (row-major); `lens`: the length of each sequence in
    /// order.
    fn forward(&self, x: &[f32], lens: &[usize], cfg: &BertConfig, threads: Threads) -> candle_core::Result<Vec<f32>> {
        let h = cfg.hidden_size;
        let qkv = self.qkv.forward_rows(x, h, None, threads)?;
        let ctx = kernels::attention(&qkv, lens, h, cfg.num_attention_heads, threads);
        drop(qkv);
        let mut attn = self.attn_out.forward_rows(&ctx, h, None, threads)?;
        self.attn_ln.forward_add_rows(&mut attn, x, threads);
        let inter = self.intermediate.forward_rows(&attn, h, Some(cfg.hidden_act), threads)?;
        let mut out = self.output.forward_rows(&inter, cfg.intermediate_size, None, threads)?;
        self.output_ln.forward_add_rows(&mut out, &attn, threads);
        Ok(out)
    }
}

/// `cls.predictions`: transform (dense, activation, LayerNorm) then the decoder tied to the
/// word embeddings, with its own bias.
struct MlmHead {
    dense: Linear,
    ln: LayerNorm,
    decoder: Linear,
}

/// A BERT encoder, with its masked-LM head when the checkpoint has one.
pub struct Bert {
    cfg: BertConfig,
    word_embeddings: Tensor,
    position_embeddings: Tensor,
    token_type_row: Tensor,
    emb_ln: LayerNorm,
    layers: Vec<Layer>,
    head: Option<MlmHead>,
    device: Device,
}

impl Bert {
    pub fn load(w: &Weights, cfg: &BertConfig, device: &Device) -> anyhow::Result<Self> {
        let h = cfg.hidden_size;
        let word_embeddings = w.get("bert.embeddings.word_embeddings.weight", &[cfg.vocab_size, h])?;
        let position_embeddings = w.get("bert.embeddings.position_embeddings.weight", &[cfg.max_position_embeddings, h])?;
        let token_type = w.get("bert.embeddings.token_type_embeddings.weight", &[cfg.type_vocab_size, h])?;
        let token_type_row = token_type.get(0)?;
        let emb_ln = LayerNorm::load(w, "bert.embeddings.LayerNorm", h, cfg.layer_norm_eps)?;
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| Layer::load(w, &format!("bert.encoder.layer.{i}"), cfg))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let head = if w.contains("cls.predictions.transform.dense.weight") {
            let decoder = if w.contains("cls.predictions.decoder.weight") {
                w.get("cls.predictions.decoder.weight", &[cfg.vocab_size, h])?
            } else {
                // tied to the input embeddings, so checkpoints usually omit it
                word_embeddings.clone()
            };
            let bias = if w.contains("cls.predictions.bias") {
                w.get("cls.predictions.bias", &[cfg.vocab_size])?
            } else {
                w.get("cls.predictions.decoder.bias", &[cfg.vocab_size])?
            };
            Some(MlmHead {
                dense: Linear::load(w, "cls.predictions.transform.dense", h, h)?,
                ln: LayerNorm::load(w, "cls.predictions.transform.LayerNorm", h, cfg.layer_norm_eps)?,
                // tied to the word embeddings: used in place, not transposed
                decoder: Linear::new(decoder, Some(bias))?,
            })
        } else {
            None
        };
        Ok(Self { cfg: cfg.clone(), word_embeddings, position_embeddings, token_type_row, emb_ln, layers, head, device: device.clone() })
    }

    /// Transposes the linear layers' weights for the fast kernels, one at a time. Call it
    /// after dropping the [`Weights`] the model was loaded from: each original then goes as its
    /// transposed copy comes, so loading never holds the weights twice.
    pub fn prepare(self) -> anyhow::Result<Self> {
        let layers = self.layers.into_iter().map(Layer::prepare).collect::<anyhow::Result<Vec<_>>>()?;
        let head = match self.head {
            Some(head) => Some(MlmHead { dense: head.dense.prepare()?, ..head }),
            None => None,
        };
        Ok(Self { layers, head, ..self })
    }

    pub fn config(&self) -> &BertConfig {
        &self.cfg
    }

    pub fn has_mlm_head(&self) -> bool {
        self.head.is_some()
    }

    /// The input word-embedding matrix `[vocab, hidden]` as held: f32, or bf16 under
    /// [`crate::nn::Precision::Bf16`].
    pub fn word_embeddings(&self) -> &Tensor {
        &self.word_embeddings
    }

    /// Last hidden states of packed sequences: `ids` is the concatenation, `lens` the lengths.
    pub fn encode(&self, ids: &[u32], lens: &[usize]) -> candle_core::Result<Tensor> {
        let total: usize = lens.iter().sum();
        let x = self.encode_rows(ids, lens, Threads::Pool)?;
        Tensor::from_vec(x, (total, self.cfg.hidden_size), &self.device)
    }

    /// [`Bert::encode`] as a row-major `[tokens, hidden]` vector, its kernels on `threads`.
    pub fn encode_rows(&self, ids: &[u32], lens: &[usize], threads: Threads) -> candle_core::Result<Vec<f32>> {
        let total: usize = lens.iter().sum();
        debug_assert_eq!(total, ids.len());
        if total < MIN_ROWS {
            // a throw-away sequence of padding keeps the products on the blocked kernel
            let mut ids = ids.to_vec();
            ids.resize(MIN_ROWS, self.cfg.pad_token_id);
            let mut lens = lens.to_vec();
            // in pieces the position table covers (models with fewer than 16 positions)
            let piece = self.cfg.max_position_embeddings.max(1);
            let mut rest = MIN_ROWS - total;
            while rest > 0 {
                lens.push(rest.min(piece));
                rest -= rest.min(piece);
            }
            let mut x = self.encode_rows(&ids, &lens, threads)?;
            x.truncate(total * self.cfg.hidden_size);
            return Ok(x);
        }
        let positions: Vec<u32> = lens.iter().flat_map(|&l| 0..l as u32).collect();
        let ids_t = Tensor::new(ids, &self.device)?;
        let pos_t = Tensor::new(positions.as_slice(), &self.device)?;
        let words = self.word_embeddings.index_select(&ids_t, 0)?;
        // bf16 word embeddings (`Precision::Bf16`) are widened row by row here
        let words = if words.dtype() == DType::F32 { words } else { words.to_dtype(DType::F32)? };
        let emb = words.broadcast_add(&self.token_type_row)?.add(&self.position_embeddings.index_select(&pos_t, 0)?)?;
        let mut x: Vec<f32> = emb.flatten_all()?.to_vec1()?;
        self.emb_ln.forward_rows(&mut x, threads);
        for layer in &self.layers {
            x = layer.forward(&x, lens, &self.cfg, threads)?;
        }
        Ok(x)
    }

    /// Vocabulary logits `[rows.len(), vocab]` for the given rows of packed hidden states.
    /// Errors if the checkpoint has no masked-LM head.
    pub fn mlm_logits(&self, hidden: &Tensor, rows: &[u32]) -> anyhow::Result<Tensor> {
        let hidden = hidden.contiguous()?;
        let logits = crate::nn::with_f32(&hidden, |h| self.mlm_logits_rows(h, rows, Threads::Pool))??;
        Ok(Tensor::from_vec(logits, (rows.len(), self.cfg.vocab_size), &self.device)?)
    }

    /// [`Bert::mlm_logits`] on row-major hidden states, as a row-major vector.
    pub fn mlm_logits_rows(&self, hidden: &[f32], rows: &[u32], threads: Threads) -> anyhow::Result<Vec<f32>> {
        let head = self.head.as_ref().ok_or_else(|| {
            anyhow::anyhow!("this checkpoint has no masked-LM head (cls.predictions.*); fill-mask needs a BertForMaskedLM model")
        })?;
        let h = self.cfg.hidden_size;
        let mut padded = rows.to_vec();
        if let Some(&first) = rows.first() {
            padded.resize(rows.len().max(MIN_ROWS), first);
        }
        let mut x = Vec::with_capacity(padded.len() * h);
        for &r in &padded {
            let r = r as usize;
            let row = hidden.get(r * h..(r + 1) * h).ok_or_else(|| anyhow::anyhow!("read row {r} is past the hidden states"))?;
            x.extend_from_slice(row);
        }
        let mut x = head.dense.forward_rows(&x, h, Some(self.cfg.hidden_act), threads)?;
        head.ln.forward_rows(&mut x, threads);
        let mut logits = head.decoder.forward_rows(&x, h, None, threads)?;
        logits.truncate(rows.len() * self.cfg.vocab_size);
        Ok(logits)
    }
}
