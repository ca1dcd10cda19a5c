//! maskner: zero-shot named-entity recognition from masked-language-model descriptors.
//!
//! The modules follow the data flow of one sentence, top to bottom:
//!
//! 1. [`text`]: sentence preparation and phrase selection (markers or automatic chunking).
//! 2. [`mlm`]: masked-LM loading and prediction at `[MASK]` and `[CLS]` positions.
//! 3. [`descriptors`]: CS/CI prompts and the filtered top-k harvest of descriptors.
//! 4. [`entity_map`]: the taxonomy and the descriptor -> entity signature map (build, store, lookup).
//! 5. [`aggregate`]: per-model group/subtype distributions, CI+CS pooling and B_/I_ tags.
//! 6. [`ensemble`]: the two-model (or n-model) decision per span.
//! 7. [`output`]: JSON, JSON Lines, CoNLL-style columns and Hugging Face pipeline lists.
//!
//! The engine API that runs them and that every front end uses is [`engine`] (`EngineConfig`,
//! `Engine::load`, `tag`, `fill_mask`, `info`), with one error type [`Error`] ([`error`]) and
//! progress reported through [`progress`] (the library never writes to the terminal).
//!
//! Around the pipeline: [`hub`] resolves models, [`nn`] holds the layers shared by the BERT
//! and DeBERTa code, [`compat`] holds the reference's quirks (its documentation is the one list
//! of them), [`token_classify`] the supervised members, [`replay`] re-runs logged reference
//! descriptors, [`eval`] scores outputs; [`server`] (HTTP) and [`cli`] (command line) are thin
//! front ends on [`engine`].

pub mod aggregate;
pub mod cli;
pub mod compat;
pub mod descriptors;
pub mod engine;
pub mod ensemble;
pub mod entity_map;
pub mod error;
pub mod eval;
#[doc(hidden)]
pub mod fuzzing;
pub mod hub;
pub mod mlm;
pub mod nn;
pub mod output;
pub mod progress;
pub mod replay;
pub mod server;
pub mod text;
pub mod token_classify;
pub mod view;

pub use engine::{Engine, EngineConfig};
pub use error::{Error, ErrorKind, Result};
