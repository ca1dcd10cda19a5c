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
        let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: cannot read model config: {e}", path.display()))?;
        let cfg: BertConfig =
            serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: not a valid BERT config: {e}", path.display()))?;
        cfg.validate().map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
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
        Ok(())
    }

    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }
}
