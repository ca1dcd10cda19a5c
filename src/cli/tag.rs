//! `maskner tag`: tag entities in text with the model ensemble.

use super::input::{self, Record, Source};
use crate::compat::Numerics;
use crate::output::{self, Format};
use crate::pipeline::{Engine, EngineConfig, MemberSpec, PhraseMode, TagRequest, TagResult};
use crate::token_classify::Aggregation;
use anyhow::{anyhow, bail};
use std::io::Write;
use std::path::PathBuf;

/// Tag entities in text.
///
/// Phrases come from `word:__entity__` markers when present (marker mode), from `spans` in JSONL
/// input, or are found automatically. Each input text gives exactly one output record, also on
/// error (an error record in its place; the exit code is then 2).
///
/// Input (--input FILE, `-` = stdin): one text per line, or JSON Lines
/// `{"id":..,"text":..,"spans":[[start,end],..]}` (character offsets, end exclusive). A leading
/// UTF-8 byte-order mark is skipped; the first non-blank line decides: JSON Lines if it starts
/// with `{`, else plain text. A line that does not fit that decision (a plain line in JSON
/// Lines, a JSON record in plain text) is an error record, never read the other way. Blank
/// lines are empty records. Texts are given either as arguments or with --input, not both.
///
/// Members: the default ensemble is `bio` and `phi`; --members picks one or two of them or adds
/// masked LMs and token classifiers by hub id or directory. A member added that way is named by
/// its hub id or path exactly as written (`--labels fran-martinez/scibert_scivocab_cased_ner_jnlpba=FILE`).
/// At most two members run. A token classifier alone reports its own entities (Hugging Face
/// pipeline entities with --aggregation, windows of --stride overlap over long texts, labels
/// mapped to our groups; the model's label is `label` in json output); in an ensemble it
/// votes on the phrases.
///
/// Entities: `start`/`end` are character offsets into the input text. In marker mode `word`
/// is the phrase's words without the markers, joined by single spaces.
///
/// Examples:
///   maskner tag "Imatinib:__entity__ mesylate:__entity__ is used to treat CML:__entity__"
///   maskner tag --input notes.jsonl --format hf > entities.jsonl
///   maskner tag --model bio=./my-bio-bert --model phi=bert-base-cased --format conll --input sentences.txt
///   maskner tag --members phi "Lou Gehrig worked in New York"
///   maskner tag --members fran-martinez/scibert_scivocab_cased_ner_jnlpba --aggregation max --format hf "IL-2 is expressed in T cells."
///   maskner tag --members bio,venkatd/BIOMed_NER --input notes.txt
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Texts to tag (or --input).
    #[arg(conflicts_with = "input")]
    texts: Vec<String>,
    /// Read texts from FILE (`-` = stdin): one per line, or JSON Lines
    /// `{"id":..,"text":..,"spans":[[start,end],..]}` (character offsets). A leading UTF-8
    /// byte-order mark is skipped; the first non-blank line decides: JSON Lines if it starts
    /// with `{`, else plain text; a line that contradicts that (a plain line in JSON Lines, a
    /// JSON record in plain text) is an error record. Blank lines are empty records.
    #[arg(long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// Output format. Offsets are characters of the input text; in marker mode an entity's
    /// `word` is the phrase's words without markers, joined by single spaces.
    #[arg(long, value_enum, default_value = "jsonl")]
    format: Format,
    /// Reproduce the reference's exact numerics and quirks.
    #[arg(long)]
    compat: bool,
    /// Engine configuration (JSON: members with model, map, use_cls, precedence, ...).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Override a member's model: NAME=HUB_ID_OR_DIR (repeatable).
    #[arg(long = "model", value_name = "NAME=MODEL")]
    models: Vec<String>,
    /// Use a prebuilt map for a masked-LM member: NAME=DIR (repeatable).
    #[arg(long = "map", value_name = "NAME=DIR")]
    maps: Vec<String>,
    /// A token-classifier member's label -> taxonomy map: NAME=FILE (repeatable; default: the
    /// map built in for the model, see descriptors/members/).
    #[arg(long = "labels", value_name = "NAME=FILE")]
    labels: Vec<String>,
    /// The members to run, in order, at most two: configured names (bio, phi) or hub ids /
    /// model directories of more masked LMs or token classifiers (kind read from their
    /// config.json; such a member is named by the id or path as written).
    #[arg(long, value_delimiter = ',')]
    members: Vec<String>,
    /// Token-classifier members: how tokens form entities (the Hugging Face pipeline's
    /// aggregation_strategy). Default: first.
    #[arg(long, value_enum, value_name = "STRATEGY")]
    aggregation: Option<Aggregation>,
    /// Token-classifier members: tokens shared by consecutive windows of a text too long for
    /// the model (default 128, at most half a window; must be below the window's length).
    #[arg(long, value_name = "N")]
    stride: Option<usize>,
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

/// Applies `--config`, `--members`, then `--model`, `--map`, `--labels` (which may name members
/// that `--members` added) and `--compat` to the default ensemble.
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
    if !members.is_empty() {
        let configured: Vec<String> = cfg.members.iter().map(|m| m.name.clone()).collect();
        if members.len() > 2 {
            bail!("--members {}: at most two members are supported (got {})", members.join(","), members.len());
        }
        let mut chosen: Vec<MemberSpec> = Vec::new();
        for n in members {
            if chosen.iter().any(|m| &m.name == n) {
                bail!("--members: {n} is listed twice; each member runs once");
            }
            match cfg.members.iter().find(|m| &m.name == n) {
                Some(m) => chosen.push(m.clone()),
                // a hub id or directory: a new member, its kind read from its config.json
                None if n.contains('/') || std::path::Path::new(n).is_dir() => chosen.push(MemberSpec::from_model(n)),
                None => bail!("--members: no member named {n} (members: {}; or give a hub id or model directory)", configured.join(", ")),
            }
        }
        cfg.members = chosen;
    }
    for s in models {
        let (m, v) = member_arg(&mut cfg.members, s, "model")?;
        m.model = v;
    }
    for s in maps {
        let (m, v) = member_arg(&mut cfg.members, s, "map")?;
        m.map = Some(PathBuf::from(v));
    }
    for s in labels {
        let (m, v) = member_arg(&mut cfg.members, s, "labels")?;
        m.labels = Some(PathBuf::from(v));
    }
    cfg.numerics = Numerics::from_compat_flag(compat);
    Ok(cfg)
}

/// The member a `--what NAME=VALUE` argument names, and the value.
fn member_arg<'a>(members: &'a mut [MemberSpec], arg: &str, what: &str) -> anyhow::Result<(&'a mut MemberSpec, String)> {
    let (n, v) = arg.split_once('=').ok_or_else(|| anyhow!("--{what} {arg}: expected NAME=VALUE"))?;
    let names: Vec<String> = members.iter().map(|m| m.name.clone()).collect();
    let m = members
        .iter_mut()
        .find(|m| m.name == n)
        .ok_or_else(|| anyhow!("--{what} {arg}: no member named {n} (members: {})", names.join(", ")))?;
    Ok((m, v.to_string()))
}

/// Applies `--aggregation` and `--stride` to every token-classifier member; an error if there
/// is none (the flags would do nothing).
pub fn classifier_options(cfg: &mut EngineConfig, aggregation: Option<Aggregation>, stride: Option<usize>) -> anyhow::Result<()> {
    if aggregation.is_none() && stride.is_none() {
        return Ok(());
    }
    let mut any = false;
    for m in &mut cfg.members {
        if m.is_token_classifier()? {
            any = true;
            m.aggregation = aggregation.or(m.aggregation);
            m.stride = stride.or(m.stride);
        }
    }
    if !any {
        let names: Vec<&str> = cfg.members.iter().map(|m| m.name.as_str()).collect();
        bail!("--aggregation and --stride apply to token-classifier members, and none of the members ({}) is one", names.join(", "));
    }
    Ok(())
}

/// A record's request: JSONL `spans` (character offsets) select explicit-span mode.
fn request(rec: &Record, mode: &PhraseMode) -> Result<TagRequest, String> {
    let text = rec.text.clone()?;
    if let Some(spans) = rec.raw.as_ref().and_then(|v| v.get("spans")) {
        let arr = spans.as_array().ok_or_else(|| format!("{}: \"spans\" must be a list of [start, end]", rec.place))?;
        let mut chars = Vec::new();
        for s in arr {
            let pair = s.as_array().filter(|p| p.len() == 2).and_then(|p| Some((p[0].as_u64()? as usize, p[1].as_u64()? as usize)));
            let (a, b) = pair.ok_or_else(|| format!("{}: each span must be [start, end] with character offsets", rec.place))?;
            chars.push(a..b);
        }
        let bytes = crate::text::char_to_byte_spans(&text, &chars).map_err(|e| format!("{}: {e}", rec.place))?;
        return Ok(TagRequest { text, mode: PhraseMode::Spans(bytes) });
    }
    Ok(TagRequest { text, mode: mode.clone() })
}

/// One result per request. When the engine fails for a batch as a whole (a model error), its
/// requests are tagged one at a time, so that only those that fail alone become error records.
fn tag_batch<F>(tag: F, reqs: &[TagRequest]) -> Vec<anyhow::Result<TagResult>>
where
    F: Fn(&[TagRequest]) -> anyhow::Result<Vec<anyhow::Result<TagResult>>>,
{
    match tag(reqs) {
        Ok(results) if results.len() == reqs.len() => results,
        Err(e) if reqs.len() == 1 => vec![Err(e)],
        _ => reqs
            .iter()
            .map(|r| match tag(std::slice::from_ref(r)) {
                Ok(mut v) if v.len() == 1 => v.pop().unwrap_or_else(|| Err(anyhow!("internal error: no result"))),
                Ok(_) => Err(anyhow!("internal error: no result")),
                Err(e) => Err(e),
            })
            .collect(),
    }
}

/// Writes records in the chosen format; `json` records form one array, closed by
/// [`finish`](Self::finish) whatever happened before.
struct Sink<'a, W: Write> {
    out: W,
    format: Format,
    names: &'a [&'a str],
    numerics: Numerics,
    explain: bool,
    first: bool,
    failed: usize,
}

impl<'a, W: Write> Sink<'a, W> {
    fn new(mut out: W, format: Format, names: &'a [&'a str], numerics: Numerics, explain: bool) -> std::io::Result<Self> {
        if format == Format::Json {
            writeln!(out, "[")?;
        }
        Ok(Self { out, format, names, numerics, explain, first: true, failed: 0 })
    }

    fn json_item(&mut self, v: &serde_json::Value) -> anyhow::Result<()> {
        let sep = if self.first { "" } else { ",\n" };
        write!(self.out, "{sep}{}", serde_json::to_string_pretty(v)?)?;
        self.first = false;
        Ok(())
    }

    fn write(&mut self, rec: &Record, res: Result<&TagResult, &str>) -> anyhow::Result<()> {
        match (res, self.format) {
            (Err(e), _) => {
                self.failed += 1;
                match self.format {
                    Format::Conll => {
                        eprintln!("maskner: {e}");
                        writeln!(self.out)?;
                    }
                    Format::Json => self.json_item(&output::error_json(&rec.id, e))?,
                    Format::Jsonl | Format::Hf => writeln!(self.out, "{}", output::error_json(&rec.id, e))?,
                }
            }
            (Ok(r), Format::Conll) => write!(self.out, "{}", output::conll(r, self.numerics))?,
            (Ok(r), Format::Hf) => writeln!(self.out, "{}", output::hf(r, self.names))?,
            (Ok(r), Format::Jsonl) => writeln!(self.out, "{}", output::record_json(&rec.id, r, self.names, self.explain))?,
            (Ok(r), Format::Json) => self.json_item(&output::record_json(&rec.id, r, self.names, self.explain))?,
        }
        Ok(())
    }

    /// Closes the `json` array; returns the number of error records.
    fn finish(mut self) -> std::io::Result<usize> {
        if self.format == Format::Json {
            writeln!(self.out, "\n]")?;
        }
        self.out.flush()?;
        Ok(self.failed)
    }
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
    let mut cfg = engine_config(args.config.as_ref(), &args.models, &args.maps, &args.members, &args.labels, args.compat)?;
    classifier_options(&mut cfg, args.aggregation, args.stride)?;
    let engine = Engine::load(&cfg, true)?;
    let names = engine.member_names();
    let source = match &args.input {
        Some(p) => Source::File(p),
        None => Source::Args(&args.texts),
    };
    let bar = if args.input.is_some() { input::progress(None, "tagging") } else { indicatif::ProgressBar::hidden() };
    let mut sink = Sink::new(std::io::stdout().lock(), args.format, &names, engine.numerics(), args.explain)?;
    let written = tag_records(&engine, source, &mode, args.batch, &bar, &mut sink);
    bar.finish_and_clear();
    // the json array is closed even when reading the input failed part-way
    let failed = sink.finish()?;
    written?;
    if failed > 0 {
        bail!("{failed} input(s) could not be tagged (see the error records)");
    }
    Ok(())
}

/// Tags every record of `source` in batches, one output record per input record.
fn tag_records<W: Write>(
    engine: &Engine,
    source: Source<'_>,
    mode: &PhraseMode,
    batch_size: usize,
    bar: &indicatif::ProgressBar,
    sink: &mut Sink<'_, W>,
) -> anyhow::Result<()> {
    let mut records = input::records(source)?;
    loop {
        let batch: Vec<Record> = records.by_ref().take(batch_size.max(1)).collect::<anyhow::Result<_>>()?;
        if batch.is_empty() {
            return Ok(());
        }
        let reqs: Vec<Result<TagRequest, String>> = batch.iter().map(|r| request(r, mode)).collect();
        let ok: Vec<TagRequest> = reqs.iter().filter_map(|r| r.as_ref().ok().cloned()).collect();
        let mut results = tag_batch(|rs| engine.tag(rs), &ok).into_iter();
        for (rec, req) in batch.iter().zip(&reqs) {
            let res = match req {
                Ok(_) => results.next().unwrap_or_else(|| Err(anyhow!("no result"))).map_err(|e| format!("{}: {e:#}", rec.place)),
                Err(e) => Err(e.clone()),
            };
            sink.write(rec, res.as_ref().map_err(String::as_str))?;
        }
        bar.inc(batch.len() as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(text: &str) -> TagRequest {
        TagRequest { text: text.into(), mode: PhraseMode::Auto }
    }

    #[test]
    fn a_failing_batch_is_retried_record_by_record() {
        // an engine that fails any batch holding "bad" as a whole, and "bad" alone
        let calls = std::cell::Cell::new(0);
        let engine = |rs: &[TagRequest]| -> anyhow::Result<Vec<anyhow::Result<TagResult>>> {
            calls.set(calls.get() + 1);
            if rs.iter().any(|r| r.text == "bad") {
                bail!("model failure on {}", rs.len());
            }
            Ok(rs.iter().map(|r| Ok(TagResult { text: r.text.clone(), sentences: Vec::new(), classified: None })).collect())
        };
        let got = tag_batch(engine, &[req("a"), req("bad"), req("c")]);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].as_ref().unwrap().text, "a");
        assert_eq!(got[1].as_ref().unwrap_err().to_string(), "model failure on 1");
        assert_eq!(got[2].as_ref().unwrap().text, "c");
        assert_eq!(calls.get(), 4, "the batch, then each record");

        calls.set(0);
        let got = tag_batch(engine, &[req("bad")]);
        assert!(got[0].is_err());
        assert_eq!(calls.get(), 1, "a batch of one is not run twice");
        assert_eq!(tag_batch(engine, &[req("a"), req("b")]).len(), 2);
    }
}
