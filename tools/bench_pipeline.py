#!/usr/bin/env python3
"""Pipeline benchmark: `maskner tag` (both members, marker mode) against a transformers
implementation of the same per-sentence masked-LM work, same run, same machine, same threads.

Input: the first --limit sentences of ../shared/benchmarks/NCBI-disease/devel.tsv as marker
sentences (every B/I token gets `:__entity__`, words joined with spaces). A maximal run of
marked words is one phrase; sentences without a mention have no phrase and cost (almost)
nothing on both sides.

Models: two bert-base-cased-shaped models (12 layers, hidden 768, 12 heads, FFN 3072, vocab
28996) with different seeded random weights, written at bench time to a temporary directory
(never committed). Their cased vocabularies are built from the benchmark's own words
(`bio`: NCBI-disease train+devel, `phi`: CoNLL++ train + NCBI-disease devel), as
tools/bench_fill_mask.py does. Their maps are built once with `maskner build-map --model DIR
--out DIR` (default rule and search) and passed with `--map bio=.. --map phi=..`.

maskner: `maskner tag --mode markers --input FILE --model bio=.. --model phi=.. --map bio=..
--map phi=..` under /usr/bin/time -v (peak RSS). Tagging time = wall time on the N sentences
minus wall time on an empty input (process start, model and map load), medians of --repeat
interleaved runs. maskner does the whole pipeline (prompts, masked LM, harvest, map lookup,
aggregation, ensemble, JSON output).

transformers (the reference's per-sentence work, in this file): for each sentence and each
model, the 2N prompts [CI_1, CS_1, CI_2, CS_2, ...] (CI `<phrase> is a [MASK]`, CS the sentence
with the phrase replaced by one [MASK]; tokmod casing, CI capitalisation, appended period,
ignore_cs as ALGORITHM.md 3.1-3.3) as strings, tokenised and padded as one batch, one
`BertForMaskedLM` forward (all logits, as the reference) under `torch.inference_mode()`, and
top-20 at the read positions ([CLS] and [MASK] of CI for bio, [MASK] for phi; [MASK] of CS).
A second variant runs the encoder and applies the MLM head only at the read positions.
It stops at the top-20 lists: no descriptor filtering, map lookup, aggregation or ensemble.
It runs in a child process that loads both models from disk, so its ru_maxrss is the peak
with both models loaded.

With --bf16, each repeat also runs `maskner tag --precision bf16` (weight matrices held as
bf16, fp32 arithmetic) on the empty and the full input; reported: its tagging time, peak RSS,
load time, and how many phrases get the same final entity (span, subtype, group, tag) as
under fp32.

    python3 tools/bench_pipeline.py [--limit 200] [--threads 2] [--repeat 3] [--bf16]
        [--maskner target/release/maskner] [--work DIR (reuse models and maps)]
"""
import argparse
import collections
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(ROOT, "..", "shared", "benchmarks")
MARKER = ":__entity__"
TOP_K = 20
VOCAB_SIZE = 28996


# ---------------------------------------------------------------- data and models

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


def read_conll(path):
    """CoNLL-2003 style `word POS chunk NER` lines; -DOCSTART- dropped."""
    sents, cur = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if not parts or parts[0] == "-DOCSTART-":
                if cur:
                    sents.append(cur)
                cur = []
                continue
            cur.append((parts[0], parts[-1]))
    if cur:
        sents.append(cur)
    return sents


def build_vocab(sents, size=VOCAB_SIZE):
    """The vocabulary recipe of tools/bench_fill_mask.py: specials, characters, the most
    frequent words, placeholder pieces up to `size`."""
    counts = collections.Counter(w for s in sents for w, _ in s)
    specials = ["[PAD]"] + [f"[unused{i}]" for i in range(99)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = sorted(set(c for w in counts for c in w))
    vocab, seen = [], set()
    for t in specials + chars + ["##" + c for c in chars if c.isalnum()]:
        if t not in seen:
            seen.add(t)
            vocab.append(t)
    # the CI prompt's words and the appended period must exist
    for t in ["is", "a", "."]:
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
    while len(vocab) < size:
        t = f"##x{i}"
        i += 1
        if t not in seen:
            seen.add(t)
            vocab.append(t)
    return vocab


def make_model(d, vocab, seed):
    import torch
    from transformers import BertConfig, BertForMaskedLM
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                     intermediate_size=3072, max_position_embeddings=512)
    model = BertForMaskedLM(cfg).eval()
    model.save_pretrained(d, safe_serialization=True)
    with open(os.path.join(d, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump({"do_lower_case": False}, f)


def marker_sentences(sents, limit):
    out = []
    for s in sents[:limit]:
        out.append(" ".join(w + MARKER if t[:1] in ("B", "I") else w for w, t in s))
    return out


# ---------------------------------------------------------------- the reference's per-sentence work

class Casing:
    """tokmod (ALGORITHM.md 3.1 step 4): the word if it is a vocabulary entry, else the last
    entry with the same lower-case form, else the word."""

    def __init__(self, vocab):
        self.exact = set(vocab)
        self.lower = {}
        for t in vocab:
            self.lower[t.lower()] = t

    def __call__(self, w):
        if w in self.exact:
            return w
        return self.lower.get(w.lower(), w)


def ci_capitalise(w):
    if len(w) >= 2 and w[0].islower() and w[1].islower():
        return w[0].upper() + w[1:]
    return w


def parse_markers(text):
    """Words and phrases (maximal runs of marked words) of a marker sentence."""
    words, phrases, run = [], [], None
    for w in text.split():
        i = len(words)
        if w.endswith(MARKER):
            stem = w[: -len(MARKER)]
            if stem == "":
                if run is not None:
                    phrases.append((run, i))
                    run = None
                words.append("")
                phrases.append((i, i + 1))
            else:
                if run is None:
                    run = i
                words.append(stem)
        else:
            if run is not None:
                phrases.append((run, i))
                run = None
            words.append(w)
    if run is not None:
        phrases.append((run, len(words)))
    return words, phrases


def prompts(text, casing):
    """The 2N prompt strings of a sentence for one model, [CI_1, CS_1, ...] (CS omitted under
    ignore_cs), each with its kind."""
    words, phrases = parse_markers(text)
    if not words:
        return []
    t = text.rstrip()
    if t and t[-1] not in "!,.:;?" and len(t) > 1:
        words.append(".")
    inside = set(i for a, b in phrases for i in range(a, b))
    terms = [w.replace('"', "'") for w in words]
    member = [w if i in inside else casing(w) for i, w in enumerate(terms)]
    ignore_cs = (len(phrases) == 1 and phrases[0][0] == 0 and len(member) - (phrases[0][1] - phrases[0][0]) == 1
                 and member[-1] == ".")
    out = []
    for a, b in phrases:
        ci = [casing(ci_capitalise(w)) for w in member[a:b]]
        out.append(("ci", " ".join([w for w in ci if w] + ["is", "a", "[MASK]"])))
        if not ignore_cs:
            out.append(("cs", " ".join([w for w in member[:a] if w] + ["[MASK]"] + [w for w in member[b:] if w])))
    return out


def run_reference(models, sentences, head_at_reads):
    """Per sentence, per model: one padded batch of the 2N prompts, forward, top-20 at the
    read positions. Returns (seconds, tokens, sequences, tops)."""
    import torch
    t0 = time.perf_counter()
    tokens = seqs = 0
    tops, shapes = [], []
    with torch.inference_mode():
        for text in sentences:
            per_model = []
            for m in models:
                ps = prompts(text, m["casing"])
                if not ps:
                    per_model.append([])
                    continue
                enc = m["tok"]([p for _, p in ps], padding=True, return_tensors="pt")
                ids, att = enc["input_ids"], enc["attention_mask"]
                tokens += int(att.sum())
                seqs += len(ps)
                rows, cols, kinds = [], [], []
                for r, (kind, _) in enumerate(ps):
                    mask = int((ids[r] == m["mask"]).nonzero()[0])
                    if kind == "ci" and m["use_cls"]:
                        rows.append(r)
                        cols.append(0)
                        kinds.append("ci_cls")
                    rows.append(r)
                    cols.append(mask)
                    kinds.append(kind)
                    shapes.append((int(att[r].sum()), 2 if kind == "ci" and m["use_cls"] else 1))
                if head_at_reads:
                    hidden = m["model"].bert(input_ids=ids, attention_mask=att).last_hidden_state
                    logits = m["model"].cls(hidden[rows, cols])
                else:
                    logits = m["model"](input_ids=ids, attention_mask=att).logits[rows, cols]
                top = torch.topk(logits, TOP_K)
                per_model.append([kinds, top.indices.tolist(), [[round(v, 4) for v in r] for r in top.values.tolist()]])
            tops.append(per_model)
    return time.perf_counter() - t0, tokens, seqs, tops, shapes


def worker(args):
    """Child process: load both models from disk, warm up, run both variants --repeat times."""
    import torch
    from transformers import BertForMaskedLM, BertTokenizerFast
    torch.set_num_threads(args.threads)
    models = []
    for name, d, use_cls in (("bio", args.bio, True), ("phi", args.phi, False)):
        tok = BertTokenizerFast.from_pretrained(d, do_lower_case=False)
        model = BertForMaskedLM.from_pretrained(d).eval()
        vocab = [l.rstrip("\n") for l in open(os.path.join(d, "vocab.txt"), encoding="utf-8")]
        models.append({"name": name, "tok": tok, "model": model, "casing": Casing(vocab), "use_cls": use_cls,
                       "mask": tok.mask_token_id})
    rss_loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with open(args.sentences, encoding="utf-8") as f:
        sentences = [l.rstrip("\n") for l in f if l.strip()]
    run_reference(models, sentences[:8], False)  # warm-up
    res = {"full_logits": [], "head_at_reads": []}
    tops = None
    for _ in range(args.repeat):
        for variant, head in (("full_logits", False), ("head_at_reads", True)):
            secs, tokens, seqs, t, shapes = run_reference(models, sentences, head)
            res[variant].append(secs)
            if not head:
                tops = t
    cfg = models[0]["model"].config
    h, i, v, n = cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size, cfg.num_hidden_layers
    flops = sum(n * (l * 2 * (4 * h * h + 2 * h * i) + 4 * l * l * h) + r * 2 * (h * h + h * v) for l, r in shapes)
    res.update({"tokens": tokens, "sequences": seqs, "useful_flops": flops, "maxrss_kb_after_load": rss_loaded,
                "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "tops": tops})
    print(json.dumps(res))


def parity(sentences, py_tops, explained, vocabs):
    """Checks that both sides ran the same sequences: every maskner descriptor (from `tag
    --explain`) that is in transformers' top-20 at the same read must have the same logit.
    Returns (descriptors checked, of which same logit within 2e-3, descriptors total)."""
    checked = same = total = 0
    for text, tops, rec in zip(sentences, py_tops, explained):
        pos = 0
        raw = text.split(" ")
        _, phrases = parse_markers(text)
        offsets = []
        for w in raw:
            offsets.append(pos)
            pos += len(w) + 1
        starts = [offsets[a] for a, _ in phrases]
        for mi, name in enumerate(("bio", "phi")):
            if not tops[mi]:
                continue
            kinds, ids, vals = tops[mi]
            per_phrase = []
            for r, k in enumerate(kinds):
                if k == "ci_cls" or (k == "ci" and (r == 0 or kinds[r - 1] != "ci_cls")):
                    per_phrase.append({})
                per_phrase[-1][k] = {vocabs[mi][i]: v for i, v in zip(ids[r], vals[r])}
            for e in rec.get("entities", []):
                if e["start"] not in starts:
                    continue
                ph = per_phrase[starts.index(e["start"])]
                ex = e.get("explanation", {}).get(name)
                if not ex:
                    continue
                # a CI list with [CLS] holds the [CLS] harvest (budget 10) then the [MASK] one
                split = TOP_K // 2 if "ci_cls" in ph else 0
                reads = [("cs", d) for d in ex["cs_descriptors"]]
                reads += [("ci_cls" if n < split else "ci", d) for n, d in enumerate(ex["ci_descriptors"])]
                for kind, dsc in reads:
                    total += 1
                    got = ph.get(kind, {}).get(dsc["token"])
                    if got is not None:
                        checked += 1
                        same += abs(got - dsc["logit"]) <= 2e-3
    return checked, same, total


# ---------------------------------------------------------------- maskner

def entity_differences(a, b):
    """Phrases whose final entity differs between two runs' records (same inputs, in order): a
    span entity in one run only, or with another subtype, group or tag."""
    def key(e):
        return (e["subtype"], e["group"], e["tag"])
    diff = 0
    for ra, rb in zip(a, b):
        ea = {(e["start"], e["end"]): key(e) for e in ra.get("entities", [])}
        eb = {(e["start"], e["end"]): key(e) for e in rb.get("entities", [])}
        diff += sum(1 for span in ea.keys() | eb.keys() if ea.get(span) != eb.get(span))
    return diff


def timed(cmd, env):
    """Runs cmd under /usr/bin/time -v; returns (wall seconds, max RSS kB, stdout)."""
    t0 = time.perf_counter()
    r = subprocess.run(["/usr/bin/time", "-v"] + cmd, env=env, capture_output=True, text=True)
    secs = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr[-3000:]}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr).group(1))
    return secs, rss, r.stdout


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def common_args(doc):
    """The options every pipeline benchmark takes (this one and tools/bench_python.py)."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--limit", type=int, default=200, help="sentences (default 200)")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per side (median reported)")
    ap.add_argument("--maskner", default=os.path.join(ROOT, "target", "release", "maskner"))
    ap.add_argument("--work", help="work directory (kept; models and maps in it are reused)")
    return ap


def main():
    ap = common_args(__doc__)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--bio", help=argparse.SUPPRESS)
    ap.add_argument("--phi", help=argparse.SUPPRESS)
    ap.add_argument("--sentences", help=argparse.SUPPRESS)
    ap.add_argument("--bf16", action="store_true", help="also run maskner --precision bf16 (speed, RSS, tag agreement)")
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    if not os.path.isfile(args.maskner):
        sys.exit(f"{args.maskner}: not found (run `cargo build --release` first)")

    work = args.work or tempfile.mkdtemp(prefix="maskner-bench-pipeline-")
    os.makedirs(work, exist_ok=True)
    devel = read_tsv(os.path.join(SHARED, "NCBI-disease", "devel.tsv"))
    env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads), OMP_NUM_THREADS=str(args.threads))
    dirs = {}
    setup = {}
    for name, seed, corpus in (
        ("bio", 1, lambda: read_tsv(os.path.join(SHARED, "NCBI-disease", "train.tsv")) + devel),
        ("phi", 2, lambda: read_conll(os.path.join(SHARED, "conllpp", "conllpp_train.txt")) + devel),
    ):
        mdir, mapdir = os.path.join(work, f"{name}-model"), os.path.join(work, f"{name}-map")
        if not os.path.isfile(os.path.join(mdir, "model.safetensors")):
            os.makedirs(mdir, exist_ok=True)
            make_model(mdir, build_vocab(corpus()), seed)
        if not os.path.isfile(os.path.join(mapdir, "meta.json")):
            secs, rss, _ = timed([args.maskner, "build-map", "--model", mdir, "--out", mapdir], env)
            setup[f"{name}_map_build"] = {"seconds": round(secs, 1), "max_rss_mb": round(rss / 1024)}
        dirs[name] = (mdir, mapdir)

    sentences = marker_sentences(devel, args.limit)
    sfile, empty = os.path.join(work, "sentences.txt"), os.path.join(work, "empty.txt")
    with open(sfile, "w", encoding="utf-8") as f:
        f.write("\n".join(sentences) + "\n")
    open(empty, "w").close()
    words = sum(len(s.split()) for s in sentences)
    phrases = [len(parse_markers(s)[1]) for s in sentences]

    base = [args.maskner, "tag", "--mode", "markers", "--format", "jsonl",
            "--model", f"bio={dirs['bio'][0]}", "--model", f"phi={dirs['phi'][0]}",
            "--map", f"bio={dirs['bio'][1]}", "--map", f"phi={dirs['phi'][1]}"]
    worker_cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--bio", dirs["bio"][0], "--phi",
                  dirs["phi"][0], "--sentences", sfile, "--threads", str(args.threads), "--repeat", "1"]
    timed(base + ["--input", empty], env)  # warm the page cache
    load_before = loadavg()
    py_full, py_head, py_rss, t_empty, t_full, rss_full, rss_empty, t_b1 = [], [], [], [], [], [], [], []
    bf_empty, bf_full, bf_rss, bf_rss_empty = [], [], [], []
    py = out = bf_out = None
    for _ in range(args.repeat):
        # transformers, in a child process (peak RSS with both models loaded), then maskner
        r = subprocess.run(worker_cmd, env=env, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(r.stderr[-3000:])
        py = json.loads(r.stdout.strip().splitlines()[-1])
        py_full += py["full_logits"]
        py_head += py["head_at_reads"]
        py_rss.append((py["maxrss_kb"], py["maxrss_kb_after_load"]))
        s, m, _ = timed(base + ["--input", empty], env)
        t_empty.append(s)
        rss_empty.append(m)
        s, m, out = timed(base + ["--input", sfile], env)
        t_full.append(s)
        rss_full.append(m)
        s, m, _ = timed(base + ["--batch", "1", "--input", sfile], env)
        t_b1.append(s)
        rss_full.append(m)
        if args.bf16:
            s, m, _ = timed(base + ["--precision", "bf16", "--input", empty], env)
            bf_empty.append(s)
            bf_rss_empty.append(m)
            s, m, bf_out = timed(base + ["--precision", "bf16", "--input", sfile], env)
            bf_full.append(s)
            bf_rss.append(m)
    load_after = loadavg()
    records = [json.loads(l) for l in out.splitlines() if l.strip()]
    errors = sum(1 for x in records if "error" in x)
    # untimed: descriptors with their logits, to check both sides ran the same sequences
    _, _, ex = timed(base + ["--explain", "--input", sfile], env)
    explained = [json.loads(l) for l in ex.splitlines() if l.strip()]
    vocabs = [[l.rstrip("\n") for l in open(os.path.join(dirs[n][0], "vocab.txt"), encoding="utf-8")] for n in ("bio", "phi")]
    checked, same, total = parity(sentences, py["tops"], explained, vocabs)

    mk_runs = [f - e for f, e in zip(t_full, t_empty)]
    mk_secs = statistics.median(mk_runs)
    b1_runs = [f - e for f, e in zip(t_b1, t_empty)]
    n = len(sentences)

    def rate(runs):
        secs = statistics.median(runs)
        return {"seconds": round(secs, 3), "sentences_per_s": round(n / secs, 2), "words_per_s": round(words / secs, 1),
                "useful_gflop_per_s": round(py["useful_flops"] / secs / 1e9, 1), "runs_s": [round(x, 3) for x in runs],
                "best_s": round(min(runs), 3)}

    def ratios(peer):
        per = [p / m for p, m in zip(peer, mk_runs)]
        return {"median_of_medians": round(statistics.median(peer) / mk_secs, 2),
                "per_repeat": [round(x, 2) for x in per], "best_vs_best": round(min(peer) / min(mk_runs), 2)}

    report = {
        "sentences": n,
        "sentences_with_phrases": sum(1 for p in phrases if p),
        "phrases": sum(phrases),
        "words": words,
        "prompt_sequences_both_models": py["sequences"],
        "prompt_tokens_both_models": py["tokens"],
        "threads": args.threads,
        "repeat": args.repeat,
        "loadavg_before_after": [load_before, load_after],
        "setup": setup,
        "maskner": {
            **rate(mk_runs),
            "wall_runs_s": [round(x, 3) for x in t_full],
            "load_only_runs_s": [round(x, 3) for x in t_empty],
            "max_rss_mb": round(max(rss_full) / 1024),
            "max_rss_mb_load_only": round(max(rss_empty) / 1024),
            "error_records": errors,
        },
        "maskner_batch_1": {**rate(b1_runs), "note": "--batch 1: one sentence's prompts per model call, as the reference"},
        "transformers_full_logits": rate(py_full),
        "transformers_head_at_reads": rate(py_head),
        "transformers_max_rss_mb": round(max(x for x, _ in py_rss) / 1024),
        "transformers_max_rss_mb_after_load": round(max(x for _, x in py_rss) / 1024),
        "parity": f"{same}/{checked} maskner descriptors found in transformers' top-20 at the same read have "
                  f"the same logit (of {total} descriptors in explained entities)",
        "speed_ratio_vs_full_logits": ratios(py_full),
        "speed_ratio_vs_head_at_reads": ratios(py_head),
        "speed_ratio_batch_1_vs_head_at_reads": {"median_of_medians": round(statistics.median(py_head) / statistics.median(b1_runs), 2),
                                                 "best_vs_best": round(min(py_head) / min(b1_runs), 2)},
        "work_dir": work,
    }
    if args.bf16:
        bf_runs = [f - e for f, e in zip(bf_full, bf_empty)]
        same_phrases = sum(phrases) - entity_differences(records, [json.loads(l) for l in bf_out.splitlines() if l.strip()])
        report["maskner_bf16"] = {
            **rate(bf_runs),
            "load_only_runs_s": [round(x, 3) for x in bf_empty],
            "max_rss_mb": round(max(bf_rss) / 1024),
            "max_rss_mb_load_only": round(max(bf_rss_empty) / 1024),
            "speed_vs_fp32": round(mk_secs / statistics.median(bf_runs), 2),
            "speed_ratio_vs_full_logits": round(statistics.median(py_full) / statistics.median(bf_runs), 2),
            "phrases_same_entity_as_fp32": f"{same_phrases}/{sum(phrases)}",
        }
    print(json.dumps(report, indent=2))
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
