//! `maskner tag`: tag entities in text with the model ensemble.

use super::engine_args::EngineArgs;
use super::input::{self, LineReader, Record};
use super::progress::{Bars, InputBar};
use super::resume::{self, Identity, Output};
use crate::compat::Numerics;
use crate::engine::{Engine, PhraseMode, TagRequest, TagResult};
use crate::output::{self, Format};
use anyhow::bail;
use std::io::Write;
use std::path::{Path, PathBuf};

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
///   maskner tag --input notes.jsonl --output tags.jsonl --resume --threads 4
///
/// Large inputs: with --output FILE, a line-oriented --format (jsonl, conll, hf, displacy) and
/// a file --input, the output is made durable in batches (about once a second) with a
/// checkpoint in FILE.resume.json; after a crash or kill, the same command with --resume
/// continues where the last durable record ended, and the output ends up byte-identical to an
/// uninterrupted run's. The sidecar is removed when the run completes.
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
    /// Write the records to FILE (created or overwritten) instead of stdout, each as soon as it
    /// is tagged. With a file --input and a line-oriented format (jsonl, conll, hf, displacy)
    /// the run is checkpointed in FILE.resume.json for --resume.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Continue an interrupted run of the same command: cut --output back to its last
    /// checkpointed record and tag the rest. Refused if the input's tagged part, the flags,
    /// the engine or its model files changed. Starts afresh when there is nothing to resume.
    #[arg(long, requires = "output")]
    resume: bool,
    /// Compute threads, at most (default: one per core).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
}

/// More compute threads than this is a typo, not a machine.
const MAX_THREADS: usize = 1024;

/// Formats written one record per line (or block, for conll) that `--resume` can continue: a
/// whitelist, so a new whole-document format is not resumable until it is added here.
fn resumable(format: Format) -> bool {
    matches!(format, Format::Jsonl | Format::Conll | Format::Hf | Format::Displacy)
}

/// Caps all compute at `n` threads. Must run before any thread starts (so before the engine
/// loads): it sets `RAYON_NUM_THREADS`, which candle reads to split matrix products, and
/// builds rayon's global pool with `n` threads, where the engine, candle and the tokenizer run
/// their parallel work.
fn cap_threads(n: usize) -> anyhow::Result<()> {
    if !(1..=MAX_THREADS).contains(&n) {
        bail!("--threads {n}: give a number of threads from 1 to {MAX_THREADS}");
    }
    // SAFETY: nothing has started a thread yet (argument parsing only), so nothing reads the
    // environment concurrently.
    unsafe { std::env::set_var("RAYON_NUM_THREADS", n.to_string()) };
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build_global()
        .map_err(|e| anyhow::anyhow!("--threads {n}: cannot start the compute threads: {e}"))
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

/// `--format`'s spelling of `format`.
fn format_name(format: Format) -> String {
    use clap::ValueEnum;
    format.to_possible_value().map(|v| v.get_name().to_string()).unwrap_or_default()
}

/// Why `--resume` cannot be used with these arguments, if it cannot (checked before the engine
/// loads).
fn resume_refusal(args: &Args) -> Option<String> {
    let input = args.input.as_deref();
    if input.is_none() || input == Some(Path::new("-")) {
        return Some("--resume needs a file --input (stdin cannot be read again from where a run stopped)".into());
    }
    if !resumable(args.format) {
        let name = format_name(args.format);
        return Some(format!(
            "--resume works with the line-oriented formats jsonl, conll, hf and displacy, not --format {name} (one document that cannot be appended to)"
        ));
    }
    None
}

/// Fails early, before the engine loads, if `out` cannot be created: its directory is missing
/// or not a directory.
fn check_output_dir(out: &Path) -> anyhow::Result<()> {
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => return Ok(()),
    };
    if !dir.is_dir() {
        bail!("{}: cannot create the output: {} is not a directory", out.display(), dir.display());
    }
    Ok(())
}

/// What a checkpoint must find unchanged: flags, engine, and the members' files.
fn identity(args: &Args, cfg: &crate::engine::EngineConfig, engine: &Engine) -> anyhow::Result<Identity> {
    let mut info = serde_json::to_value(engine.info())?;
    // map build statistics hold timings: a rebuilt cache of the same map is the same engine
    if let Some(members) = info.get_mut("members").and_then(|m| m.as_array_mut()) {
        for m in members {
            if let Some(map) = m.get_mut("map").and_then(|m| m.as_object_mut()) {
                map.remove("stats");
            }
        }
    }
    let config = serde_json::to_vec(cfg)?;
    let info = serde_json::to_vec(&info)?;
    let mut stamps = String::new();
    for m in &cfg.members {
        stamps.push_str(&resume::file_stamps(&crate::hub::resolve(&m.model)?)?);
        for p in m.map.iter().chain(&m.labels) {
            stamps.push_str(&resume::file_stamps(p)?);
        }
    }
    Ok(Identity {
        format: format_name(args.format),
        mode: args.mode.clone(),
        explain: args.explain,
        batch: args.batch,
        engine: resume::fingerprint([config.as_slice(), info.as_slice()]),
        files: resume::fingerprint([stamps.as_bytes()]),
    })
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if let Some(n) = args.threads {
        cap_threads(n)?;
    }
    if args.input.is_none() && args.texts.is_empty() {
        bail!("no input: give texts as arguments or --input FILE (`-` for stdin)");
    }
    if args.resume
        && let Some(why) = resume_refusal(&args)
    {
        bail!("{why}");
    }
    if let Some(out) = &args.output {
        check_output_dir(out)?;
    }
    let mode = PhraseMode::from_name(&args.mode).map_err(|e| anyhow::anyhow!("--mode {e}"))?;
    let cfg = args.engine.config(args.config.as_deref())?;
    let engine = Engine::load(&cfg, &Bars::default())?;
    let names = engine.member_names();
    let ctx = Ctx { engine: &engine, names: &names, mode: &mode, args: &args };
    let file_input = args.input.as_deref().filter(|p| *p != Path::new("-"));
    match (&args.output, file_input) {
        (Some(out), Some(input)) if resumable(args.format) => {
            let started = resume::start(out, input, identity(&args, &cfg, &engine)?, args.resume)?;
            ctx.checkpointed(started, out)
        }
        (Some(out), _) => ctx.plain(Output::create(out)?),
        (None, _) => ctx.plain(std::io::stdout().lock()),
    }
}

/// What every way of running needs.
struct Ctx<'a> {
    engine: &'a Engine,
    names: &'a [&'a str],
    mode: &'a PhraseMode,
    args: &'a Args,
}

impl Ctx<'_> {
    fn sink<W: Write>(&self, out: W) -> std::io::Result<Sink<'_, W>> {
        Sink::new(out, self.args.format, self.names, self.engine.numerics(), self.args.explain)
    }

    /// Tags into `out` without checkpoints (stdout, or a format or input `--resume` cannot
    /// continue).
    fn plain<W: Write>(&self, out: W) -> anyhow::Result<()> {
        let mut sink = self.sink(out)?;
        let (written, records, bar) = match &self.args.input {
            Some(path) => {
                let size = Some(path.as_path()).filter(|p| *p != Path::new("-")).and_then(|p| std::fs::metadata(p).ok()).map(|m| m.len());
                let bar = InputBar::new(size, 0);
                let mut done = 0;
                let written = LineReader::open(path).and_then(|mut reader| {
                    tag_records(self.engine, &mut reader, self.mode, self.args.batch, &mut sink, |r, _, n| {
                        done += n;
                        bar.at(done, Some(r.position().offset));
                        Ok(())
                    })
                });
                (written, done, Some(bar))
            }
            None => {
                let mut texts = input::arguments(&self.args.texts).into_iter().map(Ok);
                (tag_records(self.engine, &mut texts, self.mode, self.args.batch, &mut sink, |_, _, _| Ok(())), 0, None)
            }
        };
        // the json array is closed even when reading the input failed part-way
        let errors = sink.finish()?;
        if let Some(bar) = bar {
            bar.finish(records, errors as u64, written.is_ok());
        }
        written?;
        failed_inputs(errors as u64)
    }

    /// Tags a file input into a checkpointed output (see [`resume`]).
    fn checkpointed(&self, started: resume::Started, out: &Path) -> anyhow::Result<()> {
        let resume::Started { mut run, mut output, mut reader, from, input_len } = started;
        let bar = InputBar::new(Some(input_len), from);
        if from > 0 {
            bar.note(&format!(
                "resuming {}: {} records already done, continuing at line {} of the input",
                out.display(),
                run.done_before,
                reader.position().lines + 1
            ));
        }
        let mut sink = self.sink(&mut output)?;
        let mut done = 0u64;
        let written = tag_records(self.engine, &mut reader, self.mode, self.args.batch, &mut sink, |r, sink, n| {
            done += n;
            bar.at(done, Some(r.position().offset));
            run.maybe_checkpoint(sink.out, r, done, sink.failed as u64)
        });
        let finished = sink.finish();
        bar.finish(done, errors_in(&finished), written.is_ok() && finished.is_ok());
        let errors = finished? as u64;
        written?;
        let (done_before, errors_before) = (run.done_before, run.errors_before);
        run.complete(&mut output)?;
        let total = done_before + done;
        eprintln!("maskner: {} complete: {total} records; checkpoint removed", out.display());
        failed_inputs(errors_before + errors)
    }
}

/// The error records counted by a finished sink (none if it failed).
fn errors_in(finished: &std::io::Result<usize>) -> u64 {
    finished.as_ref().map_or(0, |&n| n as u64)
}

/// Exit status 2 (an error) when error records were written.
fn failed_inputs(errors: u64) -> anyhow::Result<()> {
    if errors > 0 {
        bail!("{errors} input(s) could not be tagged (see the error records)");
    }
    Ok(())
}

/// Tags every record of `records` in batches, one output record per input record; after each
/// batch, `after(records, sink, batch length)` (progress, checkpoints).
fn tag_records<I, W, F>(
    engine: &Engine,
    records: &mut I,
    mode: &PhraseMode,
    batch_size: usize,
    sink: &mut Sink<'_, W>,
    mut after: F,
) -> anyhow::Result<()>
where
    I: Iterator<Item = anyhow::Result<Record>>,
    W: Write,
    F: FnMut(&I, &mut Sink<'_, W>, u64) -> anyhow::Result<()>,
{
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
        after(records, sink, batch.len() as u64)?;
    }
}
