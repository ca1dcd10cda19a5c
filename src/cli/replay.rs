//! `maskner replay`: re-run the reference's logged descriptors through aggregation, pooling and
//! the single-model tagging, and check the logged distributions and tags.

use std::path::PathBuf;

use anyhow::Context;

use crate::compat::Numerics;
use crate::entity_map::{EntityMap, SeedSet, Taxonomy};
use crate::eval::Config;
use crate::replay::map::{MapReplayOptions, Signatures, replay_with_map};
use crate::replay::{ReplayOptions, replay_file};

const EXAMPLES: &str = "\
Examples:
  # Exact reference numerics; exits 1 on any mismatch:
  maskner replay --log ../shared/benchmarks/custom/reference_query_response_log.txt --compat

  # Default (fixed) numerics; reports how much still matches:
  maskner replay --log ../shared/benchmarks/custom/reference_query_response_log.txt

  # The logged real descriptors with a maskner map's signatures instead of the reference's,
  # single-model tagging, scored with the reference scorer (1p/2p F1, all and per half):
  maskner replay --log ../shared/benchmarks/custom/reference_query_response_log.txt \\
      --map my-map --gold ../shared/benchmarks/custom/test.tsv \\
      --config ../shared/benchmarks/custom/reference_eval_config.json --out tags.txt

  # The same with the reference's own signatures (the baseline), or with tokens the map's
  # vocabulary lacks given their seed labels (approximates a map on the real vocabulary):
  maskner replay --log LOG --map logged --gold GOLD --config CONFIG
  maskner replay --log LOG --map my-map --seed-fallback --gold GOLD --config CONFIG";

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

    /// Replace every logged descriptor's signature by this map's lookup (a map directory, a
    /// labels.txt file, or `logged` for the reference's own), tag each span with its pooled
    /// top tag and report agreement and scores instead of checking the log.
    #[arg(long, value_name = "DIR|FILE|logged")]
    map: Option<String>,

    /// With --map: tokens absent from the map get their seed labels (count 100 each) instead
    /// of UNTAGGED_ENTITY, reported separately as `seed_fallback`.
    #[arg(long, requires = "map")]
    seed_fallback: bool,

    /// Seed lists for --seed-fallback (default: the built-in lists).
    #[arg(long, value_name = "DIR", requires = "seed_fallback")]
    seeds: Option<PathBuf>,

    /// With --map: gold file of the logged sentences, scored with the reference scorer.
    #[arg(long, value_name = "FILE", requires_all = ["map", "config"])]
    gold: Option<PathBuf>,

    /// With --gold: the reference scorer's config.
    #[arg(long, value_name = "FILE", requires = "gold")]
    config: Option<PathBuf>,

    /// With --map: write the tags as `term TAG` lines, a blank line after each sentence.
    #[arg(long, value_name = "FILE", requires = "map")]
    out: Option<PathBuf>,
}

pub fn run(args: Args) -> super::CheckResult {
    let taxonomy = Taxonomy::from_name_or_path(&args.taxonomy)?;
    let numerics = Numerics::from_compat_flag(args.compat);
    if let Some(map) = &args.map {
        run_map(&args, map, taxonomy, numerics)?;
        return Ok(true);
    }
    let options = ReplayOptions { numerics, taxonomy, max_details: args.show };
    let summary = replay_file(&args.log, &options)?;
    let json = serde_json::to_string_pretty(&summary).context("writing the summary")?;
    println!("{json}");
    // Only compat promises exact agreement; the default mode's counts are informational.
    Ok(!args.compat || summary.all_exact())
}

/// `--map`: the logged descriptors with another map's signatures; informational (exit 0).
fn run_map(args: &Args, map: &str, taxonomy: Taxonomy, numerics: Numerics) -> anyhow::Result<()> {
    let loaded = match map {
        "logged" => None,
        path if std::path::Path::new(path).is_dir() => Some(EntityMap::open(path.as_ref())?),
        path if std::path::Path::new(path).is_file() => Some(EntityMap::from_labels_txt(path.as_ref(), &taxonomy)?),
        path => anyhow::bail!("--map {path}: no such map directory or labels.txt file (or give `logged`)"),
    };
    let seeds = match (args.seed_fallback, &args.seeds) {
        (false, _) => None,
        (true, Some(dir)) => Some(SeedSet::load(dir, &taxonomy).context("--seeds")?),
        (true, None) => Some(SeedSet::builtin(&taxonomy)?),
    };
    let signatures = match &loaded {
        None if args.seed_fallback => {
            anyhow::bail!("--seed-fallback needs a map: the logged signatures know every token")
        }
        None => Signatures::Logged,
        Some(map) => Signatures::Map { map, seed_fallback: seeds.as_ref() },
    };
    let config = args.config.as_deref().map(Config::from_path).transpose()?;
    let gold = args.gold.as_deref().zip(config.as_ref());
    let replay = replay_with_map(&args.log, &MapReplayOptions { numerics, taxonomy, signatures, gold })?;
    if let Some(out) = &args.out {
        std::fs::write(out, replay.conll()).with_context(|| format!("--out {}: cannot write", out.display()))?;
    }
    println!("{}", serde_json::to_string_pretty(&replay.report).context("writing the report")?);
    Ok(())
}
