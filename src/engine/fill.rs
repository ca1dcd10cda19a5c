//! Fill-mask: a masked LM's top predictions at `[CLS]` and at every `[MASK]` of a text — what
//! the descriptors are harvested from, shown as is (`maskner fill-mask`, `/v1/fill-mask`).

use super::{FillRequest, isolate};
use crate::error::{Error, ErrorKind, Result};
use crate::mlm::{MaskedLm, MlmInput};
use serde::{Serialize, Serializer};

/// One predicted token.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenScore {
    pub token: String,
    pub id: u32,
    /// The logit, written in JSON as the shortest decimal of the f32 (as `f64` a JSON value
    /// would add digits).
    #[serde(serialize_with = "shortest")]
    pub score: f32,
}

fn shortest<S: Serializer>(x: &f32, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_f64(x.to_string().parse().unwrap_or(f64::from(*x)))
}

/// The predictions at one `[MASK]` (`position`: its word-piece index, `[CLS]` being 0).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MaskPredictions {
    pub position: usize,
    pub predictions: Vec<TokenScore>,
}

/// The fill-mask record of one text (`{"text", "masks", "cls"}`, in that order).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FillResult {
    pub text: String,
    pub masks: Vec<MaskPredictions>,
    pub cls: Vec<TokenScore>,
}

/// Fill-mask on `lm`: one result per request, in order. A text longer than the model's
/// maximum is refused ([`Error::Limit`]), never truncated; a text the tokenizer refuses is an
/// input error; either fails alone.
pub fn fill_mask(lm: &MaskedLm, requests: &[FillRequest]) -> Vec<Result<FillResult>> {
    let encoded: Vec<Result<MlmInput>> = requests.iter().map(|r| encode(lm, &r.text)).collect();
    let ok: Vec<(&FillRequest, &MlmInput)> =
        requests.iter().zip(&encoded).filter_map(|(r, e)| e.as_ref().ok().map(|inp| (r, inp))).collect();
    let run = |batch: &[(&FillRequest, &MlmInput)]| -> Result<Vec<Result<FillResult>>> {
        let inputs: Vec<MlmInput> = batch.iter().map(|(_, inp)| (*inp).clone()).collect();
        let logits = lm.predict(&inputs).map_err(|e| Error::from_chain(e, ErrorKind::Internal))?;
        Ok(batch.iter().zip(logits).map(|((r, inp), l)| Ok(result(lm, r, inp, &l))).collect())
    };
    let mut done = isolate(&ok, &run).into_iter();
    encoded
        .into_iter()
        .map(|e| match e {
            Ok(_) => done.next().unwrap_or_else(|| Err(Error::internal("internal error: no result"))),
            Err(e) => Err(e),
        })
        .collect()
}

/// The model input of a fill-mask text: read at `[CLS]` and every `[MASK]`.
fn encode(lm: &MaskedLm, text: &str) -> Result<MlmInput> {
    let tok = lm.tokenizer();
    let enc = tok.encode(text, true).map_err(|e| Error::input(format!("{e:#}")))?;
    if enc.ids.len() > lm.max_len() {
        return Err(Error::limit(format!(
            "{} word pieces, more than the model's maximum of {}; shorten the text",
            enc.ids.len(),
            lm.max_len()
        )));
    }
    let mut reads = vec![0];
    reads.extend(enc.ids.iter().enumerate().filter(|(_, id)| **id == tok.mask).map(|(i, _)| i));
    Ok(MlmInput { ids: enc.ids, reads })
}

fn result(lm: &MaskedLm, r: &FillRequest, inp: &MlmInput, logits: &[crate::mlm::Logits]) -> FillResult {
    let tok = lm.tokenizer();
    let scores = |i: usize| -> Vec<TokenScore> {
        logits
            .get(i)
            .map(|l| l.top_k(r.top_k))
            .unwrap_or_default()
            .into_iter()
            .map(|p| TokenScore { token: tok.token(p.id).to_string(), id: p.id, score: p.score })
            .collect()
    };
    FillResult {
        text: r.text.clone(),
        cls: scores(0),
        masks: inp.reads[1..].iter().enumerate().map(|(j, &pos)| MaskPredictions { position: pos, predictions: scores(j + 1) }).collect(),
    }
}
