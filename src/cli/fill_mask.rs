//! `maskner fill-mask`: the top-K vocabulary tokens at every `[MASK]` and at `[CLS]`.

use super::input::{self, Record, Source};
use crate::mlm::{self, MaskedLm, MlmInput};
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;

/// Predict the top-K tokens (raw logits, as the method uses) at each [MASK] and at [CLS].
///
/// Examples:
///   maskner fill-mask --model bert-base-cased "Paris is the [MASK] of France."
///   maskner fill-mask --model ./my-bert --top-k 20 --json --input sentences.txt
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Model: a local directory or a Hugging Face hub id.
    #[arg(long, env = "MASKNER_MODEL")]
    model: String,
    /// Number of predictions per position.
    #[arg(long, default_value_t = 10)]
    top_k: usize,
    /// Print one JSON object per text (JSON Lines) instead of a table.
    #[arg(long)]
    json: bool,
    /// Read texts from FILE (`-` for stdin) instead of the arguments: one per line, or JSON
    /// Lines `{"text": ..}` (a leading byte-order mark is skipped; the first non-blank line
    /// decides the layout, and a line that contradicts it is an error record).
    #[arg(long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// Texts containing [MASK] (or --input, not both).
    #[arg(conflicts_with = "input")]
    texts: Vec<String>,
}

#[derive(Serialize)]
struct TokenScore<'a> {
    token: &'a str,
    id: u32,
    score: f32,
}

#[derive(Serialize)]
struct MaskOut<'a> {
    position: usize,
    predictions: Vec<TokenScore<'a>>,
}

#[derive(Serialize)]
struct FillOut<'a> {
    text: &'a str,
    masks: Vec<MaskOut<'a>>,
    cls: Vec<TokenScore<'a>>,
}

/// Texts are batched this many at a time (then packed by the model's token budget).
const BATCH: usize = 64;

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.input.is_none() && args.texts.is_empty() {
        anyhow::bail!("no input: give texts as arguments or --input FILE (`-` for stdin)");
    }
    if args.top_k == 0 {
        anyhow::bail!("--top-k must be at least 1");
    }
    let model = mlm::load_model(&args.model)?;
    let source = match &args.input {
        Some(p) => Source::File(p),
        None => Source::Args(&args.texts),
    };
    let bar = input::progress(None, "fill-mask");
    if args.input.is_none() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut stdout = std::io::stdout().lock();
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
            failed += write_batch(&model, &batch, &args, &mut stdout)?;
            bar.inc(batch.len() as u64);
            batch.clear();
        }
        if end {
            break;
        }
    }
    bar.finish_and_clear();
    if failed > 0 {
        anyhow::bail!("{failed} input(s) could not be processed (see the error records)");
    }
    Ok(())
}

/// Runs one batch and writes its records in input order; returns the number of error records.
fn write_batch(model: &MaskedLm, batch: &[Record], args: &Args, out: &mut impl Write) -> anyhow::Result<usize> {
    let tok = model.tokenizer();
    // Encode; texts that fail keep their place as errors.
    let prepared: Vec<Result<MlmInput, String>> = batch
        .iter()
        .map(|r| {
            let text = r.text.as_ref().map_err(|e| e.clone())?;
            let enc = tok.encode(text, true).map_err(|e| format!("{e:#}"))?;
            if enc.ids.len() > model.max_len() {
                return Err(format!(
                    "{}: {} word pieces, more than the model's maximum of {}; shorten the text",
                    r.place,
                    enc.ids.len(),
                    model.max_len()
                ));
            }
            let mut reads = vec![0];
            reads.extend(enc.ids.iter().enumerate().filter(|(_, id)| **id == tok.mask).map(|(i, _)| i));
            Ok(MlmInput { ids: enc.ids, reads })
        })
        .collect();
    let ok: Vec<MlmInput> = prepared.iter().filter_map(|p| p.as_ref().ok().cloned()).collect();
    let mut results = model.predict(&ok)?.into_iter();
    let mut failed = 0;
    for (rec, prep) in batch.iter().zip(&prepared) {
        let inp = match prep {
            Ok(inp) => inp,
            Err(e) => {
                failed += 1;
                if args.json {
                    let v = serde_json::json!({"text": rec.text.as_deref().ok(), "error": e});
                    writeln!(out, "{v}")?;
                } else {
                    writeln!(out, "error: {e}\n")?;
                }
                continue;
            }
        };
        let logits = results.next().unwrap_or_default();
        let scores = |i: usize| -> Vec<TokenScore<'_>> {
            logits
                .get(i)
                .map(|l| l.top_k(args.top_k))
                .unwrap_or_default()
                .into_iter()
                .map(|p| TokenScore { token: tok.token(p.id), id: p.id, score: p.score })
                .collect()
        };
        let fill = FillOut {
            text: rec.text.as_deref().unwrap_or(""),
            cls: scores(0),
            masks: inp.reads[1..]
                .iter()
                .enumerate()
                .map(|(j, &pos)| MaskOut { position: pos, predictions: scores(j + 1) })
                .collect(),
        };
        if args.json {
            writeln!(out, "{}", serde_json::to_string(&fill)?)?;
        } else {
            write_table(out, &fill)?;
        }
    }
    Ok(failed)
}

fn write_table(out: &mut impl Write, f: &FillOut<'_>) -> std::io::Result<()> {
    writeln!(out, "{}", f.text)?;
    let mut block = |title: String, preds: &[TokenScore<'_>]| -> std::io::Result<()> {
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
