//! `maskner build-map`: build a descriptor -> entity map from seed lists, or import a
//! reference-format labels.txt.

use crate::entity_map::neighbours::SearchMode;
use crate::entity_map::{self, BuildOptions, MapBuild, Rule, Space};
use anyhow::bail;
use std::path::PathBuf;

/// Build the descriptor -> entity map of a model's vocabulary.
///
/// Seed labels are spread over the vocabulary through cosine neighbourhoods of the model's
/// input word embeddings (or, with --space, its contextual token vectors). Without --out the map goes to the cache, where `maskner tag` finds it.
///
/// Examples:
///   maskner build-map --model bert-base-cased
///   maskner build-map --model ./my-bert --seeds descriptors/seeds --out my-map --rule v2
///   maskner build-map --import a100_labels.txt --out bio-map
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Model (hub id or directory) whose vocabulary and embeddings to use.
    #[arg(long, env = "MASKNER_MODEL", required_unless_present = "import")]
    model: Option<String>,
    /// Seed list directory (one <LABEL>.txt per label); default: the lists built into maskner.
    #[arg(long)]
    seeds: Option<PathBuf>,
    /// Output directory (default: the map cache used by `maskner tag`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Import a reference-format labels.txt (`LABELS COUNTS token` lines) instead of building.
    #[arg(long, value_name = "LABELS_TXT", conflicts_with_all = ["seeds", "rule"])]
    import: Option<PathBuf>,
    /// Magnification rule: knn (ours), v2 (the reference's current rule), v1 (its older rule).
    #[arg(long, value_enum)]
    rule: Option<Rule>,
    /// Neighbour search: auto picks exact search for small problems, HNSW for large ones.
    #[arg(long, value_enum, default_value = "auto")]
    search: SearchMode,
    /// Vectors the neighbourhoods come from: input (the input word embeddings, the reference's
    /// space), contextual (each token's output in `[CLS] token [SEP]`, one forward pass over the
    /// vocabulary), or mixed (both; cosine = their mean).
    #[arg(long, value_enum, default_value = "input")]
    space: Space,
    /// Neighbours that vote for a token (knn rule).
    #[arg(short, long, default_value_t = 20)]
    k: usize,
    /// Entity taxonomy: jan2022 (default), feb2022, or a file.
    #[arg(long, default_value = "jan2022")]
    taxonomy: String,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if let Some(path) = &args.import {
        let Some(out) = &args.out else { bail!("--import needs --out DIR") };
        let map = entity_map::import_map(path, out, args.model.as_deref(), &args.taxonomy)?;
        eprintln!("maskner: imported {} tokens into {}", map.len(), out.display());
        println!("{}", serde_json::to_string_pretty(map.meta())?);
        return Ok(());
    }
    let Some(model) = &args.model else { bail!("--model is required") };
    if args.k == 0 {
        bail!("-k must be at least 1 (neighbours that vote for a token)");
    }
    let req = MapBuild {
        model: model.clone(),
        seeds: args.seeds.clone(),
        out: args.out.clone(),
        options: BuildOptions {
            rule: args.rule.unwrap_or(Rule::Knn),
            search: args.search,
            k: args.k,
            space: args.space,
            ..BuildOptions::default()
        },
        taxonomy: args.taxonomy.clone(),
    };
    let (map, stats, out) = entity_map::build_map(&req, &super::progress::Bars::default())?;
    eprintln!(
        "maskner: map of {} tokens ({} labelled seeds, {} with counts) written to {} in {:.1}s ({} search{})",
        stats.vocab,
        stats.labelled_tokens,
        stats.tokens_with_counts,
        out.display(),
        stats.seconds,
        stats.search,
        stats.recall_at_k.map(|r| format!(", recall@k {r:.3} on a sample")).unwrap_or_default()
    );
    println!("{}", serde_json::to_string_pretty(map.meta())?);
    Ok(())
}
