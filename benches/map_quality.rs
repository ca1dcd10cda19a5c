//! Held-out quality of map building on a model's real embeddings (all-MiniLM-L6-v2 in the
//! README's figures): hide 20% of the single-token seed terms, build from the rest, score the
//! hidden tokens' top group; 5 seeded splits.
//!
//!     cargo bench --bench map_quality -- --model DIR [--rule knn|v2|v1] [--k 20] [--power 3] [--min-sim 0.2] [--seeds DIR]

use anyhow::{Context, bail};
use maskner::entity_map::neighbours::Embeddings;
use maskner::entity_map::{BuildOptions, Rule, SeedSet, Taxonomy, quality};
use maskner::mlm::MaskedLm;

fn main() -> anyhow::Result<()> {
    let mut model = None;
    let mut seeds_dir = None;
    let mut opts = BuildOptions::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().context("missing value");
        match a.as_str() {
            "--model" => model = Some(val()?),
            "--seeds" => seeds_dir = Some(val()?),
            "--rule" => {
                opts.rule = match val()?.as_str() {
                    "knn" => Rule::Knn,
                    "v2" => Rule::V2,
                    "v1" => Rule::V1,
                    r => bail!("unknown rule {r}"),
                }
            }
            "--k" => opts.k = val()?.parse()?,
            "--power" => opts.power = val()?.parse()?,
            "--min-sim" => opts.min_similarity = val()?.parse()?,
            "--bench" => {}
            other => bail!("unknown argument {other}"),
        }
    }
    let Some(model) = model.or_else(|| std::env::var("MASKNER_MINILM_DIR").ok()) else {
        eprintln!("usage: cargo bench --bench map_quality -- --model DIR [--rule knn|v2|v1] [--k N] [--power P] [--min-sim S]");
        return Ok(());
    };
    let lm = MaskedLm::load(&model, std::path::Path::new(&model))?;
    let tax = Taxonomy::jan2022();
    let seeds = match seeds_dir {
        Some(d) => SeedSet::load(std::path::Path::new(&d), &tax)?,
        None => SeedSet::builtin(&tax)?,
    };
    let vocab = lm.tokenizer().vocab();
    let emb = Embeddings::from_tensor(&lm.word_embeddings().narrow(0, 0, vocab.len())?)?;
    let t = std::time::Instant::now();
    let report = quality::held_out(vocab, &emb, &seeds, &tax, &opts, 5, 0.2)?;
    eprintln!("{:.1}s", t.elapsed().as_secs_f64());
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
