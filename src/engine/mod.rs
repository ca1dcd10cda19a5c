//! The engine API every front end uses (CLI, HTTP server, Python binding): configure, load,
//! tag, fill masks, describe. One process holds every ensemble member and runs a sentence from
//! text to final tags through the stages in order — phrases ([`crate::text`]), prompts and
//! descriptors ([`crate::descriptors`], on [`crate::mlm`]), per-model distributions
//! ([`crate::aggregate`]) and the ensemble decision ([`crate::ensemble`]).
//!
//! ```
//! use maskner::engine::{Engine, EngineConfig, PhraseMode, TagRequest};
//! use maskner::progress::Quiet;
//!
//! # fn main() -> Result<(), maskner::Error> {
//! # let fixture = |n: &str| format!("{}/data/fixtures/{n}", env!("CARGO_MANIFEST_DIR"));
//! # let cache = std::env::temp_dir().join(format!("maskner-doctest-{}", std::process::id()));
//! # unsafe { std::env::set_var("MASKNER_CACHE", &cache) };
//! // the reference ensemble (`bio` and `phi`) with two local models instead of the hub's
//! let mut config = EngineConfig::reference_default();
//! config.member_mut("bio")?.model = fixture("tiny-bert-cased");
//! config.member_mut("phi")?.model = fixture("tiny-bert-uncased");
//! let engine = Engine::load(&config, &Quiet)?;
//!
//! let requests = [
//!     TagRequest::new("Imatinib:__entity__ is used to treat CML:__entity__", PhraseMode::Detect),
//!     TagRequest::from_record("Aspirin helps", Some(&serde_json::json!([[0, 7]])), &PhraseMode::Auto)?,
//!     TagRequest::new("too short", PhraseMode::Spans(vec![4..40])),
//! ];
//! let results = engine.tag(&requests);
//! let tagged = results[0].as_ref().map_err(Clone::clone)?;
//! assert_eq!(tagged.sentences[0].phrases, [0..1, 5..6]); // the two marked words
//! // a bad record fails alone, with a kind a front end can map
//! assert!(results[1].is_ok());
//! assert_eq!(results[2].as_ref().unwrap_err().kind(), maskner::ErrorKind::Input);
//! assert_eq!(engine.info().members.len(), 2);
//! # let _ = std::fs::remove_dir_all(&cache);
//! # Ok(())
//! # }
//! ```
//!
//! All prompts of a batch of inputs (the 2N sequences of every sentence) go through each model
//! in one packed, batched call; an input that fails (bad spans, a phrase too long for a model,
//! a model failing on it) fails alone ([`isolate`]).

mod config;
mod fill;
mod info;
mod load;
mod request;
mod run;

pub use config::{EngineConfig, EngineOptions, MAX_MEMBERS, MemberKind, MemberSpec, OptionSpelling};
pub use fill::{FillResult, MaskPredictions, TokenScore, fill_mask};
pub use info::{Info, MemberDetails, MemberInfo, TaxonomyInfo};
pub use request::{FillRequest, MODE_NAMES, PhraseMode, TagRequest};
pub use run::{ClassifiedEntity, TagResult, TaggedSentence, Term};

use crate::compat::Numerics;
use crate::descriptors::{Stoplist, VocabCasing};
use crate::ensemble::EnsembleConfig;
use crate::entity_map::{EntityMap, Taxonomy};
use crate::error::{Error, Result};
use crate::mlm::MaskedLm;
use crate::token_classify::{Aggregation, TokenClassifier};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// The loaded ensemble.
pub struct Engine {
    members: Vec<Member>,
    ensemble: EnsembleConfig,
    taxonomy: Taxonomy,
    numerics: Numerics,
    stoplist: Stoplist,
}

struct Member {
    spec: MemberSpec,
    model: MemberModel,
}

/// A member's loaded model. (At most two exist, so the size gap between the variants costs
/// nothing worth a box.)
#[allow(clippy::large_enum_variant)]
enum MemberModel {
    Mlm { lm: MaskedLm, map: EntityMap, casing: VocabCasing },
    Classifier { tc: TokenClassifier, aggregation: Aggregation },
}

impl MemberModel {
    /// What a user should know about the member (unmapped labels of a classifier).
    fn warnings(&self) -> &[String] {
        match self {
            MemberModel::Classifier { tc, .. } => tc.warnings(),
            MemberModel::Mlm { .. } => &[],
        }
    }
}

impl Engine {
    pub fn numerics(&self) -> Numerics {
        self.numerics
    }

    pub fn taxonomy(&self) -> &Taxonomy {
        &self.taxonomy
    }

    pub fn member_names(&self) -> Vec<&str> {
        self.members.iter().map(|m| m.spec.name.as_str()).collect()
    }

    /// The first masked-LM member's model: the one fill-mask runs on.
    fn fill_mask_model(&self) -> Option<(&str, &MaskedLm)> {
        self.members.iter().find_map(|m| match &m.model {
            MemberModel::Mlm { lm, .. } => Some((m.spec.name.as_str(), lm)),
            MemberModel::Classifier { .. } => None,
        })
    }

    /// Whether [`fill_mask`](Self::fill_mask) can run (some member is a masked LM).
    pub fn can_fill_mask(&self) -> bool {
        self.fill_mask_model().is_some()
    }

    /// The masked-LM predictions at `[CLS]` and every `[MASK]` of each text, on the first
    /// masked-LM member; one result per request (see [`fill_mask`]).
    pub fn fill_mask(&self, requests: &[FillRequest]) -> Vec<Result<FillResult>> {
        match self.fill_mask_model() {
            Some((_, lm)) => fill_mask(lm, requests),
            None => requests.iter().map(|_| Err(Error::input("the engine has no masked-LM member for fill-mask"))).collect(),
        }
    }

    /// [`fill_mask`](Self::fill_mask) on the masked-LM member named `member` (`None`: the
    /// first); an unknown name or a token classifier fails the whole call.
    pub fn fill_mask_on(&self, member: Option<&str>, requests: &[FillRequest]) -> Result<Vec<Result<FillResult>>> {
        let Some(name) = member else { return Ok(self.fill_mask(requests)) };
        let m =
            self.members.iter().find(|m| m.spec.name == name).ok_or_else(|| {
                Error::input_at("member", format!("no member named {name:?} (members: {})", self.member_names().join(", ")))
            })?;
        match &m.model {
            MemberModel::Mlm { lm, .. } => Ok(fill_mask(lm, requests)),
            MemberModel::Classifier { .. } => {
                Err(Error::input_at("member", format!("{name} is a token classifier; fill-mask needs a masked LM")))
            }
        }
    }
}

/// A batch call: one result per input, or an error for the batch as a whole.
pub type BatchFn<'a, I, O> = dyn Fn(&[I]) -> Result<Vec<Result<O>>> + 'a;

/// Runs `f` on all `inputs` at once; if that fails or panics as a whole (or returns the wrong
/// number of results), runs each input alone, so one bad input never fails the others of its
/// batch. A panic becomes an [`Error::Internal`] saying so.
pub fn isolate<I, O>(inputs: &[I], f: &BatchFn<'_, I, O>) -> Vec<Result<O>> {
    let once = |xs: &[I]| -> Result<Vec<Result<O>>> {
        match catch_unwind(AssertUnwindSafe(|| f(xs))) {
            Ok(Ok(v)) if v.len() == xs.len() => Ok(v),
            Ok(Ok(v)) => Err(Error::internal(format!("internal error: {} results for {} inputs", v.len(), xs.len()))),
            Ok(Err(e)) => Err(e),
            Err(p) => Err(Error::internal(panic_message(p.as_ref()))),
        }
    };
    match once(inputs) {
        Ok(v) => v,
        Err(e) if inputs.len() == 1 => vec![Err(e)],
        Err(_) => inputs
            .iter()
            .map(|x| match once(std::slice::from_ref(x)) {
                Ok(mut v) => v.pop().unwrap_or_else(|| Err(Error::internal("internal error: no result"))),
                Err(e) => Err(e),
            })
            .collect(),
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    format!("internal error: inference panicked ({what})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_batch_is_retried_input_by_input() {
        let calls = std::cell::Cell::new(0);
        let f = |xs: &[&str]| -> Result<Vec<Result<String>>> {
            calls.set(calls.get() + 1);
            if xs.contains(&"panic") {
                panic!("boom");
            }
            if xs.contains(&"bad") {
                return Err(Error::internal(format!("model failure on {}", xs.len())));
            }
            Ok(xs.iter().map(|x| Ok(x.to_uppercase())).collect())
        };
        let got = isolate(&["a", "bad", "panic", "c"], &f);
        assert_eq!(got[0], Ok("A".into()));
        assert_eq!(got[1], Err(Error::internal("model failure on 1")));
        assert_eq!(got[2], Err(Error::internal("internal error: inference panicked (boom)")));
        assert_eq!(got[3], Ok("C".into()));
        assert_eq!(calls.get(), 5, "the batch, then each input");
        calls.set(0);
        assert!(isolate(&["bad"], &f)[0].is_err());
        assert_eq!(calls.get(), 1, "a batch of one is not run twice");
    }
}
