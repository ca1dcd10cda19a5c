#!/usr/bin/env python3
"""Fill-mask benchmark: maskner against transformers, same run, same machine, same threads.

Work measured (the masked-LM work of the method): every sentence of
../shared/benchmarks/NCBI-disease/devel.tsv with one word replaced by [MASK] (the first entity
word, else the middle word), top-20 logits at [MASK] and at [CLS].

The model is bert-base-cased-shaped (12 layers, hidden 768, 12 heads, FFN 3072, vocab 28996)
with seeded random weights, written at bench time to a temporary directory (never committed);
its vocabulary is made from the benchmark's own words so tokenisation is realistic.

transformers runs `BertForMaskedLM` in batches of 32, sorted by length (its best case: little
padding), with `torch.inference_mode()`; a second transformers variant runs the encoder and
applies the MLM head only at the read positions. With `--bf16`, both variants run again under
`torch.autocast("cpu", dtype=torch.bfloat16)` (oneDNN on the CPU's bf16 units), with their
accuracy against fp32, and maskner runs a second time with `--precision bf16` (weights held
as bf16, fp32 arithmetic). maskner runs `cargo bench --bench fill_mask`.
Reported: each run's times (the fastest of --repeat is used), tokens/s, effective GFLOP/s
(useful work only), maskner's load time and peak RSS, the speed ratios, how many of the top-20 lists are
identical to transformers fp32, accuracy of bf16 runs against fp32 (mean top-20 overlap,
identical top-1), and maskner's largest logit difference between sentences run alone and in
the batch (0: batch-invariant).

    python3 tools/bench_fill_mask.py [--limit N] [--threads 2] [--bf16] [--repeat 3]
        [--work DIR (kept; the model in it is reused)]
"""
import argparse
import collections
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time

import torch
from transformers import BertConfig, BertForMaskedLM, BertTokenizerFast

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(ROOT, "..", "shared", "benchmarks")


def read_tsv(path):
    sents, cur = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip():
                if cur:
                    sents.append(cur)
                cur = []
                continue
            parts = line.split("\t")
            cur.append((parts[0], parts[-1]))
    if cur:
        sents.append(cur)
    return sents


def build_vocab(sents, size=28996):
    counts = collections.Counter(w for s in sents for w, _ in s)
    specials = ["[PAD]"] + [f"[unused{i}]" for i in range(99)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = sorted(set(c for w in counts for c in w))
    vocab, seen = [], set()
    for t in specials + chars + ["##" + c for c in chars if c.isalnum()]:
        if t not in seen:
            seen.add(t)
            vocab.append(t)
    for w, _ in counts.most_common():
        if len(vocab) >= size:
            break
        if w not in seen:
            seen.add(w)
            vocab.append(w)
    i = 0
    while len(vocab) < size:  # pad with placeholder pieces to the real vocab size
        t = f"##x{i}"
        i += 1
        if t not in seen:
            seen.add(t)
            vocab.append(t)
    return vocab


def make_model(d, vocab):
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                     intermediate_size=3072, max_position_embeddings=512)
    model = BertForMaskedLM(cfg).eval()
    model.save_pretrained(d, safe_serialization=True)
    with open(os.path.join(d, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump({"do_lower_case": False}, f)
    return model


def masked_sentences(sents, limit):
    out = []
    for s in sents[:limit]:
        words = [w for w, _ in s]
        idx = next((i for i, (_, t) in enumerate(s) if t.startswith("B")), len(words) // 2)
        words[idx] = "[MASK]"
        out.append(" ".join(words))
    return out


def flops_of(cfg, lens, reads):
    h, i, v, n = cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size, cfg.num_hidden_layers
    f = 0.0
    for l, r in zip(lens, reads):
        f += n * (l * 2 * (4 * h * h + 2 * h * i) + 4 * l * l * h)
        f += r * 2 * (h * h + h * v)
    return f


def run_transformers(model, tok, sentences, top_k, head_only_at_reads, bf16=False, batch=32):
    enc = [tok(s)["input_ids"] for s in sentences]
    order = sorted(range(len(enc)), key=lambda i: len(enc[i]))
    tops = [None] * len(enc)
    mask_id = tok.mask_token_id
    t0 = time.perf_counter()
    ctx = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    with torch.inference_mode(), ctx:
        for b in range(0, len(order), batch):
            idx = order[b:b + batch]
            L = max(len(enc[i]) for i in idx)
            ids = torch.zeros((len(idx), L), dtype=torch.long)
            att = torch.zeros((len(idx), L), dtype=torch.long)
            for r, i in enumerate(idx):
                ids[r, :len(enc[i])] = torch.tensor(enc[i])
                att[r, :len(enc[i])] = 1
            rows, cols = [], []
            for r, i in enumerate(idx):
                m = enc[i].index(mask_id)
                rows += [r, r]
                cols += [m, 0]
            if head_only_at_reads:
                hidden = model.bert(input_ids=ids, attention_mask=att).last_hidden_state
                logits = model.cls(hidden[rows, cols])
            else:
                logits = model(input_ids=ids, attention_mask=att).logits[rows, cols]
            top = torch.topk(logits.float(), top_k).indices.tolist()
            for r, i in enumerate(idx):
                tops[i] = [top[2 * r], top[2 * r + 1]]
    secs = time.perf_counter() - t0
    return tops, secs, enc


def agreement(tops, ref):
    """Mean top-k overlap and fraction of identical top-1 of `tops` against `ref`."""
    pairs = [(x, y) for a, b in zip(tops, ref) for x, y in zip(a, b)]
    k = len(pairs[0][1])
    return {"mean_topk_overlap": round(sum(len(set(x) & set(y)) for x, y in pairs) / (k * len(pairs)), 4),
            "top1_identical": round(sum(1 for x, y in pairs if x[0] == y[0]) / len(pairs), 4)}


def run_maskner(args, mdir, sfile, work, precision="fp32"):
    out = os.path.join(work, f"maskner_top_{precision}.json")
    env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))
    cmd = ["cargo", "bench", "--quiet", "--bench", "fill_mask", "--", "--model", mdir, "--sentences", sfile,
           "--top-k", str(args.top_k), "--out", out, "--precision", precision]
    runs = []
    for _ in range(args.repeat):
        res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        if res.returncode != 0:
            sys.exit(res.stderr)
        runs.append(json.loads(res.stdout.strip().splitlines()[-1]))
    with open(out) as f:
        tops = json.load(f)
    best = min(runs, key=lambda r: r["seconds"])
    best["seconds_all"] = [round(r["seconds"], 3) for r in runs]
    return best, tops


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=400, help="sentences (default 400)")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--top-k", type=int, default=20)
    ap.add_argument("--bf16", action="store_true",
                    help="add the transformers bf16 autocast runs and maskner --precision bf16, with accuracy against fp32")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per variant (fastest reported)")
    ap.add_argument("--work", help="work directory (kept; the model in it is reused)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    sents = read_tsv(os.path.join(SHARED, "NCBI-disease", "devel.tsv"))
    work = args.work or tempfile.mkdtemp(prefix="maskner-bench-")
    mdir = os.path.join(work, "bert-base-random")
    vocab = build_vocab(read_tsv(os.path.join(SHARED, "NCBI-disease", "train.tsv")) + sents)
    if os.path.isfile(os.path.join(mdir, "model.safetensors")):
        model = BertForMaskedLM.from_pretrained(mdir).eval()
    else:
        os.makedirs(mdir, exist_ok=True)
        model = make_model(mdir, vocab)
    tok = BertTokenizerFast.from_pretrained(mdir, do_lower_case=False)
    sentences = masked_sentences(sents, args.limit)
    sfile = os.path.join(work, "sentences.txt")
    with open(sfile, "w", encoding="utf-8") as f:
        f.write("\n".join(sentences) + "\n")
    print(f"load average before: {open('/proc/loadavg').read().split()[:3]}", file=sys.stderr)

    variants = [("transformers_full_logits", False, False), ("transformers_head_at_reads", True, False)]
    if args.bf16:
        variants += [("transformers_bf16_full_logits", False, True), ("transformers_bf16_head_at_reads", True, True)]
    report = {"sentences": len(sentences), "threads": args.threads}
    tf = {}
    for name, head, bf16 in variants:
        run_transformers(model, tok, sentences[:16], args.top_k, head, bf16)  # warm-up
        secs_all = []
        for _ in range(args.repeat):
            tops, secs, enc = run_transformers(model, tok, sentences, args.top_k, head, bf16)
            secs_all.append(secs)
        tf[name] = (min(secs_all), tops, secs_all)
    lens = [len(e) for e in enc]
    tokens = sum(lens)
    flops = flops_of(model.config, lens, [2] * len(lens))
    report["tokens"] = tokens
    ref = tf["transformers_full_logits"][1]
    for name, (secs, tops, secs_all) in tf.items():
        report[name] = {"seconds": round(secs, 3), "seconds_all": [round(x, 3) for x in secs_all],
                        "tokens_per_s": round(tokens / secs, 1), "gflops": round(flops / secs / 1e9, 1)}
        if "bf16" in name:
            report[name]["accuracy_vs_fp32"] = agreement(tops, tf[name.replace("_bf16", "")][1])

    for precision in ["fp32", "bf16"] if args.bf16 else ["fp32"]:
        mk, tops = run_maskner(args, mdir, sfile, work, precision)
        entry = {"seconds": round(mk["seconds"], 3), "seconds_all": mk["seconds_all"],
                 "tokens_per_s": round(mk["tokens_per_s"], 1), "gflops": round(mk["gflops"], 1),
                 "load_seconds": round(mk["load_seconds"], 3),
                 "peak_rss_mb": round(mk["peak_rss_mb"], 1), "batch_max_logit_diff": mk["batch_max_logit_diff"]}
        for tname, (secs, _, _) in tf.items():
            entry[f"ratio_vs_{tname}"] = round(secs / mk["seconds"], 2)
        same = sum(1 for a, b in zip(tops, ref) for x, y in zip(a, b) if x == y)
        entry["top_k_identical_to_transformers_fp32"] = f"{same}/{2 * len(sentences)}"
        if precision != "fp32":
            entry["accuracy_vs_fp32"] = agreement(tops, ref)
        report["maskner" if precision == "fp32" else f"maskner_{precision}"] = entry
    print(f"load average after: {open('/proc/loadavg').read().split()[:3]}", file=sys.stderr)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
