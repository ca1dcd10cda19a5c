//! Descriptor maps measured on the reference's logged *real* descriptors (issue 18's table):
//! for each embedding space and rule, build the map of a model (all-MiniLM-L6-v2 here), replay
//! the logged descriptors with its signatures (`maskner replay --map`), with and without the
//! seed fallback, and score with the reference scorer against the custom gold. Optionally the
//! held-out seed benchmark of the same builds (`--held-out`).
//!
//!     cargo bench --bench map_replay -- [--model DIR] [--benchmarks DIR] [--seeds DIR]
//!         [--rules knn,v2,v1] [--spaces input,contextual,mixed] [--k 20] [--power 3]
//!         [--min-sim 0.2] [--held-out] [--json]
//!
//! The model defaults to `$MASKNER_MINILM_DIR`, the benchmarks to `$MASKNER_BENCHMARKS` or
//! `../shared/benchmarks`; without them it prints a note and exits 0.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::ValueEnum;
use maskner::compat::Numerics;
use maskner::entity_map::{BuildOptions, Rule, SeedSet, Space, Taxonomy, cache, quality, space};
use maskner::eval::Config;
use maskner::mlm::MaskedLm;
use maskner::replay::map::{MapReplayOptions, MapReplayReport, Signatures, replay_with_map};

struct Args {
    model: Option<String>,
    benchmarks: PathBuf,
    seeds: Option<PathBuf>,
    rules: Vec<Rule>,
    spaces: Vec<Space>,
    opts: BuildOptions,
    held_out: bool,
    json: bool,
}

fn parse_list<T: ValueEnum>(s: &str) -> anyhow::Result<Vec<T>> {
    s.split(',').map(|x| T::from_str(x.trim(), true).map_err(|e| anyhow::anyhow!("{x}: {e}"))).collect()
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        model: std::env::var("MASKNER_MINILM_DIR").ok(),
        benchmarks: std::env::var_os("MASKNER_BENCHMARKS").map(PathBuf::from).unwrap_or_else(|| "../shared/benchmarks".into()),
        seeds: None,
        rules: vec![Rule::Knn, Rule::V2, Rule::V1],
        spaces: vec![Space::Input, Space::Contextual, Space::Mixed],
        opts: BuildOptions::default(),
        held_out: false,
        json: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut val = || it.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--model" => a.model = Some(val()?),
            "--benchmarks" => a.benchmarks = val()?.into(),
            "--seeds" => a.seeds = Some(val()?.into()),
            "--rules" => a.rules = parse_list(&val()?)?,
            "--spaces" => a.spaces = parse_list(&val()?)?,
            "--k" => a.opts.k = val()?.parse()?,
            "--power" => a.opts.power = val()?.parse()?,
            "--min-sim" => a.opts.min_similarity = val()?.parse()?,
            "--held-out" => a.held_out = true,
            "--json" => a.json = true,
            "--bench" => {}
            other => bail!("unknown argument {other}"),
        }
    }
    Ok(a)
}

/// One row of the table.
#[derive(serde::Serialize)]
struct Row {
    space: String,
    rule: String,
    plain: MapReplayReport,
    seed_fallback: Option<MapReplayReport>,
    held_out: Option<quality::QualityReport>,
}

fn f1s(r: &MapReplayReport) -> String {
    let s: Vec<String> = r.scores.iter().map(|s| format!("{:.2}", s.f1_1p)).collect();
    let all_2p = r.scores.first().map_or(0.0, |s| s.f1_2p);
    format!("{} | {all_2p:.2} | {}/{}", s.join(" / "), r.span_top_group_agreement.agree, r.spans)
}

fn main() -> anyhow::Result<()> {
    let a = args()?;
    let custom = a.benchmarks.join("custom");
    let log = custom.join("reference_query_response_log.txt");
    let Some(model) = a.model.clone() else {
        eprintln!("map_replay: no model (give --model DIR or set MASKNER_MINILM_DIR); skipped");
        return Ok(());
    };
    if !log.is_file() {
        eprintln!("map_replay: {} not found (give --benchmarks DIR or set MASKNER_BENCHMARKS); skipped", log.display());
        return Ok(());
    }
    let tax = Taxonomy::jan2022();
    let config = Config::from_path(&custom.join("reference_eval_config.json"))?;
    let gold = custom.join("test.tsv");
    let lm = MaskedLm::load(&model, Path::new(&model))?;
    let seeds = match &a.seeds {
        Some(d) => SeedSet::load(d, &tax)?,
        None => SeedSet::builtin(&tax)?,
    };
    let replay = |signatures: Signatures<'_>| -> anyhow::Result<MapReplayReport> {
        let options =
            MapReplayOptions { numerics: Numerics::Fixed, taxonomy: tax.clone(), signatures, gold: Some((gold.as_path(), &config)) };
        Ok(replay_with_map(&log, &options)?.report)
    };
    let logged = replay(Signatures::Logged)?;
    let mut rows = Vec::new();
    for &sp in &a.spaces {
        let t = std::time::Instant::now();
        let emb = space::embeddings(&lm, sp, &|_, _| {})?;
        eprintln!("map_replay: {} space in {:.1}s", sp.name(), t.elapsed().as_secs_f64());
        for &rule in &a.rules {
            let opts = BuildOptions { rule, space: sp, ..a.opts.clone() };
            let (map, stats) = cache::build_with_embeddings(&lm, &emb, &seeds, &opts, &tax, &maskner::progress::Quiet)?;
            eprintln!("map_replay: {} {} built in {:.1}s", sp.name(), rule.name(), stats.seconds);
            let plain = replay(Signatures::Map { map: &map, seed_fallback: None })?;
            let fallback = replay(Signatures::Map { map: &map, seed_fallback: Some(&seeds) })?;
            let held_out =
                if a.held_out { Some(quality::held_out(lm.tokenizer().vocab(), &emb, &seeds, &tax, &opts, 5, 0.2)?) } else { None };
            rows.push(Row { space: sp.name().into(), rule: rule.name().into(), plain, seed_fallback: Some(fallback), held_out });
        }
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "logged": logged, "maps": rows }))?);
        return Ok(());
    }
    println!(
        "| signatures | 1p F1 all / 1-53 / 54-106 | 2p F1 | span top group | token top group | with seed fallback: 1p F1 all / 1-53 / 54-106 | 2p | spans | held-out |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    println!("| logged (the reference's own) | {} | - | - | - | - | - |", f1s(&logged));
    for r in &rows {
        let fb = r.seed_fallback.as_ref().map(f1s).unwrap_or_default();
        let ho = r.held_out.as_ref().map(|q| format!("{:.3}", q.mean)).unwrap_or_else(|| "-".into());
        println!("| {} {} | {} | {:.3} | {} | {} |", r.space, r.rule, f1s(&r.plain), r.plain.token_top_group_agreement.rate, fb, ho);
    }
    Ok(())
}
