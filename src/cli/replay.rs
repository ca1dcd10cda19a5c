//! `maskner replay`: re-run the reference's logged descriptors through aggregation, pooling and
//! the single-model tagging, and check the logged distributions and tags.

use std::path::PathBuf;

use anyhow::Context;

use crate::compat::Numerics;
use crate::entity_map::Taxonomy;
use crate::replay::{ReplayOptions, replay_file};

const EXAMPLES: &str = "\
Examples:
  # Exact reference numerics; exits 1 on any mismatch:
  maskner replay --log ../shared/benchmarks/custom/reference_query_response_log.txt --compat

  # Default (fixed) numerics; reports how much still matches:
  maskner replay --log ../shared/benchmarks/custom/reference_query_response_log.txt";

/// Replay the reference's logged descriptors through aggregation, pooling and tagging, and check
/// the logged distributions and tags (exit 1 on any mismatch under --compat).
#[derive(clap::Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The reference's query/response log (concatenated JSON records).
    #[arg(long, value_name = "FILE")]
    log: PathBuf,

    /// Use the reference's exact numerics and rules; any mismatch fails (exit 1).
    #[arg(long)]
    compat: bool,

    /// Entity taxonomy: jan2022, feb2022 or the path of a taxonomy file.
    #[arg(long, value_name = "NAME|FILE", default_value = "jan2022")]
    taxonomy: String,

    /// How many mismatches to describe in the summary.
    #[arg(long, value_name = "N", default_value_t = 10)]
    show: usize,
}

pub fn run(args: Args) -> super::CheckResult {
    let taxonomy = Taxonomy::from_name_or_path(&args.taxonomy)?;
    let numerics = Numerics::from_compat_flag(args.compat);
    let options = ReplayOptions {
        numerics,
        taxonomy,
        max_details: args.show,
    };
    let summary = replay_file(&args.log, &options)?;
    let json = serde_json::to_string_pretty(&summary).context("writing the summary")?;
    println!("{json}");
    // Only compat promises exact agreement; the default mode's counts are informational.
    Ok(!args.compat || summary.all_exact())
}
