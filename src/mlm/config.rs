//! `config.json` of a BERT checkpoint.

use serde::Deserialize;
use std::path::Path;

/// The fields of a Hugging Face BERT `config.json` that inference needs.
///
/// Optional fields default to the values old checkpoints were trained with, so configs written
/// before `layer_norm_eps` / `pad_token_id` existed still load.
#[derive(Debug, Clone, Deserialize)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    #[serde(default = "default_act")]
    pub hidden_act: Activation,
    #[serde(default = "default_max_pos")]
    pub max_position_embeddings: usize,
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub pad_token_id: u32,
    #[serde(default = "default_pos_type")]
    pub position_embedding_type: String,
    #[serde(default)]
    pub model_type: Option<String>,
    #[serde(default)]
    pub architectures: Vec<String>,
    /// Some configs carry the tokenizer's casing.
    #[serde(default)]
    pub do_lower_case: Option<bool>,
}

/// Activation of the feed-forward layers and of the MLM head transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// Exact GELU (erf), what BERT checkpoints call "gelu".
    Gelu,
    /// The tanh approximation.
    #[serde(alias = "gelu_pytorch_tanh", alias = "gelu_fast")]
    GeluNew,
    Relu,
}

/// Upper bounds on the sizes a `config.json` may declare. A config is untrusted input (it comes
/// from a hub), and its sizes decide how much is allocated; these bounds are far above any
/// published BERT-family checkpoint (vocabularies up to 250k, widths up to 16k) yet keep a
/// hostile value from asking for terabytes before the weights are even compared with it.
pub const MAX_VOCAB: usize = 1 << 21;
pub const MAX_WIDTH: usize = 1 << 16;
pub const MAX_LAYERS: usize = 256;
pub const MAX_HEADS: usize = 1024;
pub const MAX_POSITIONS: usize = 1 << 17;
pub const MAX_TYPE_VOCAB: usize = 1 << 12;
/// `config.json` files are a few KB; a larger one is not a model config.
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Reads a model's `config.json`, refusing files too large to be one (untrusted size).
pub fn read_config_bytes(path: &Path) -> anyhow::Result<Vec<u8>> {
    let len = std::fs::metadata(path).map_err(|e| anyhow::anyhow!("{}: cannot read model config: {e}", path.display()))?.len();
    if len > MAX_CONFIG_BYTES {
        anyhow::bail!(
            "{}: {len} bytes is too large for a model config (at most {MAX_CONFIG_BYTES}); is it the right file?",
            path.display()
        );
    }
    std::fs::read(path).map_err(|e| anyhow::anyhow!("{}: cannot read model config: {e}", path.display()))
}

/// Each `(field, value, bound)`: positive values are checked elsewhere; here, not absurdly large.
pub fn check_sizes(fields: &[(&str, usize, usize)]) -> anyhow::Result<()> {
    for &(field, value, bound) in fields {
        if value > bound {
            anyhow::bail!(
                "{field} {value} is larger than any supported model (at most {bound}); the config is corrupt or not a BERT config"
            );
        }
    }
    Ok(())
}

/// LayerNorm's epsilon must be a small positive number: zero divides by zero on a constant row,
/// NaN or infinity poisons every output.
pub fn check_eps(eps: f64) -> anyhow::Result<()> {
    // the kernels use it as f32, where a smaller positive value would round to zero
    if !(eps.is_finite() && (eps as f32) > 0.0 && eps < 1.0) {
        anyhow::bail!("layer_norm_eps {eps} must be a positive number below 1 and at least 1e-38 (BERT uses 1e-12)");
    }
    Ok(())
}

fn default_act() -> Activation {
    Activation::Gelu
}
fn default_max_pos() -> usize {
    512
}
fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}
fn default_pos_type() -> String {
    "absolute".to_string()
}

impl BertConfig {
    /// Reads and checks `config.json`; errors name the file and the problem.
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let bytes = read_config_bytes(path)?;
        Self::from_slice(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    /// Parses and checks the bytes of a `config.json` (what [`Self::from_file`] read).
    pub fn from_slice(bytes: &[u8]) -> anyhow::Result<Self> {
        let cfg: BertConfig = serde_json::from_slice(bytes).map_err(|e| anyhow::anyhow!("not a valid BERT config: {e}"))?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> anyhow::Result<()> {
        if let Some(t) = &self.model_type
            && t != "bert"
        {
            anyhow::bail!("model_type is \"{t}\", but only BERT checkpoints are supported here");
        }
        if self.position_embedding_type != "absolute" {
            anyhow::bail!("position_embedding_type \"{}\" is not supported (only \"absolute\")", self.position_embedding_type);
        }
        if self.num_attention_heads == 0 || !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            anyhow::bail!("hidden_size {} is not divisible by num_attention_heads {}", self.hidden_size, self.num_attention_heads);
        }
        if self.vocab_size == 0 || self.num_hidden_layers == 0 {
            anyhow::bail!("vocab_size and num_hidden_layers must be positive");
        }
        check_sizes(&[
            ("vocab_size", self.vocab_size, MAX_VOCAB),
            ("hidden_size", self.hidden_size, MAX_WIDTH),
            ("intermediate_size", self.intermediate_size, MAX_WIDTH),
            ("num_hidden_layers", self.num_hidden_layers, MAX_LAYERS),
            ("num_attention_heads", self.num_attention_heads, MAX_HEADS),
            ("max_position_embeddings", self.max_position_embeddings, MAX_POSITIONS),
            ("type_vocab_size", self.type_vocab_size, MAX_TYPE_VOCAB),
        ])?;
        check_eps(self.layer_norm_eps)?;
        if self.pad_token_id as usize >= self.vocab_size {
            anyhow::bail!("pad_token_id {} is outside the vocabulary (vocab_size {})", self.pad_token_id, self.vocab_size);
        }
        Ok(())
    }

    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }
}
