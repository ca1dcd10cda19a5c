//! `maskner eval`: score a two-column prediction file against a gold file, or run the engine
//! end to end on a benchmark dataset and score its output (`--dataset`).

use super::engine_args::EngineArgs;
use super::progress::{Bars, bar};
use crate::engine::Engine;
use crate::entity_map::Taxonomy;
use crate::eval::dataset::{self, Dataset, DatasetReport, Modes, PhraseSelection, Settings, Split, Timing};
use crate::eval::{self, Config, Options, Sentences};
use anyhow::{Context, bail};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Score predictions against gold data, with the reference scorer and/or standard scoring.
///
/// The default (`--scoring reference`) prints exactly what the reference's eval_results.py
/// writes (token-level, group-level scores of gold spans); `--strict` uses only the first of
/// two predictions (its 1p_results.json), the default accepts either (2p_results.json).
/// `span` gives strict entity-span P/R/F1 (seqeval semantics), `token` token-level P/R/F1,
/// `all` all three, each labelled with its "scoring".
///
/// With `--dataset DIR --split devel|test` the engine itself is run on the dataset's gold
/// tokens (gold spans as `:__entity__` markers like the reference's benchmark, and/or the
/// automatic chunker) and its output is scored every way at once: reference 1p and 2p, span
/// and token. See docs/eval.md.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  maskner eval --gold test.tsv --pred ner_output.txt --config eval_config.json --strict
  maskner eval --gold conllpp_test.txt --pred ner_output.txt --config eval_config.json --scoring all
  maskner eval --dataset ../shared/benchmarks/NCBI-disease --split devel --limit 200
  maskner eval --dataset ../shared/benchmarks/conllpp --split test --phrases both --pred-out preds.txt \\
      --model bio=./my-bio-bert --model phi=bert-base-cased

Exit status: 0 scored, 2 bad input (one line on stderr naming the file and line).")]
pub struct Args {
    /// What to score: two files on disk...
    #[command(flatten)]
    pub files: FileInputs,
    /// ... or the engine's output on a dataset.
    #[command(flatten)]
    pub dataset: DatasetArgs,
    #[command(flatten)]
    pub scoring: ScoringArgs,
}

#[derive(clap::Args, Debug)]
pub struct FileInputs {
    /// Gold file: whitespace-separated columns, blank line between sentences
    /// (`token<TAB>B|I|O`, CoNLL-2003 `token POS chunk NER`, or `token TAG`).
    #[arg(long, value_name = "FILE", required_unless_present = "dataset", conflicts_with = "dataset")]
    pub gold: Option<PathBuf>,
    /// Predictions: `term TAG` lines, blank line after each sentence (two blank lines = a
    /// failed query), as written by the ensemble's batch mode.
    #[arg(long, value_name = "FILE", required_unless_present = "dataset", conflicts_with = "dataset")]
    pub pred: Option<PathBuf>,
    /// The reference's eval_config.json: gold columns, label mapping, false-positive lists.
    /// (With --dataset: use --eval-config, and --engine-config for the engine.)
    #[arg(long, value_name = "FILE", required_unless_present = "dataset")]
    pub config: Option<PathBuf>,
    /// The taxonomy the predicted labels must belong to: `jan2022` (the engine's default, and
    /// the reference's), `feb2022`, or a taxonomy file (as `maskner tag`'s engine config).
    #[arg(long, value_name = "NAME|FILE", default_value = "jan2022", conflicts_with = "dataset")]
    pub taxonomy: String,
}

/// Which phrases the engine types on a dataset.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhrasesChoice {
    /// Gold entity tokens marked with `:__entity__` (the reference's benchmark protocol).
    Markers,
    /// The automatic chunker, no gold spans.
    Auto,
    /// Both, one after the other, reported side by side.
    Both,
}

impl PhrasesChoice {
    fn name(self) -> &'static str {
        match self {
            PhrasesChoice::Markers => "markers",
            PhrasesChoice::Auto => "auto",
            PhrasesChoice::Both => "both",
        }
    }

    fn selections(self) -> Vec<PhraseSelection> {
        match self {
            PhrasesChoice::Markers => vec![PhraseSelection::Markers],
            PhrasesChoice::Auto => vec![PhraseSelection::Auto],
            PhrasesChoice::Both => vec![PhraseSelection::Markers, PhraseSelection::Auto],
        }
    }
}

#[derive(clap::Args, Debug)]
#[command(next_help_heading = "Running the engine on a dataset")]
pub struct DatasetArgs {
    /// Benchmark directory (as in ../shared/benchmarks): run the engine on its gold tokens and
    /// score the output every way. Needs --split.
    #[arg(long, value_name = "DIR", requires = "split")]
    pub dataset: Option<PathBuf>,
    /// Gold file: devel (`devel.tsv`, `*_dev.txt`) or test (`test.tsv`, `*_test.txt`).
    #[arg(long, value_enum, requires = "dataset")]
    pub split: Option<Split>,
    /// Only the first N gold sentences.
    #[arg(long, value_name = "N", requires = "dataset", value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,
    /// Phrase selection [default: markers].
    #[arg(long, value_enum, requires = "dataset")]
    pub phrases: Option<PhrasesChoice>,
    /// Write the engine's two-column predictions (`term TAG`) to FILE; with `--phrases both`,
    /// to FILE with `.markers`/`.auto` before the extension.
    #[arg(long, value_name = "FILE", requires = "dataset")]
    pub pred_out: Option<PathBuf>,
    /// Scorer config (default: the dataset's reference_eval_config.json).
    #[arg(long, value_name = "FILE", requires = "dataset")]
    pub eval_config: Option<PathBuf>,
    /// Engine configuration (JSON, as `maskner tag --config`).
    #[arg(long, value_name = "FILE", requires = "dataset")]
    pub engine_config: Option<PathBuf>,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Sentences per engine call [default: 32].
    #[arg(long, value_name = "N", requires = "dataset", value_parser = clap::value_parser!(u64).range(1..))]
    pub batch: Option<u64>,
}

#[derive(clap::Args, Debug)]
pub struct ScoringArgs {
    /// Reference scoring: count only the first prediction (the reference's "1p").
    /// (With --dataset both 1p and 2p are reported.)
    #[arg(long, conflicts_with = "dataset")]
    pub strict: bool,
    /// Reference scoring: no false-positive test in sentences without gold entities.
    #[arg(long)]
    pub ignore_others: bool,
    /// Which scores to print. (With --dataset all of them are reported.)
    #[arg(long, value_enum, default_value_t = ScoringChoice::Reference, conflicts_with = "dataset")]
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
    if let Some(dir) = &args.dataset.dataset {
        run_dataset(dir, &args)?;
        return Ok(true);
    }
    if args.dataset.engine.given() {
        bail!(
            "--model, --map, --labels, --members, --aggregation, --stride, --compat and --precision run the engine: they need --dataset DIR --split devel|test"
        );
    }
    let (Some(gold), Some(pred), Some(config)) = (&args.files.gold, &args.files.pred, &args.files.config) else {
        bail!("give --gold FILE --pred FILE --config FILE, or --dataset DIR --split devel|test");
    };
    let taxonomy = Taxonomy::from_name_or_path(&args.files.taxonomy).context("--taxonomy")?;
    let config = Config::from_path(config)?;
    let gold = eval::read_gold(gold, &config)?;
    let pred = eval::read_pred(pred)?;
    eval::tag::check_labels(&pred, &taxonomy)
        .map_err(|e| anyhow::anyhow!("{e} (for predictions made with another taxonomy, give --taxonomy NAME|FILE)"))?;
    report(&config, &gold, &pred, &args.scoring)?;
    Ok(true)
}

/// `--pred-out FILE` for one mode: FILE itself, or with `--phrases both` FILE with the mode's
/// name before the extension (`preds.txt` -> `preds.markers.txt`).
fn pred_path(path: &Path, selection: PhraseSelection, both: bool) -> PathBuf {
    if !both {
        return path.to_path_buf();
    }
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let name = match path.extension() {
        Some(e) => format!("{stem}.{}.{}", selection.name(), e.to_string_lossy()),
        None => format!("{stem}.{}", selection.name()),
    };
    path.with_file_name(name)
}

/// `--dataset`: run the engine on the gold tokens and score its output every way.
fn run_dataset(dir: &Path, args: &Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let d = &args.dataset;
    if args.files.config.is_some() {
        bail!(
            "--config is ambiguous with --dataset: give the engine configuration (tag's --config) as --engine-config FILE, and a scorer config as --eval-config FILE"
        );
    }
    let split = d.split.context("--dataset needs --split devel|test")?;
    let limit = d.limit.map(|n| n as usize);
    let batch = d.batch.unwrap_or(32) as usize;
    let phrases = d.phrases.unwrap_or(PhrasesChoice::Markers);
    let ignore_others = args.scoring.ignore_others;
    // gold and scorer config first: a malformed file fails before any model loads
    let data = Dataset::open(dir, split, d.eval_config.as_deref(), limit)?;
    let cfg = d.engine.config(d.engine_config.as_deref())?;
    let load = Instant::now();
    let engine = Engine::load(&cfg, &Bars::default())?;
    let load_seconds = load.elapsed().as_secs_f64();
    let selections = phrases.selections();
    let both = selections.len() > 1;
    let mut modes = Modes::default();
    for sel in selections {
        let bar = bar(Some(data.gold.sentences.len() as u64), &format!("{} {}", data.name, sel.name()));
        let run = dataset::run_engine(&engine, &data.gold, data.tokens, sel, batch, |n| bar.inc(n as u64))?;
        bar.finish_and_clear();
        let out = d.pred_out.as_ref().map(|p| pred_path(p, sel, both));
        if let Some(p) = &out {
            std::fs::write(p, &run.conll).with_context(|| format!("--pred-out {}: cannot write", p.display()))?;
        }
        let name = out.as_ref().map(|p| p.display().to_string());
        let mode = dataset::score(&data.config, &data.gold, &run, ignore_others, name.as_deref())?;
        for w in mode.warnings(&run, &data.gold) {
            eprintln!("maskner: warning: {}: {w}", sel.name());
        }
        match sel {
            PhraseSelection::Markers => modes.markers = Some(mode),
            PhraseSelection::Auto => modes.auto = Some(mode),
        }
    }
    let report = DatasetReport {
        dataset: data.name.clone(),
        split,
        gold_file: data.gold_path.display().to_string(),
        eval_config: data.config_path.display().to_string(),
        counts: data.counts(),
        settings: Settings::new(&engine, phrases.name(), limit, batch, ignore_others, data.tokens),
        modes,
        timing: Timing::new(load_seconds, started.elapsed().as_secs_f64()),
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", report.to_json())?;
    out.flush()?;
    Ok(())
}

/// Scores and prints the JSON on stdout (warnings on stderr). Shared by every input source.
pub fn report(config: &Config, gold: &Sentences, pred: &Sentences, scoring: &ScoringArgs) -> anyhow::Result<()> {
    let options = Options { strict: scoring.strict, ignore_others: scoring.ignore_others };
    let evaluation = eval::evaluate(config, gold, pred, options, scoring.scoring.into())?;
    for w in evaluation.warnings() {
        eprintln!("maskner: warning: {w}");
    }
    let mut out = std::io::stdout().lock();
    let json = evaluation.to_json();
    // The reference scoring is written exactly as the reference writes its results files, with
    // no final newline, so `cmp` against them succeeds; the other scorings end with one.
    match evaluation {
        eval::Evaluation::Reference(_) => write!(out, "{json}")?,
        _ => writeln!(out, "{json}")?,
    }
    out.flush()?;
    Ok(())
}
