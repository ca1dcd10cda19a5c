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
applies the MLM head only at the read positions. maskner runs `cargo bench --bench fill_mask`.
Reported: tokens/s, effective GFLOP/s (useful work only), the speed ratio, and how many of the
top-20 lists are identical.

    python3 tools/bench_fill_mask.py [--limit N] [--threads 2]
"""
import argparse
import collections
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


def run_transformers(model, tok, sentences, top_k, head_only_at_reads, batch=32):
    enc = [tok(s)["input_ids"] for s in sentences]
    order = sorted(range(len(enc)), key=lambda i: len(enc[i]))
    tops = [None] * len(enc)
    mask_id = tok.mask_token_id
    t0 = time.perf_counter()
    with torch.inference_mode():
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
            top = torch.topk(logits, top_k).indices.tolist()
            for r, i in enumerate(idx):
                tops[i] = [top[2 * r], top[2 * r + 1]]
    secs = time.perf_counter() - t0
    return tops, secs, enc


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=400, help="sentences (default 400)")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--top-k", type=int, default=20)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    sents = read_tsv(os.path.join(SHARED, "NCBI-disease", "devel.tsv"))
    work = tempfile.mkdtemp(prefix="maskner-bench-")
    mdir = os.path.join(work, "bert-base-random")
    os.makedirs(mdir)
    vocab = build_vocab(read_tsv(os.path.join(SHARED, "NCBI-disease", "train.tsv")) + sents)
    model = make_model(mdir, vocab)
    tok = BertTokenizerFast.from_pretrained(mdir, do_lower_case=False)
    sentences = masked_sentences(sents, args.limit)
    sfile = os.path.join(work, "sentences.txt")
    with open(sfile, "w", encoding="utf-8") as f:
        f.write("\n".join(sentences) + "\n")

    # warm-up, then the two transformers variants
    run_transformers(model, tok, sentences[:16], args.top_k, False)
    tf_tops, tf_secs, enc = run_transformers(model, tok, sentences, args.top_k, False)
    tf2_tops, tf2_secs, _ = run_transformers(model, tok, sentences, args.top_k, True)
    lens = [len(e) for e in enc]
    tokens = sum(lens)
    flops = flops_of(model.config, lens, [2] * len(lens))

    out = os.path.join(work, "maskner_top.json")
    env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))
    res = subprocess.run(
        ["cargo", "bench", "--quiet", "--bench", "fill_mask", "--", "--model", mdir, "--sentences", sfile,
         "--top-k", str(args.top_k), "--out", out],
        cwd=ROOT, env=env, capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(res.stderr)
    mk = json.loads(res.stdout.strip().splitlines()[-1])
    with open(out) as f:
        mk_tops = json.load(f)
    # maskner reads [MASK] then [CLS]; transformers lists [MASK], [CLS] too
    same = sum(1 for a, b in zip(mk_tops, tf_tops) for x, y in zip(a, b) if x == y)
    same_set = sum(1 for a, b in zip(mk_tops, tf_tops) for x, y in zip(a, b) if set(x) == set(y))
    lists = 2 * len(sentences)
    report = {
        "sentences": len(sentences),
        "tokens": tokens,
        "threads": args.threads,
        "transformers_full_logits": {"seconds": round(tf_secs, 3), "tokens_per_s": round(tokens / tf_secs, 1),
                                     "gflops": round(flops / tf_secs / 1e9, 1)},
        "transformers_head_at_reads": {"seconds": round(tf2_secs, 3), "tokens_per_s": round(tokens / tf2_secs, 1),
                                       "gflops": round(flops / tf2_secs / 1e9, 1)},
        "maskner": {"seconds": round(mk["seconds"], 3), "tokens_per_s": round(mk["tokens_per_s"], 1),
                    "gflops": round(mk["gflops"], 1)},
        "speed_ratio_vs_full_logits": round(tf_secs / mk["seconds"], 2),
        "speed_ratio_vs_head_at_reads": round(tf2_secs / mk["seconds"], 2),
        "top_k_identical_lists": f"{same}/{lists}",
        "top_k_identical_sets": f"{same_set}/{lists}",
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
