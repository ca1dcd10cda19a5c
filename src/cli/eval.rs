//! `maskner eval`: score a two-column prediction file against a gold file.

use crate::eval::{self, Config, Options, Sentences};
use std::io::Write;
use std::path::PathBuf;

/// Score predictions against gold data, with the reference scorer and/or standard scoring.
///
/// The default (`--scoring reference`) prints exactly what the reference's eval_results.py
/// writes (token-level, group-level scores of gold spans); `--strict` uses only the first of
/// two predictions (its 1p_results.json), the default accepts either (2p_results.json).
/// `span` gives strict entity-span P/R/F1 (seqeval semantics), `token` token-level P/R/F1,
/// `all` all three, each labelled with its "scoring". See docs/eval.md.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  maskner eval --gold test.tsv --pred ner_output.txt --config eval_config.json --strict
  maskner eval --gold conllpp_test.txt --pred ner_output.txt --config eval_config.json --scoring all

Exit status: 0 scored, 2 bad input (one line on stderr naming the file and line).")]
pub struct Args {
    /// What to score: two files on disk. (Kept apart from the scoring flags so that other
    /// sources, e.g. running the engine on a dataset, can be added next to it.)
    #[command(flatten)]
    pub files: FileInputs,
    #[command(flatten)]
    pub scoring: ScoringArgs,
}

#[derive(clap::Args, Debug)]
pub struct FileInputs {
    /// Gold file: whitespace-separated columns, blank line between sentences
    /// (`token<TAB>B|I|O`, CoNLL-2003 `token POS chunk NER`, or `token TAG`).
    #[arg(long, value_name = "FILE")]
    pub gold: PathBuf,
    /// Predictions: `term TAG` lines, blank line after each sentence (two blank lines = a
    /// failed query), as written by the ensemble's batch mode.
    #[arg(long, value_name = "FILE")]
    pub pred: PathBuf,
    /// The reference's eval_config.json: gold columns, label mapping, false-positive lists.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct ScoringArgs {
    /// Reference scoring: count only the first prediction (the reference's "1p").
    #[arg(long)]
    pub strict: bool,
    /// Reference scoring: no false-positive test in sentences without gold entities.
    #[arg(long)]
    pub ignore_others: bool,
    /// Which scores to print.
    #[arg(long, value_enum, default_value_t = ScoringChoice::Reference)]
    pub scoring: ScoringChoice,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScoringChoice {
    /// The reference's results JSON, unchanged.
    Reference,
    /// Strict entity spans (seqeval default mode), per type, micro, macro, weighted.
    Span,
    /// Token-level type matches.
    Token,
    /// All three, each under its own key and labelled.
    All,
}

impl From<ScoringChoice> for eval::Scoring {
    fn from(c: ScoringChoice) -> Self {
        match c {
            ScoringChoice::Reference => eval::Scoring::Reference,
            ScoringChoice::Span => eval::Scoring::Span,
            ScoringChoice::Token => eval::Scoring::Token,
            ScoringChoice::All => eval::Scoring::All,
        }
    }
}

pub fn run(args: Args) -> super::CheckResult {
    let config = Config::from_path(&args.files.config)?;
    let gold = eval::read_gold(&args.files.gold, &config)?;
    let pred = eval::read_pred(&args.files.pred)?;
    report(&config, &gold, &pred, &args.scoring)?;
    Ok(true)
}

/// Scores and prints the JSON on stdout (warnings on stderr). Shared by every input source.
pub fn report(config: &Config, gold: &Sentences, pred: &Sentences, scoring: &ScoringArgs) -> anyhow::Result<()> {
    let options = Options { strict: scoring.strict, ignore_others: scoring.ignore_others };
    let evaluation = eval::evaluate(config, gold, pred, options, scoring.scoring.into())?;
    for w in evaluation.warnings() {
        eprintln!("maskner: warning: {w}");
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", evaluation.to_json())?;
    out.flush()?;
    Ok(())
}
