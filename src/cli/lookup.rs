//! `maskner lookup`: the entity signatures of tokens.

use crate::entity_map::{BuildOptions, EntityMap, SeedSet, Taxonomy, cache};
use crate::mlm;
use anyhow::bail;
use std::path::PathBuf;

/// Print the entity signature of each token, as the NER pipeline sees it (ALGORITHM.md
/// section 4: exact, lower-case, case union, digits -> MEASURE, unknown -> UNTAGGED_ENTITY).
///
/// Examples:
///   maskner lookup --map my-map EGFR eGFR asbestos 1984
///   maskner lookup --model bert-base-cased --json Paris
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Map directory.
    #[arg(long, conflicts_with = "model")]
    map: Option<PathBuf>,
    /// Use (building it if needed) the cached default map of this model.
    #[arg(long)]
    model: Option<String>,
    /// JSON Lines output: {"token","labels","counts","source"}.
    #[arg(long)]
    json: bool,
    tokens: Vec<String>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let map = match (&args.map, &args.model) {
        (Some(dir), _) => EntityMap::open(dir)?,
        (None, Some(spec)) => {
            let lm = mlm::load_model(spec)?;
            let tax = Taxonomy::jan2022();
            cache::ensure_map(&lm, &SeedSet::builtin(&tax)?, &BuildOptions::default(), &tax, &super::progress::Bars::default())?
        }
        (None, None) => bail!("give --map DIR or --model MODEL"),
    };
    if args.tokens.is_empty() {
        bail!("no tokens to look up");
    }
    for t in &args.tokens {
        let (sig, source) = map.lookup(t);
        if args.json {
            let v = serde_json::json!({"token": t, "labels": sig.labels_field(), "counts": sig.counts_field(), "source": source});
            println!("{v}");
        } else {
            println!("{t}\t{sig}\t{}", serde_json::to_value(source)?.as_str().unwrap_or(""));
        }
    }
    Ok(())
}
