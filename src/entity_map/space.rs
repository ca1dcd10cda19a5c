//! Which vectors the map builder's neighbourhoods come from.
//!
//! The reference spreads seed labels through the model's raw input word embeddings. A masked
//! LM's *output* for a token is what its predictions are made of, so a second candidate is the
//! model's contextual vector of each vocabulary token, read at the token's position in the
//! short template `[CLS] token [SEP]` (one batched forward pass over the vocabulary), and a third
//! mixes both: the two unit vectors concatenated, whose cosine is the mean of the two cosines.
//! `maskner replay --map` and `cargo bench --bench map_replay` measure them.

use super::neighbours::Embeddings;
use crate::mlm::MaskedLm;
use anyhow::Context;
use serde::Serialize;

/// The embedding space of a map build.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Space {
    /// The input word-embedding matrix (the reference's space).
    #[default]
    Input,
    /// The last hidden state of each token in `[CLS] token [SEP]`.
    Contextual,
    /// Input and contextual unit vectors concatenated (cosine = their mean).
    Mixed,
}

impl Space {
    /// The space called `name` (`input`, `contextual`, `mixed`), as `--space` takes it.
    pub fn from_name(name: &str) -> crate::Result<Self> {
        crate::error::from_value_name("space", name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Space::Input => "input",
            Space::Contextual => "contextual",
            Space::Mixed => "mixed",
        }
    }

    /// The default space; its builds keep the cache keys they had before spaces existed.
    pub fn is_input(&self) -> bool {
        *self == Space::Input
    }
}

/// Sequences per forward pass of the contextual space.
const CONTEXTUAL_BATCH: usize = 2048;

/// The normalised vectors of every vocabulary token in `space`. `progress(done, total)` is
/// called after each batch of the contextual pass.
pub fn embeddings(lm: &MaskedLm, space: Space, progress: &(dyn Fn(usize, usize) + Sync)) -> anyhow::Result<Embeddings> {
    let vocab = lm.tokenizer().vocab().len();
    let input = || Embeddings::from_tensor(&lm.word_embeddings_f32()?.narrow(0, 0, vocab)?);
    match space {
        Space::Input => input(),
        Space::Contextual => contextual(lm, progress),
        Space::Mixed => {
            let (a, b) = (input()?, contextual(lm, progress)?);
            let rows: Vec<Vec<f32>> = (0..vocab).map(|i| [a.row(i), b.row(i)].concat()).collect();
            Embeddings::from_rows(&rows)
        }
    }
}

fn contextual(lm: &MaskedLm, progress: &(dyn Fn(usize, usize) + Sync)) -> anyhow::Result<Embeddings> {
    let tok = lm.tokenizer();
    let id = |t: &str| tok.id(t).with_context(|| format!("{}: the vocabulary has no {t} token", lm.name()));
    let (cls, sep) = (id("[CLS]")?, id("[SEP]")?);
    let vocab = tok.vocab().len();
    let mut rows = Vec::with_capacity(vocab);
    for start in (0..vocab).step_by(CONTEXTUAL_BATCH) {
        let end = (start + CONTEXTUAL_BATCH).min(vocab);
        let seqs: Vec<Vec<u32>> = (start..end).map(|i| vec![cls, i as u32, sep]).collect();
        for h in lm.hidden_states(&seqs)? {
            rows.push(h.get(1)?.to_vec1::<f32>()?);
        }
        progress(end, vocab);
    }
    Embeddings::from_rows(&rows)
}
