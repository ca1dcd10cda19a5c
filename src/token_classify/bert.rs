//! `BertForTokenClassification`: the packed BERT encoder of [`crate::mlm::bert`] plus the
//! `classifier` linear layer (dropout is the identity at inference).

use std::path::Path;

use candle_core::{Device, Tensor};

use crate::mlm::bert::Bert;
use crate::mlm::config::BertConfig;
use crate::mlm::weights::Weights;
use crate::nn::Linear;

pub struct BertTokenClassifier {
    bert: Bert,
    classifier: Linear,
}

impl BertTokenClassifier {
    pub fn load(dir: &Path, cfg: &BertConfig, num_labels: usize, device: &Device) -> anyhow::Result<Self> {
        let weights = Weights::from_dir(dir, device)?;
        let bert = Bert::load(&weights, cfg, device)?;
        if !weights.contains("classifier.weight") {
            anyhow::bail!("{}: no classifier.weight: not a BertForTokenClassification checkpoint", weights.source().display());
        }
        let classifier = Linear::load(&weights, "classifier", cfg.hidden_size, num_labels)?;
        // as for the masked LMs: weights transposed once the checkpoint's copies are gone
        drop(weights);
        Ok(Self { bert: bert.prepare()?, classifier })
    }

    pub fn config(&self) -> &BertConfig {
        self.bert.config()
    }

    /// Logits `[total tokens, labels]` of packed sequences (`ids` concatenated, `lens`).
    pub fn logits(&self, ids: &[u32], lens: &[usize]) -> candle_core::Result<Tensor> {
        let hidden = self.bert.encode(ids, lens)?;
        self.classifier.forward(&hidden)
    }
}
