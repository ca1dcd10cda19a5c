//! Fill-mask throughput: the masked-LM work of the method (one `[MASK]` per sentence, top-K at
//! `[MASK]` and at `[CLS]`) on a model directory and a file of sentences. Driven by
//! `tools/bench_fill_mask.py`, which compares it with transformers in the same run.
//!
//!     cargo bench --bench fill_mask -- --model DIR --sentences FILE
//!         [--top-k 20] [--out top.json] [--token-budget N] [--precision fp32|bf16]
//!
//! Prints one JSON line: sentences, tokens, seconds, tokens/s, effective GFLOP/s (useful work
//! only: encoder on real tokens plus the head at the read positions), peak RSS, and the largest
//! logit difference between the first 32 sentences run alone and run in the whole batch
//! (0 where results are batch-invariant).

use anyhow::{Context, bail};
use maskner::mlm::{MaskedLm, MlmInput, Precision};
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let mut model = None;
    let mut sentences = None;
    let mut top_k = 20usize;
    let mut out = None;
    let mut budget = None;
    let mut precision = Precision::Fp32;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--model" => model = args.next(),
            "--sentences" => sentences = args.next(),
            "--top-k" => top_k = args.next().context("--top-k value")?.parse()?,
            "--out" => out = args.next(),
            "--token-budget" => budget = Some(args.next().context("--token-budget value")?.parse()?),
            "--precision" => precision = args.next().context("--precision value")?.parse().map_err(anyhow::Error::msg)?,
            "--bench" => {}
            other => bail!("unknown argument {other}"),
        }
    }
    let (Some(model), Some(sentences)) = (model, sentences) else {
        eprintln!("usage: cargo bench --bench fill_mask -- --model DIR --sentences FILE [--top-k K] [--out FILE]");
        return Ok(());
    };
    let t_load = Instant::now();
    let mut lm = MaskedLm::load_with(&model, std::path::Path::new(&model), precision)?;
    let load_seconds = t_load.elapsed().as_secs_f64();
    if let Some(b) = budget {
        lm.set_token_budget(b);
    }
    let text = std::fs::read_to_string(&sentences).with_context(|| format!("reading {sentences}"))?;
    let tok = lm.tokenizer();
    let mut inputs = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let enc = tok.encode(line, true)?;
        let mut reads = vec![];
        reads.extend(enc.ids.iter().position(|&i| i == tok.mask));
        reads.push(0);
        inputs.push(MlmInput { ids: enc.ids, reads });
    }
    // warm-up (allocations, thread pool)
    lm.predict(&inputs[..inputs.len().min(8)])?;
    let t = Instant::now();
    let logits = lm.predict(&inputs)?;
    let tops: Vec<Vec<Vec<u32>>> =
        logits.iter().map(|per| per.iter().map(|l| l.top_k(top_k).iter().map(|p| p.id).collect()).collect()).collect();
    let secs = t.elapsed().as_secs_f64();
    let cfg = lm.config();
    let (h, i, v, layers) = (cfg.hidden_size as f64, cfg.intermediate_size as f64, cfg.vocab_size as f64, cfg.num_hidden_layers as f64);
    let mut flops = 0.0;
    let mut tokens = 0usize;
    for inp in &inputs {
        let l = inp.ids.len() as f64;
        tokens += inp.ids.len();
        flops += layers * (l * 2.0 * (4.0 * h * h + 2.0 * h * i) + 4.0 * l * l * h);
        flops += inp.reads.len() as f64 * 2.0 * (h * h + h * v);
    }
    if let Some(out) = out {
        std::fs::write(&out, serde_json::to_string(&tops)?)?;
    }
    // batch invariance: each of the first sentences alone against its row in the big batch
    let mut batch_diff = 0f32;
    for (inp, batched) in inputs.iter().zip(&logits).take(32) {
        let alone = lm.predict(std::slice::from_ref(inp))?;
        for (a, b) in alone[0].iter().zip(batched) {
            for (x, y) in a.values().iter().zip(b.values()) {
                batch_diff = batch_diff.max((x - y).abs());
            }
        }
    }
    // SAFETY: getrusage only writes the struct it is given.
    let rss_mb = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        u.ru_maxrss as f64 / 1024.0
    };
    println!(
        "{}",
        serde_json::json!({
            "engine": "maskner",
            "precision": precision.to_string(),
            "load_seconds": load_seconds,
            "sentences": inputs.len(),
            "tokens": tokens,
            "seconds": secs,
            "tokens_per_s": tokens as f64 / secs,
            "gflops": flops / secs / 1e9,
            "peak_rss_mb": rss_mb,
            "batch_max_logit_diff": batch_diff,
        })
    );
    Ok(())
}
