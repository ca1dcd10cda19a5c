//! `DebertaV2ForTokenClassification` (DeBERTa-v2 and -v3) on candle, in the plain-struct
//! style of [`crate::mlm::bert`], run on packed sequences (attention per sequence).
//!
//! candle-transformers 0.11 ships a `debertav2` model, but its token-classification head has no
//! bias (transformers' has one), so its logits differ; this is a separate implementation that
//! follows `transformers.models.deberta_v2.modeling_deberta_v2` (5.x) operation by operation:
//! disentangled attention with content->position (`c2p`) and position->content (`p2c`) terms,
//! log-bucketed relative positions computed in f32 as torch does, relative embeddings
//! layer-normed once per forward (`norm_rel_ebd = "layer_norm"`), shared or separate position
//! projections (`share_att_key`), optional absolute positions / token types / embedding
//! projection. Not supported (clear error): the convolution layer of DeBERTa-v2 xlarge/xxlarge
//! (`conv_kernel_size`) and `attention_head_size * heads != hidden_size`.

use std::path::Path;

use anyhow::{anyhow, bail};
use candle_core::{Device, Tensor};
use serde::Deserialize;

use crate::mlm::config::Activation;
use crate::mlm::weights::Weights;
use crate::nn::{LayerNorm, Linear, activate};

/// The fields of a DeBERTa-v2 `config.json` inference needs; defaults are transformers'.
#[derive(Debug, Clone, Deserialize)]
pub struct DebertaV2Config {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    #[serde(default = "default_act")]
    pub hidden_act: Activation,
    #[serde(default = "default_max_pos")]
    pub max_position_embeddings: usize,
    #[serde(default)]
    pub type_vocab_size: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub relative_attention: bool,
    #[serde(default = "minus_one")]
    pub max_relative_positions: i64,
    #[serde(default = "minus_one")]
    pub position_buckets: i64,
    #[serde(default = "yes")]
    pub position_biased_input: bool,
    #[serde(default, deserialize_with = "pos_att_type")]
    pub pos_att_type: Vec<String>,
    #[serde(default)]
    pub share_att_key: bool,
    #[serde(default)]
    pub attention_head_size: Option<usize>,
    #[serde(default)]
    pub embedding_size: Option<usize>,
    #[serde(default)]
    pub norm_rel_ebd: Option<String>,
    #[serde(default)]
    pub conv_kernel_size: Option<usize>,
    #[serde(default)]
    pub model_type: Option<String>,
}

fn default_act() -> Activation {
    Activation::Gelu
}
fn default_max_pos() -> usize {
    512
}
fn default_eps() -> f64 {
    1e-7
}
fn minus_one() -> i64 {
    -1
}
fn yes() -> bool {
    true
}

/// `"p2c|c2p"`, `["p2c", "c2p"]` or null.
fn pos_att_type<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum V {
        S(String),
        L(Vec<String>),
    }
    Ok(match Option::<V>::deserialize(d)? {
        None => Vec::new(),
        Some(V::S(s)) => s.to_lowercase().split('|').map(|x| x.trim().to_string()).collect(),
        Some(V::L(l)) => l,
    })
}

impl DebertaV2Config {
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let bytes = crate::mlm::config::read_config_bytes(path)?;
        Self::from_slice(&bytes).map_err(|e| anyhow!("{}: {e}", path.display()))
    }

    /// Parses and checks the bytes of a `config.json` (what [`Self::from_file`] read).
    pub fn from_slice(bytes: &[u8]) -> anyhow::Result<Self> {
        let cfg: Self = serde_json::from_slice(bytes).map_err(|e| anyhow!("not a valid DeBERTa-v2 config: {e}"))?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> anyhow::Result<()> {
        if let Some(t) = &self.model_type
            && t != "deberta-v2"
        {
            bail!("model_type is \"{t}\", expected \"deberta-v2\"");
        }
        if self.num_attention_heads == 0 || !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            bail!("hidden_size {} is not divisible by num_attention_heads {}", self.hidden_size, self.num_attention_heads);
        }
        if self.head_dim().checked_mul(self.num_attention_heads) != Some(self.hidden_size) {
            bail!("attention_head_size * num_attention_heads must equal hidden_size (other layouts are not supported)");
        }
        if self.conv_kernel_size.unwrap_or(0) > 0 {
            bail!("conv_kernel_size > 0 (the DeBERTa-v2 xlarge/xxlarge convolution layer) is not supported");
        }
        if let Some(bad) = self.pos_att_type.iter().find(|t| *t != "c2p" && *t != "p2c") {
            bail!("pos_att_type \"{bad}\" is not supported (only c2p and p2c)");
        }
        if self.vocab_size == 0 || self.num_hidden_layers == 0 {
            bail!("vocab_size and num_hidden_layers must be positive");
        }
        use crate::mlm::config as c;
        c::check_sizes(&[
            ("vocab_size", self.vocab_size, c::MAX_VOCAB),
            ("hidden_size", self.hidden_size, c::MAX_WIDTH),
            ("intermediate_size", self.intermediate_size, c::MAX_WIDTH),
            ("embedding_size", self.embedding_size.unwrap_or(0), c::MAX_WIDTH),
            ("num_hidden_layers", self.num_hidden_layers, c::MAX_LAYERS),
            ("num_attention_heads", self.num_attention_heads, c::MAX_HEADS),
            ("max_position_embeddings", self.max_position_embeddings, c::MAX_POSITIONS),
            ("type_vocab_size", self.type_vocab_size, c::MAX_TYPE_VOCAB),
            ("max_relative_positions", self.max_relative_positions.max(0) as usize, c::MAX_POSITIONS),
            ("position_buckets", self.position_buckets.max(0) as usize, c::MAX_POSITIONS),
        ])?;
        if self.relative_attention && self.att_span() < 1 {
            bail!("the relative attention span is empty (max_relative_positions and max_position_embeddings both below 1)");
        }
        c::check_eps(self.layer_norm_eps)?;
        Ok(())
    }

    pub fn head_dim(&self) -> usize {
        self.attention_head_size.unwrap_or(self.hidden_size / self.num_attention_heads.max(1))
    }

    /// `max_relative_positions`, or `max_position_embeddings` when it is below 1.
    pub fn max_relative(&self) -> i64 {
        if self.max_relative_positions < 1 { self.max_position_embeddings as i64 } else { self.max_relative_positions }
    }

    /// The attention span `S`: relative embeddings have `2S` rows.
    pub fn att_span(&self) -> i64 {
        if self.position_buckets > 0 { self.position_buckets } else { self.max_relative() }
    }

    fn has(&self, t: &str) -> bool {
        self.pos_att_type.iter().any(|x| x == t)
    }

    fn norm_rel(&self) -> bool {
        self.norm_rel_ebd.as_deref().unwrap_or("none").to_lowercase().split('|').any(|x| x.trim() == "layer_norm")
    }
}

/// transformers' `make_log_bucket_position` for one relative position, in f32 like torch.
pub fn log_bucket_position(rel: i64, bucket_size: i64, max_position: i64) -> i64 {
    let mid = bucket_size / 2;
    let abs_pos = if rel < mid && rel > -mid { mid - 1 } else { rel.abs() };
    if abs_pos <= mid {
        return rel;
    }
    // torch.tensor((max_position - 1) / mid): a Python float, stored as float32
    let denom = (((max_position - 1) as f64 / mid as f64) as f32).ln();
    let log_pos = ((abs_pos as f32 / mid as f32).ln() / denom * (mid - 1) as f32).ceil() + mid as f32;
    (log_pos * rel.signum() as f32) as i64
}

/// Relative position of query `i` to key `j` (`i - j`), bucketed when the config says so.
fn relative_position(i: usize, j: usize, cfg: &DebertaV2Config) -> i64 {
    let rel = i as i64 - j as i64;
    let max_pos = cfg.max_relative();
    if cfg.position_buckets > 0 && max_pos > 0 { log_bucket_position(rel, cfg.position_buckets, max_pos) } else { rel }
}

struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    pos_key: Option<Linear>,
    pos_query: Option<Linear>,
    attn_out: Linear,
    attn_ln: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_ln: LayerNorm,
}

pub struct DebertaTokenClassifier {
    cfg: DebertaV2Config,
    word_embeddings: Tensor,
    position_embeddings: Option<Tensor>,
    token_type_row: Option<Tensor>,
    embed_proj: Option<Linear>,
    emb_ln: LayerNorm,
    /// `[2S, hidden]`, layer-normed when `norm_rel_ebd` says so.
    rel_embeddings: Option<Tensor>,
    layers: Vec<Layer>,
    classifier: Linear,
    device: Device,
}

impl DebertaTokenClassifier {
    pub fn load(dir: &Path, cfg: &DebertaV2Config, num_labels: usize, device: &Device) -> anyhow::Result<Self> {
        let w = Weights::from_dir(dir, device)?;
        let h = cfg.hidden_size;
        let e = cfg.embedding_size.unwrap_or(h);
        let p = "deberta";
        if !w.contains(&format!("{p}.embeddings.word_embeddings.weight")) {
            bail!("{}: no deberta.embeddings.word_embeddings.weight: not a DeBERTa-v2 checkpoint", w.source().display());
        }
        let word_embeddings = w.get(&format!("{p}.embeddings.word_embeddings.weight"), &[cfg.vocab_size, e])?;
        let position_embeddings = if cfg.position_biased_input {
            Some(w.get(&format!("{p}.embeddings.position_embeddings.weight"), &[cfg.max_position_embeddings, e])?)
        } else {
            None
        };
        let token_type_row = if cfg.type_vocab_size > 0 {
            Some(w.get(&format!("{p}.embeddings.token_type_embeddings.weight"), &[cfg.type_vocab_size, e])?.get(0)?)
        } else {
            None
        };
        let embed_proj = if e != h { Some(Linear::load_no_bias(&w, &format!("{p}.embeddings.embed_proj"), e, h)?) } else { None };
        let emb_ln = LayerNorm::load(&w, &format!("{p}.embeddings.LayerNorm"), h, cfg.layer_norm_eps)?;
        let rel_embeddings = if cfg.relative_attention {
            let rows = 2 * cfg.att_span() as usize;
            let rel = w.get(&format!("{p}.encoder.rel_embeddings.weight"), &[rows, h])?;
            if cfg.norm_rel() {
                Some(LayerNorm::load(&w, &format!("{p}.encoder.LayerNorm"), h, cfg.layer_norm_eps)?.forward(&rel)?)
            } else {
                Some(rel)
            }
        } else {
            None
        };
        let separate = cfg.relative_attention && !cfg.share_att_key;
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| -> anyhow::Result<Layer> {
                let l = format!("{p}.encoder.layer.{i}");
                let a = format!("{l}.attention.self");
                Ok(Layer {
                    query: Linear::load(&w, &format!("{a}.query_proj"), h, h)?,
                    key: Linear::load(&w, &format!("{a}.key_proj"), h, h)?,
                    value: Linear::load(&w, &format!("{a}.value_proj"), h, h)?,
                    pos_key: if separate && cfg.has("c2p") { Some(Linear::load(&w, &format!("{a}.pos_key_proj"), h, h)?) } else { None },
                    pos_query: if separate && cfg.has("p2c") {
                        Some(Linear::load(&w, &format!("{a}.pos_query_proj"), h, h)?)
                    } else {
                        None
                    },
                    attn_out: Linear::load(&w, &format!("{l}.attention.output.dense"), h, h)?,
                    attn_ln: LayerNorm::load(&w, &format!("{l}.attention.output.LayerNorm"), h, cfg.layer_norm_eps)?,
                    intermediate: Linear::load(&w, &format!("{l}.intermediate.dense"), h, cfg.intermediate_size)?,
                    output: Linear::load(&w, &format!("{l}.output.dense"), cfg.intermediate_size, h)?,
                    output_ln: LayerNorm::load(&w, &format!("{l}.output.LayerNorm"), h, cfg.layer_norm_eps)?,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        if !w.contains("classifier.weight") {
            bail!("{}: no classifier.weight: not a DebertaV2ForTokenClassification checkpoint", w.source().display());
        }
        let classifier = Linear::load(&w, "classifier", h, num_labels)?;
        Ok(Self {
            cfg: cfg.clone(),
            word_embeddings,
            position_embeddings,
            token_type_row,
            embed_proj,
            emb_ln,
            rel_embeddings,
            layers,
            classifier,
            device: device.clone(),
        })
    }

    pub fn config(&self) -> &DebertaV2Config {
        &self.cfg
    }

    /// Logits `[total tokens, labels]` of packed sequences (`ids` concatenated, `lens`).
    pub fn logits(&self, ids: &[u32], lens: &[usize]) -> candle_core::Result<Tensor> {
        let ids_t = Tensor::new(ids, &self.device)?;
        let mut emb = self.word_embeddings.index_select(&ids_t, 0)?;
        if let Some(pe) = &self.position_embeddings {
            let positions: Vec<u32> = lens.iter().flat_map(|&l| 0..l as u32).collect();
            let pos_t = Tensor::new(positions.as_slice(), &self.device)?;
            emb = (emb + pe.index_select(&pos_t, 0)?)?;
        }
        if let Some(tt) = &self.token_type_row {
            emb = emb.broadcast_add(tt)?;
        }
        if let Some(proj) = &self.embed_proj {
            emb = proj.forward(&emb)?;
        }
        let mut x = self.emb_ln.forward(&emb)?;
        // relative position indices per distinct sequence length
        let mut index_cache: Vec<(usize, Option<Tensor>, Option<Tensor>)> = Vec::new();
        for &len in lens {
            if !index_cache.iter().any(|(l, _, _)| *l == len) {
                let (c2p, p2c) = self.gather_indices(len)?;
                index_cache.push((len, c2p, p2c));
            }
        }
        for layer in &self.layers {
            x = self.layer_forward(layer, &x, lens, &index_cache)?;
        }
        self.classifier.forward(&x)
    }

    /// `[heads, len, len]` gather indices into the `2S` relative embeddings, for `c2p` and `p2c`.
    fn gather_indices(&self, len: usize) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        if !self.cfg.relative_attention {
            return Ok((None, None));
        }
        let span = self.cfg.att_span();
        let heads = self.cfg.num_attention_heads;
        let mut c2p = Vec::with_capacity(len * len);
        let mut p2c = Vec::with_capacity(len * len);
        for i in 0..len {
            for j in 0..len {
                let rel = relative_position(i, j, &self.cfg);
                c2p.push((rel + span).clamp(0, 2 * span - 1) as u32);
                p2c.push((-rel + span).clamp(0, 2 * span - 1) as u32);
            }
        }
        let make = |v: Vec<u32>| -> candle_core::Result<Tensor> {
            Tensor::from_vec(v, (1, len, len), &self.device)?.broadcast_as((heads, len, len))?.contiguous()
        };
        Ok((if self.cfg.has("c2p") { Some(make(c2p)?) } else { None }, if self.cfg.has("p2c") { Some(make(p2c)?) } else { None }))
    }

    /// `[rows, heads*d]` -> `[heads, rows, d]`.
    fn heads(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let rows = x.dim(0)?;
        x.reshape((rows, self.cfg.num_attention_heads, self.cfg.head_dim()))?.transpose(0, 1)?.contiguous()
    }

    fn layer_forward(
        &self,
        layer: &Layer,
        x: &Tensor,
        lens: &[usize],
        index_cache: &[(usize, Option<Tensor>, Option<Tensor>)],
    ) -> candle_core::Result<Tensor> {
        let cfg = &self.cfg;
        let (heads, d, h) = (cfg.num_attention_heads, cfg.head_dim(), cfg.hidden_size);
        let q = layer.query.forward(x)?;
        let k = layer.key.forward(x)?;
        let v = layer.value.forward(x)?;
        let scale_factor = 1 + usize::from(cfg.has("c2p")) + usize::from(cfg.has("p2c"));
        // torch.sqrt(torch.tensor(d, dtype=float) * scale_factor)
        let scale = Tensor::new(&[(d as f32 * scale_factor as f32).sqrt()], &self.device)?;
        let (pos_key, pos_query) = match &self.rel_embeddings {
            Some(rel) => {
                let pk = if cfg.has("c2p") {
                    let proj = layer.pos_key.as_ref().unwrap_or(&layer.key);
                    Some(self.heads(&proj.forward(rel)?)?)
                } else {
                    None
                };
                let pq = if cfg.has("p2c") {
                    let proj = layer.pos_query.as_ref().unwrap_or(&layer.query);
                    Some(self.heads(&proj.forward(rel)?)?)
                } else {
                    None
                };
                (pk, pq)
            }
            None => (None, None),
        };
        let mut contexts = Vec::with_capacity(lens.len());
        let mut offset = 0;
        for &len in lens {
            let qs = self.heads(&q.narrow(0, offset, len)?)?;
            let ks = self.heads(&k.narrow(0, offset, len)?)?;
            let vs = self.heads(&v.narrow(0, offset, len)?)?;
            let mut scores = qs.matmul(&ks.t()?.broadcast_div(&scale)?)?;
            if self.rel_embeddings.is_some() {
                let (_, c2p_idx, p2c_idx) = index_cache
                    .iter()
                    .find(|(l, _, _)| *l == len)
                    .ok_or_else(|| candle_core::Error::Msg("missing relative indices".into()))?;
                let mut rel_att: Option<Tensor> = None;
                if let (Some(pk), Some(idx)) = (&pos_key, c2p_idx) {
                    let att = qs.matmul(&pk.t()?)?.gather(idx, 2)?;
                    rel_att = Some(att.broadcast_div(&scale)?);
                }
                if let (Some(pq), Some(idx)) = (&pos_query, p2c_idx) {
                    let att = ks.matmul(&pq.t()?)?.gather(idx, 2)?.transpose(1, 2)?;
                    let att = att.broadcast_div(&scale)?;
                    rel_att = Some(match rel_att {
                        Some(r) => (r + att)?,
                        None => att,
                    });
                }
                if let Some(r) = rel_att {
                    scores = (scores + r)?;
                }
            }
            let probs = candle_nn::ops::softmax_last_dim(&scores)?;
            let ctx = probs.matmul(&vs)?.transpose(0, 1)?.reshape((len, heads * d))?;
            contexts.push(ctx);
            offset += len;
        }
        let ctx = Tensor::cat(&contexts, 0)?;
        debug_assert_eq!(ctx.dim(1)?, h);
        let attn = layer.attn_ln.forward(&(layer.attn_out.forward(&ctx)? + x)?)?;
        let inter = activate(&layer.intermediate.forward(&attn)?, cfg.hidden_act)?;
        layer.output_ln.forward(&(layer.output.forward(&inter)? + attn)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_keep_small_distances_and_saturate() {
        for rel in -128..=128 {
            assert_eq!(log_bucket_position(rel, 256, 512), rel);
        }
        assert_eq!(log_bucket_position(511, 256, 512), 255);
        assert_eq!(log_bucket_position(-511, 256, 512), -255);
        assert!(log_bucket_position(300, 256, 512) > 128);
    }
}
