//! `maskner lookup`: the entity signatures of tokens.

use crate::entity_map::{self, EntityMap};
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
    let map: EntityMap = match (&args.map, &args.model) {
        (Some(dir), _) => entity_map::open_map(dir)?,
        (None, Some(spec)) => entity_map::map_of_model(spec, &super::progress::Bars::default())?,
        (None, None) => bail!("give --map DIR or --model MODEL"),
    };
    if args.tokens.is_empty() {
        bail!("no tokens to look up");
    }
    for t in &args.tokens {
        if args.json {
            println!("{}", entity_map::lookup_record(&map, t));
        } else {
            let (sig, source) = map.lookup(t);
            println!("{t}\t{sig}\t{}", serde_json::to_value(source)?.as_str().unwrap_or(""));
        }
    }
    Ok(())
}
