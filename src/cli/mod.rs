//! Command line: one module per subcommand, each with its own `Args` and `run`.
//!
//! Exit codes: 0 success, 1 a failed check (replay or eval mismatch), 2 an error
//! (bad input, missing model files, ...). Errors print as one line on stderr.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod build_map;
mod engine_args;
mod eval;
mod export_map;
mod fill_mask;
pub(crate) mod input;
mod lookup;
pub mod progress;
mod replay;
mod resume;
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
    FillMask(fill_mask::Args),
    BuildMap(build_map::Args),
    ExportMap(export_map::Args),
    Lookup(lookup::Args),
    Tag(tag::Args),
    Replay(replay::Args),
    Eval(eval::Args),
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
