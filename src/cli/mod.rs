//! Command line: one module per subcommand, each with its own `Args` and `run`.
//!
//! Exit codes: 0 success, 1 a failed check (replay or eval mismatch), 2 an error
//! (bad input, missing model files, ...). Errors print as one line on stderr.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod build_map;
pub(crate) mod input;
mod eval;
mod export_map;
mod fill_mask;
mod lookup;
mod replay;
mod serve;
mod tag;

/// Zero-shot named-entity recognition from masked-language-model descriptors.
#[derive(Parser, Debug)]
#[command(name = "maskner", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Predict the top-K vocabulary tokens at every [MASK] and at [CLS].
    FillMask(fill_mask::Args),
    /// Build a descriptor -> entity map from seed lists (or import a labels.txt).
    BuildMap(build_map::Args),
    /// Write a map in the reference's labels.txt format.
    ExportMap(export_map::Args),
    /// Print the entity signatures of tokens in a map.
    Lookup(lookup::Args),
    /// Tag entities in text.
    Tag(tag::Args),
    /// Replay the reference's logged descriptors through aggregation and ensemble.
    Replay(replay::Args),
    /// Score predictions against gold data (reference scorer and span-level scoring).
    Eval(eval::Args),
    /// Serve the engine over HTTP.
    Serve(serve::Args),
}

/// Outcome of a subcommand that checks something: `Ok(false)` means the check failed.
pub type CheckResult = anyhow::Result<bool>;

pub fn main() -> ExitCode {
    // candle asks for the thread count before every matrix product and, unless this variable is
    // set, re-reads /proc/cpuinfo each time (a third of the run time on small models).
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let n = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        // SAFETY: set before any other thread exists (first thing in main).
        unsafe { std::env::set_var("RAYON_NUM_THREADS", n.to_string()) };
    }
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve(_)) {
        // `maskner ... | head` should stop quietly, as Unix filters do, not report a write error
        // (Rust ignores SIGPIPE by default). The server keeps ignoring it: a client hanging up
        // must not end the process.
        // SAFETY: restoring a default signal disposition before other threads start.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    let result: CheckResult = match cli.command {
        Command::FillMask(a) => fill_mask::run(a).map(|()| true),
        Command::BuildMap(a) => build_map::run(a).map(|()| true),
        Command::ExportMap(a) => export_map::run(a).map(|()| true),
        Command::Lookup(a) => lookup::run(a).map(|()| true),
        Command::Tag(a) => tag::run(a).map(|()| true),
        Command::Replay(a) => replay::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Serve(a) => serve::run(a).map(|()| true),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            // One line: the chain of contexts joined, innermost cause last.
            eprintln!("maskner: {e:#}");
            ExitCode::from(2)
        }
    }
}
