//! Evaluation: the reference scorer, reproduced exactly, and standard span/token scoring.
//!
//! * [`reference`](mod@reference): the published method's `eval_results.py` (ALGORITHM.md §9.2, §9.5):
//!   token-level, group-level, gold spans given to the system. [`reference::score`] returns
//!   [`reference::ReferenceResults`], whose JSON ([`json::to_python_json`]) is byte-identical
//!   to the reference's `1p_results.json` / `2p_results.json`.
//! * [`span`]: seqeval-style strict entity spans and token-level scores over IOB2 tags.
//! * [`standard`]: maps gold labels and predicted tags through an eval config to comparable
//!   IOB2 sequences, aligned exactly as the reference aligns them, and feeds [`span`].
//!
//! * [`tag`]: the prediction-tag grammar (`O`, `B_X`, `B_S[G]/I_Y`, ...) every prediction
//!   file is checked against when read, and the check of its names against a taxonomy.
//! * [`dataset`]: runs the engine end to end on a benchmark directory (gold spans as markers,
//!   or the automatic chunker) and scores the output every way (`maskner eval --dataset`).
//!
//! Inputs are [`Sentences`]: blank-line separated `(term, label)` blocks read from a file
//! ([`read::read_gold`], [`read::read_pred`]) or built in memory ([`Sentences::in_memory`]),
//! so the engine can score its own output without writing files. Errors name the file and
//! line (or, in memory, the sentence and token), in one line.

pub mod dataset;
pub mod json;
pub mod read;
pub mod reference;
pub mod span;
pub mod standard;
pub mod tag;

use serde::Serialize;
use std::fmt;

pub use read::{read_gold, read_pred};
pub use reference::{Config, Options, ReferenceResults};

/// One token: `(term, label)`. For gold the label is the config's label column, for
/// predictions the reference's tag (`O`, `B_DRUG[THERAPEUTIC_OR_PREVENTIVE_PROCEDURE]/B_GENE`, ...).
pub type Token = (String, String);

/// Which side of the comparison a sentence list is; only used to word error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Gold,
    Pred,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Gold => "gold",
            Role::Pred => "prediction",
        })
    }
}

/// Sentences in file order. An empty sentence is meaningful: in a prediction file two blank
/// lines in a row are a failed query that stays paired with its gold sentence (§9.5 rule 2).
#[derive(Clone, Debug)]
pub struct Sentences {
    pub role: Role,
    pub sentences: Vec<Vec<Token>>,
    origin: Option<FileOrigin>,
}

/// Where sentences were read from: the path and the 1-based line of each sentence's first
/// token (for an empty sentence, its blank line). Tokens of a sentence are consecutive lines.
#[derive(Clone, Debug)]
struct FileOrigin {
    path: String,
    first_lines: Vec<usize>,
}

impl Sentences {
    /// Sentences produced in memory (e.g. by the engine); errors then name sentence and token.
    pub fn in_memory(role: Role, sentences: Vec<Vec<Token>>) -> Self {
        Sentences { role, sentences, origin: None }
    }

    fn from_file(role: Role, path: String, sentences: Vec<Vec<Token>>, first_lines: Vec<usize>) -> Self {
        Sentences { role, sentences, origin: Some(FileOrigin { path, first_lines }) }
    }

    /// Keeps the first `n` sentences (all if there are fewer), with their locations.
    pub fn truncate(&mut self, n: usize) {
        self.sentences.truncate(n);
        if let Some(o) = &mut self.origin {
            o.first_lines.truncate(n);
        }
    }

    /// The file path, if read from a file.
    pub fn path(&self) -> Option<&str> {
        self.origin.as_ref().map(|o| o.path.as_str())
    }

    /// Where sentence `sentence` (0-based), optionally its token `token`, comes from.
    pub fn locate(&self, sentence: usize, token: Option<usize>) -> Location {
        match &self.origin {
            Some(o) => {
                Location::File { role: self.role, path: o.path.clone(), line: o.first_lines.get(sentence).map(|l| l + token.unwrap_or(0)) }
            }
            None => Location::Memory { role: self.role, sentence, token },
        }
    }
}

/// A place in the inputs, displayed as `gold file X line 12` or `prediction sentence 3 token 2`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    File {
        role: Role,
        path: String,
        line: Option<usize>,
    },
    /// 0-based indices; displayed 1-based.
    Memory {
        role: Role,
        sentence: usize,
        token: Option<usize>,
    },
    Config {
        path: Option<String>,
    },
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::File { role, path, line } => {
                write!(f, "{role} file {path}")?;
                if let Some(l) = line {
                    write!(f, " line {l}")?;
                }
                Ok(())
            }
            Location::Memory { role, sentence, token } => {
                write!(f, "{role} sentence {}", sentence + 1)?;
                if let Some(t) = token {
                    write!(f, " token {}", t + 1)?;
                }
                Ok(())
            }
            Location::Config { path: Some(p) } => write!(f, "config file {p}"),
            Location::Config { path: None } => f.write_str("eval config"),
        }
    }
}

/// Everything that can go wrong reading or scoring; each displays as one line naming the place.
/// The I/O error is part of that line and deliberately not a `source`: an error chain printer
/// (`{:#}`) would print it a second time.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{at}: {error}")]
    Io { at: Location, error: std::io::Error },
    #[error("{at}: {msg}")]
    At { at: Location, msg: String },
}

impl EvalError {
    pub(crate) fn at(at: Location, msg: impl Into<String>) -> Self {
        EvalError::At { at, msg: msg.into() }
    }
}

/// Which scores to compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Scoring {
    /// The reference scorer only; the JSON is exactly the reference's results file.
    #[default]
    Reference,
    /// Strict entity spans (seqeval default mode).
    Span,
    /// Token-level type matches.
    Token,
    /// All three, each labelled with its `"scoring"`.
    All,
}

/// `scoring` labels, so every figure in an output says how it was computed.
pub const SCORING_REFERENCE: &str = "reference-token-level";
pub const SCORING_SPAN: &str = "entity-span-strict (seqeval)";
pub const SCORING_TOKEN: &str = "token-level";

/// The reference results with the label and options that produced them (used in `--scoring all`).
#[derive(Serialize, Debug)]
pub struct LabelledReference {
    pub scoring: &'static str,
    /// `"first"` (`--strict`, the reference's 1p) or `"either of two"` (2p).
    pub predictions: &'static str,
    pub ignore_others: bool,
    pub results: ReferenceResults,
}

/// Every scoring at once.
#[derive(Serialize, Debug)]
pub struct AllScores {
    pub reference: LabelledReference,
    pub span: standard::StandardReport,
    pub token: standard::StandardReport,
}

/// The output of [`evaluate`]. Serialise with [`Evaluation::to_json`]; each variant
/// serialises as its content alone (the reference variant exactly as the reference does).
#[derive(Serialize, Debug)]
#[serde(untagged)]
pub enum Evaluation {
    Reference(ReferenceResults),
    Span(standard::StandardReport),
    Token(standard::StandardReport),
    All(Box<AllScores>),
}

impl Evaluation {
    /// JSON as the reference prints it (`json.dumps(indent=4)`), without a trailing newline.
    pub fn to_json(&self) -> String {
        json::to_python_json(self)
    }

    /// Things a user should know that do not appear in the scores (e.g. the reference's pairing
    /// stopped before the end of a file). One line each.
    pub fn warnings(&self) -> Vec<String> {
        match self {
            Evaluation::Reference(r) => r.warnings(),
            Evaluation::All(all) => all.reference.results.warnings(),
            Evaluation::Span(s) | Evaluation::Token(s) => s.warnings(),
        }
    }
}

/// Scores `pred` against `gold` as asked. `options` (strict, ignore-others) apply to the
/// reference scoring only; span and token scoring always use the first prediction.
pub fn evaluate(config: &Config, gold: &Sentences, pred: &Sentences, options: Options, scoring: Scoring) -> Result<Evaluation, EvalError> {
    Ok(match scoring {
        Scoring::Reference => Evaluation::Reference(reference::score(config, gold, pred, options)?),
        Scoring::Span => Evaluation::Span(standard::score(config, gold, pred)?.span),
        Scoring::Token => Evaluation::Token(standard::score(config, gold, pred)?.token),
        Scoring::All => {
            let results = reference::score(config, gold, pred, options)?;
            let std = standard::score(config, gold, pred)?;
            Evaluation::All(Box::new(AllScores {
                reference: LabelledReference {
                    scoring: SCORING_REFERENCE,
                    predictions: if options.strict { "first" } else { "either of two" },
                    ignore_others: options.ignore_others,
                    results,
                },
                span: std.span,
                token: std.token,
            }))
        }
    })
}
