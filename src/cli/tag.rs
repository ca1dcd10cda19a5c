//! `maskner tag`: tag entities in text with the model ensemble.

use super::engine_args::EngineArgs;
use super::input::{self, Record, Source};
use super::progress::{Bars, bar};
use crate::compat::Numerics;
use crate::engine::{Engine, PhraseMode, TagRequest, TagResult};
use crate::output::{self, Format};
use anyhow::bail;
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
///   maskner tag --input notes.jsonl --format displacy > displacy.jsonl
///   maskner tag --input notes.jsonl --format html --explain > notes.html
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
    /// Engine configuration (JSON: members with model, map, use_cls, precedence, ...).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    engine: EngineArgs,
    /// Phrase selection: detect (markers if present, else automatic), markers, auto.
    #[arg(long, default_value = "detect")]
    mode: String,
    /// Add each entity's distributions and descriptors (and every typed phrase) to JSON output;
    /// with `--format html`, the page's entity panels show them.
    #[arg(long)]
    explain: bool,
    /// Inputs tagged per batch.
    #[arg(long, default_value_t = 32)]
    batch: usize,
}

/// A record's request: JSONL `spans` (character offsets) select explicit-span mode.
fn request(rec: &Record, mode: &PhraseMode) -> Result<TagRequest, String> {
    let text = rec.text.clone()?;
    let spans = rec.raw.as_ref().and_then(|v| v.get("spans"));
    TagRequest::from_record(&text, spans, mode).map_err(|e| format!("{}: {e}", rec.place))
}

/// Writes records in the chosen format; `json` records form one array, closed by
/// [`finish`](Self::finish) whatever happened before; `html` records are kept for the one page
/// `finish` writes.
struct Sink<'a, W: Write> {
    out: W,
    format: Format,
    names: &'a [&'a str],
    numerics: Numerics,
    explain: bool,
    first: bool,
    failed: usize,
    page: Vec<serde_json::Value>,
}

impl<'a, W: Write> Sink<'a, W> {
    fn new(mut out: W, format: Format, names: &'a [&'a str], numerics: Numerics, explain: bool) -> std::io::Result<Self> {
        if format == Format::Json {
            writeln!(out, "[")?;
        }
        Ok(Self { out, format, names, numerics, explain, first: true, failed: 0, page: Vec::new() })
    }

    fn json_item(&mut self, v: &serde_json::Value) -> anyhow::Result<()> {
        let sep = if self.first { "" } else { ",\n" };
        write!(self.out, "{sep}{}", serde_json::to_string_pretty(v)?)?;
        self.first = false;
        Ok(())
    }

    fn write(&mut self, rec: &Record, res: Result<&TagResult, &str>) -> anyhow::Result<()> {
        let v = match res {
            Err(e) => {
                self.failed += 1;
                if self.format == Format::Conll {
                    eprintln!("maskner: {e}");
                    writeln!(self.out)?;
                    return Ok(());
                }
                output::error_json(&rec.id, e)
            }
            Ok(r) => output::render(self.format, &rec.id, r, self.names, self.numerics, self.explain),
        };
        match (self.format, v) {
            (Format::Json, v) => self.json_item(&v)?,
            (Format::Html, v) => self.page.push(v),
            (Format::Conll, serde_json::Value::String(text)) => write!(self.out, "{text}")?,
            (_, v) => writeln!(self.out, "{v}")?,
        }
        Ok(())
    }

    /// Closes the `json` array; returns the number of error records.
    fn finish(mut self) -> std::io::Result<usize> {
        if self.format == Format::Json {
            writeln!(self.out, "\n]")?;
        }
        if self.format == Format::Html {
            let page = crate::view::tag_page(std::mem::take(&mut self.page), self.names, self.explain);
            self.out.write_all(page.as_bytes())?;
        }
        self.out.flush()?;
        Ok(self.failed)
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.input.is_none() && args.texts.is_empty() {
        bail!("no input: give texts as arguments or --input FILE (`-` for stdin)");
    }
    let mode = PhraseMode::from_name(&args.mode).map_err(|e| anyhow::anyhow!("--mode {e}"))?;
    let cfg = args.engine.config(args.config.as_deref())?;
    let engine = Engine::load(&cfg, &Bars::default())?;
    let names = engine.member_names();
    let source = match &args.input {
        Some(p) => Source::File(p),
        None => Source::Args(&args.texts),
    };
    let bar = if args.input.is_some() { bar(None, "tagging") } else { indicatif::ProgressBar::hidden() };
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
        let mut results = engine.tag(&ok).into_iter();
        for (rec, req) in batch.iter().zip(&reqs) {
            let res = match req {
                Ok(_) => match results.next() {
                    Some(r) => r.map_err(|e| format!("{}: {e}", rec.place)),
                    None => Err(format!("{}: internal error: no result", rec.place)),
                },
                Err(e) => Err(e.clone()),
            };
            sink.write(rec, res.as_ref().map_err(String::as_str))?;
        }
        bar.inc(batch.len() as u64);
    }
}
