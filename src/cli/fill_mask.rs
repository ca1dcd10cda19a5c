//! `maskner fill-mask`: the top-K vocabulary tokens at every `[MASK]` and at `[CLS]`.

use super::input::{self, Record, Source};
use super::progress::bar;
use crate::engine::{FillRequest, FillResult, TokenScore, fill_mask};
use crate::mlm::{self, MaskedLm, Precision};
use std::io::Write;
use std::path::PathBuf;

/// Predict the top-K tokens (raw logits, as the method uses) at each [MASK] and at [CLS].
///
/// Examples:
///   maskner fill-mask --model bert-base-cased "Paris is the [MASK] of France."
///   maskner fill-mask --model ./my-bert --top-k 20 --format json --input sentences.txt
///   maskner fill-mask --model ./my-bert --format html --input sentences.txt > predictions.html
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Model: a local directory or a Hugging Face hub id.
    #[arg(long, env = "MASKNER_MODEL")]
    model: String,
    /// Number of predictions per position.
    #[arg(long, default_value_t = 10)]
    top_k: usize,
    /// Output format: `text` (a table per text), `json` (one JSON object per text, JSON Lines),
    /// `html` (one self-contained page: per text the top-K at each [MASK] and at [CLS] side by
    /// side).
    #[arg(long, value_enum, default_value = "text")]
    format: FillFormat,
    /// Same as `--format json`.
    #[arg(long, conflicts_with = "format")]
    json: bool,
    /// Read texts from FILE (`-` for stdin) instead of the arguments: one per line, or JSON
    /// Lines `{"text": ..}` (a leading byte-order mark is skipped; the first non-blank line
    /// decides the layout, and a line that contradicts it is an error record).
    #[arg(long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// How the model holds its weight matrices: fp32, or bf16 for half the memory (the
    /// arithmetic stays fp32; see the README).
    #[arg(long, value_enum, default_value = "fp32", value_name = "PRECISION")]
    precision: Precision,
    /// Texts containing [MASK] (or --input, not both).
    #[arg(conflicts_with = "input")]
    texts: Vec<String>,
}

/// Texts are batched this many at a time (then packed by the model's token budget).
const BATCH: usize = 64;

/// Output formats of `maskner fill-mask`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum FillFormat {
    Text,
    Json,
    Html,
}

/// Where records go: the table or JSON Lines as they come, or the page at the end.
struct Out<W: Write> {
    out: W,
    format: FillFormat,
    page: Vec<serde_json::Value>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.input.is_none() && args.texts.is_empty() {
        anyhow::bail!("no input: give texts as arguments or --input FILE (`-` for stdin)");
    }
    if args.top_k == 0 {
        anyhow::bail!("--top-k must be at least 1");
    }
    let model = mlm::load_model_with(&args.model, args.precision)?;
    let source = match &args.input {
        Some(p) => Source::File(p),
        None => Source::Args(&args.texts),
    };
    let bar = bar(None, "fill-mask");
    if args.input.is_none() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let format = if args.json { FillFormat::Json } else { args.format };
    let mut out = Out { out: std::io::stdout().lock(), format, page: Vec::new() };
    let mut failed = 0usize;
    let mut batch: Vec<Record> = Vec::with_capacity(BATCH);
    let mut records = input::records(source)?;
    loop {
        let next = records.next().transpose()?;
        let end = next.is_none();
        if let Some(r) = next {
            batch.push(r);
        }
        if batch.len() == BATCH || (end && !batch.is_empty()) {
            failed += write_batch(&model, &batch, &args, &mut out)?;
            bar.inc(batch.len() as u64);
            batch.clear();
        }
        if end {
            break;
        }
    }
    bar.finish_and_clear();
    if format == FillFormat::Html {
        let page = crate::view::fill_page(std::mem::take(&mut out.page), &args.model);
        out.out.write_all(page.as_bytes())?;
    }
    out.out.flush()?;
    if failed > 0 {
        anyhow::bail!("{failed} input(s) could not be processed (see the error records)");
    }
    Ok(())
}

/// Runs one batch and writes its records in input order; returns the number of error records.
fn write_batch<W: Write>(model: &MaskedLm, batch: &[Record], args: &Args, out: &mut Out<W>) -> anyhow::Result<usize> {
    let requests: Vec<Result<FillRequest, String>> =
        batch.iter().map(|r| r.text.clone().map(|text| FillRequest { text, top_k: args.top_k })).collect();
    let ok: Vec<FillRequest> = requests.iter().filter_map(|r| r.as_ref().ok().cloned()).collect();
    let mut results = fill_mask(model, &ok).into_iter();
    let mut failed = 0;
    for (rec, req) in batch.iter().zip(&requests) {
        let res = match req {
            Err(e) => Err(e.clone()),
            Ok(_) => match results.next() {
                Some(r) => r.map_err(|e| format!("{}: {e}", rec.place)),
                None => Err(format!("{}: internal error: no result", rec.place)),
            },
        };
        if res.is_err() {
            failed += 1;
        }
        match (out.format, res) {
            (FillFormat::Text, Err(e)) => writeln!(out.out, "error: {e}\n")?,
            (FillFormat::Text, Ok(fill)) => write_table(&mut out.out, &fill)?,
            (format, res) => {
                let v = match res {
                    Err(e) => serde_json::json!({"text": rec.text.as_deref().ok(), "error": e}),
                    Ok(fill) => serde_json::to_value(&fill)?,
                };
                if format == FillFormat::Html {
                    out.page.push(v);
                } else {
                    writeln!(out.out, "{v}")?;
                }
            }
        }
    }
    Ok(failed)
}

fn write_table(out: &mut impl Write, f: &FillResult) -> std::io::Result<()> {
    writeln!(out, "{}", f.text)?;
    let mut block = |title: String, preds: &[TokenScore]| -> std::io::Result<()> {
        writeln!(out, "  {title}")?;
        for (i, p) in preds.iter().enumerate() {
            writeln!(out, "    {:>3}. {:<20} {:>8.4}  (id {})", i + 1, p.token, p.score, p.id)?;
        }
        Ok(())
    };
    for m in &f.masks {
        block(format!("[MASK] at position {}", m.position), &m.predictions)?;
    }
    block("[CLS] at position 0".to_string(), &f.cls)?;
    writeln!(out)
}
