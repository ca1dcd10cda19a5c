//! `maskner tag`: tag entities in text with the model ensemble.

use super::input::{self, Record, Source};
use crate::compat::Numerics;
use crate::output::{self, Format};
use crate::pipeline::{Engine, EngineConfig, MemberSpec, PhraseMode, TagRequest};
use anyhow::{anyhow, bail};
use std::io::Write;
use std::path::PathBuf;

/// Tag entities in text.
///
/// Phrases come from `word:__entity__` markers when present (marker mode), from `spans` in JSONL
/// input, or are found automatically. Each input line (plain text, or JSONL
/// `{"id":..,"text":..,"spans":[[start,end],..]}` with character offsets) gives exactly one
/// output record, also on error.
///
/// Examples:
///   maskner tag "Imatinib:__entity__ mesylate:__entity__ is used to treat CML:__entity__"
///   maskner tag --input notes.jsonl --format hf > entities.jsonl
///   maskner tag --model bio=./my-bio-bert --model phi=bert-base-cased --format conll --input sentences.txt
///   maskner tag --members phi "Lou Gehrig worked in New York"
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Texts to tag.
    texts: Vec<String>,
    /// Read texts from FILE (`-` = stdin): one per line, or JSON Lines.
    #[arg(long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "jsonl")]
    format: Format,
    /// Reproduce the reference's exact numerics and quirks.
    #[arg(long)]
    compat: bool,
    /// Engine configuration (JSON: members with model, map, use_cls, precedence).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Override a member's model: NAME=HUB_ID_OR_DIR (repeatable).
    #[arg(long = "model", value_name = "NAME=MODEL")]
    models: Vec<String>,
    /// Use a prebuilt map for a member: NAME=DIR (repeatable).
    #[arg(long = "map", value_name = "NAME=DIR")]
    maps: Vec<String>,
    /// A token-classifier member's label -> taxonomy map: NAME=FILE (repeatable; default: the
    /// map built in for the model, see descriptors/members/).
    #[arg(long = "labels", value_name = "NAME=FILE")]
    labels: Vec<String>,
    /// The members to run, in order: configured names (bio, phi) or hub ids / model directories
/// of more masked LMs or token classifiers (kind read from their config.json).
    #[arg(long, value_delimiter = ',')]
    members: Vec<String>,
    /// Phrase selection: detect (markers if present, else automatic), markers, auto.
    #[arg(long, default_value = "detect")]
    mode: String,
    /// Add each entity's distributions and descriptors to JSON output.
    #[arg(long)]
    explain: bool,
    /// Inputs tagged per batch.
    #[arg(long, default_value_t = 32)]
    batch: usize,
}

/// Applies `--config`, `--model`, `--map`, `--members` and `--compat` to the default ensemble.
pub fn engine_config(
    config: Option<&PathBuf>,
    models: &[String],
    maps: &[String],
    members: &[String],
    labels: &[String],
    compat: bool,
) -> anyhow::Result<EngineConfig> {
    let mut cfg = match config {
        Some(p) => EngineConfig::from_file(p)?,
        None => EngineConfig::reference_default(),
    };
    let names: Vec<String> = cfg.members.iter().map(|m| m.name.clone()).collect();
    let split = |s: &str, what: &str| -> anyhow::Result<(String, String)> {
        let (n, v) = s.split_once('=').ok_or_else(|| anyhow!("--{what} {s}: expected NAME=VALUE"))?;
        if !names.iter().any(|x| x == n) {
            bail!("--{what} {s}: no member named {n} (members: {})", names.join(", "));
        }
        Ok((n.to_string(), v.to_string()))
    };
    for s in models {
        let (n, v) = split(s, "model")?;
        if let Some(m) = cfg.members.iter_mut().find(|m| m.name == n) {
            m.model = v;
        }
    }
    for s in maps {
        let (n, v) = split(s, "map")?;
        if let Some(m) = cfg.members.iter_mut().find(|m| m.name == n) {
            m.map = Some(PathBuf::from(v));
        }
    }
    if !members.is_empty() {
        let mut chosen = Vec::new();
        for n in members {
            match cfg.members.iter().find(|m| &m.name == n) {
                Some(m) => chosen.push(m.clone()),
                // a hub id or directory: a new member, its kind read from its config.json
                None if n.contains('/') || std::path::Path::new(n).is_dir() => chosen.push(MemberSpec::from_model(n)),
                None => bail!("--members: no member named {n} (members: {}; or give a hub id or model directory)", names.join(", ")),
            }
        }
        cfg.members = chosen;
    }
    for s in labels {
        let (n, v) = s.split_once('=').ok_or_else(|| anyhow!("--labels {s}: expected NAME=FILE"))?;
        let m = cfg.members.iter_mut().find(|m| m.name == n).ok_or_else(|| anyhow!("--labels {s}: no member named {n}"))?;
        m.labels = Some(PathBuf::from(v));
    }
    cfg.numerics = Numerics::from_compat_flag(compat);
    Ok(cfg)
}

/// A record's request: JSONL `spans` (character offsets) select explicit-span mode.
fn request(rec: &Record, mode: &PhraseMode) -> Result<TagRequest, String> {
    let text = rec.text.clone()?;
    if let Some(spans) = rec.raw.as_ref().and_then(|v| v.get("spans")) {
        let arr = spans.as_array().ok_or_else(|| format!("line {}: \"spans\" must be a list of [start, end]", rec.line))?;
        let mut chars = Vec::new();
        for s in arr {
            let pair = s.as_array().filter(|p| p.len() == 2).and_then(|p| Some((p[0].as_u64()? as usize, p[1].as_u64()? as usize)));
            let (a, b) = pair.ok_or_else(|| format!("line {}: each span must be [start, end] with character offsets", rec.line))?;
            chars.push(a..b);
        }
        let bytes = crate::text::char_to_byte_spans(&text, &chars).map_err(|e| format!("line {}: {e}", rec.line))?;
        return Ok(TagRequest { text, mode: PhraseMode::Spans(bytes) });
    }
    Ok(TagRequest { text, mode: mode.clone() })
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.input.is_none() && args.texts.is_empty() {
        bail!("no input: give texts as arguments or --input FILE (`-` for stdin)");
    }
    let mode = match args.mode.as_str() {
        "detect" => PhraseMode::Detect,
        "markers" => PhraseMode::Markers,
        "auto" => PhraseMode::Auto,
        m => bail!("--mode {m}: expected detect, markers or auto"),
    };
    let cfg = engine_config(args.config.as_ref(), &args.models, &args.maps, &args.members, &args.labels, args.compat)?;
    let engine = Engine::load(&cfg, true)?;
    let names = engine.member_names();
    let source = match &args.input {
        Some(p) => Source::File(p),
        None => Source::Args(&args.texts),
    };
    let bar = if args.input.is_some() { input::progress(None, "tagging") } else { indicatif::ProgressBar::hidden() };
    let mut out = std::io::stdout().lock();
    let mut failed = 0usize;
    let mut first_json = true;
    if args.format == Format::Json {
        writeln!(out, "[")?;
    }
    let mut records = input::records(source)?;
    loop {
        let batch: Vec<Record> = records.by_ref().take(args.batch.max(1)).collect::<anyhow::Result<_>>()?;
        if batch.is_empty() {
            break;
        }
        let reqs: Vec<Result<TagRequest, String>> = batch.iter().map(|r| request(r, &mode)).collect();
        let ok: Vec<TagRequest> = reqs.iter().filter_map(|r| r.as_ref().ok().cloned()).collect();
        let mut results = engine.tag(&ok)?.into_iter();
        for (rec, req) in batch.iter().zip(&reqs) {
            let res = match req {
                Ok(_) => results.next().unwrap_or_else(|| Err(anyhow!("no result"))).map_err(|e| format!("line {}: {e:#}", rec.line)),
                Err(e) => Err(e.clone()),
            };
            if res.is_err() {
                failed += 1;
            }
            match (&res, args.format) {
                (Err(e), Format::Conll) => {
                    eprintln!("maskner: {e}");
                    writeln!(out)?;
                }
                (Err(e), Format::Json) => {
                    let v = serde_json::to_string_pretty(&output::error_json(&rec.id, e))?;
                    write!(out, "{}{v}", if first_json { "" } else { ",\n" })?;
                    first_json = false;
                }
                (Err(e), _) => writeln!(out, "{}", output::error_json(&rec.id, e))?,
                (Ok(r), Format::Conll) => write!(out, "{}", output::conll(r, engine.numerics()))?,
                (Ok(r), Format::Hf) => writeln!(out, "{}", output::hf(r, &names))?,
                (Ok(r), Format::Jsonl) => writeln!(out, "{}", output::record_json(&rec.id, r, &names, args.explain))?,
                (Ok(r), Format::Json) => {
                    let v = serde_json::to_string_pretty(&output::record_json(&rec.id, r, &names, args.explain))?;
                    write!(out, "{}{v}", if first_json { "" } else { ",\n" })?;
                    first_json = false;
                }
            }
        }
        bar.inc(batch.len() as u64);
    }
    if args.format == Format::Json {
        writeln!(out, "\n]")?;
    }
    bar.finish_and_clear();
    if failed > 0 {
        bail!("{failed} input(s) could not be tagged (see the error records)");
    }
    Ok(())
}
