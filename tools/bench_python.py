#!/usr/bin/env python3
"""Python binding benchmark: `maskner.Engine.tag` against `maskner tag` on the same file with the
same models, model loading excluded on both sides, same run, same machine, same threads; and
spaCy's `nlp.pipe` with the maskner component against `Engine.tag` on the same texts.

Input: the first --limit sentences of ../shared/benchmarks/NCBI-disease/devel.tsv as marker
sentences (every B/I token gets `:__entity__`, words joined with spaces), exactly as
tools/bench_pipeline.py makes them (its helpers are imported, not copied). For the spaCy part,
the same sentences with the markers stripped (plain text, automatic phrases).

Models: the two bert-base-cased-shaped models of tools/bench_pipeline.py (12 layers, hidden
768, 12 heads, FFN 3072, vocab 28996; `bio` seed 1 with a vocabulary from NCBI-disease
train+devel, `phi` seed 2 with CoNLL++ train + NCBI-disease devel, bench_pipeline's
build_vocab). They are written here without torch: `BertForMaskedLM` tensor names (tied decoder
left out, as save_pretrained does) in model.safetensors via numpy + `safetensors.numpy`, seeded
normal weights (std 0.02, padding row 0), LayerNorm weights 1, biases 0; config.json,
vocab.txt and tokenizer_config.json (`do_lower_case: false`) as bench_pipeline's make_model
leaves them. That runs in a child process of --python (numpy and safetensors must be installed
there: `pip install numpy safetensors`). Their maps are built once with `maskner build-map
--model DIR --out DIR`. With --work, models and maps already in the directory are reused (also
ones bench_pipeline.py wrote).

1. CLI: `maskner tag --mode markers --format jsonl --input FILE --model bio=.. --model phi=..
   --map bio=.. --map phi=..` under /usr/bin/time -v. Tagging time = wall time on the N
   sentences minus wall time on an empty input (process start, model and map load), as
   bench_pipeline.py measures it. The CLI tags in batches of 32 (its default --batch) and writes
   JSON Lines to a pipe.
2. Python: a child process of --python per variant and repeat builds `maskner.Engine(models=..,
   maps=.., threads=.., progress=False)` (load not timed, reported apart), then times its first
   tagging pass: `engine.tag(chunk, mode="markers")` over chunks of 32 sentences, either alone
   (`python_tag`) or followed by `json.dumps` of each record (`python_tag_json`, the work the
   CLI does). Each timed pass is thus the first tag call after load in a fresh process, as the
   CLI's is. python_overhead_pct = (python - cli) / cli * 100 on the medians. The records of the
   `json` variant are parsed back and compared with the CLI's JSONL records (equal count
   reported; `id` is left out of the comparison, since each chunk's inputs are numbered from 1
   by the binding while the CLI numbers the file's lines).
3. spaCy: a child process per repeat makes `nlp = spacy.blank("en")` with
   `nlp.add_pipe("maskner", config={"models", "maps", "mode": "auto", "batch_size": 32})` and
   an Engine (the component's own when it exposes it as `.engine`, else a second one with the
   same arguments), warms both up on one chunk, then times `list(nlp.pipe(plain, batch_size=32))`
   and `engine.tag(chunk, mode="auto")` over chunks of 32, in alternating order per repeat.
   pipe_vs_tag = pipe / tag on the medians. Skipped with a note when the component cannot be
   imported or added.

All figures are medians of --repeat interleaved runs (per repeat: CLI empty, CLI full, Python
tag+json, Python tag, spaCy). RAYON_NUM_THREADS=--threads for every process, and Engine(threads=
--threads). Human summary on stderr, one JSON object on stdout.

    python3 tools/bench_python.py [--limit 200] [--threads 2] [--repeat 3]
        [--maskner target/release/maskner] [--work DIR (reuse models and maps)]
        [--python ~/.cache/maskner-ci/venv/bin/python]
"""
import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_pipeline import (  # noqa: E402
    MARKER, SHARED, build_vocab, common_args, loadavg, marker_sentences, read_conll, read_tsv, timed)

CHUNK = 32  # the CLI's default --batch
DEFAULT_PYTHON = os.path.expanduser("~/.cache/maskner-ci/venv/bin/python")
HIDDEN, LAYERS, HEADS, FFN, MAX_POS, TYPE_VOCAB, STD = 768, 12, 12, 3072, 512, 2, 0.02


# ---------------------------------------------------------------- models (child of --python)

def bert_config(vocab_size):
    """config.json as transformers' BertConfig(...).save_pretrained writes it for these shapes."""
    return {
        "architectures": ["BertForMaskedLM"],
        "attention_probs_dropout_prob": 0.1,
        "classifier_dropout": None,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": HIDDEN,
        "initializer_range": STD,
        "intermediate_size": FFN,
        "layer_norm_eps": 1e-12,
        "max_position_embeddings": MAX_POS,
        "model_type": "bert",
        "num_attention_heads": HEADS,
        "num_hidden_layers": LAYERS,
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
        "torch_dtype": "float32",
        "type_vocab_size": TYPE_VOCAB,
        "use_cache": True,
        "vocab_size": vocab_size,
    }


def make_model_numpy(d, seed):
    """Writes d/model.safetensors and d/config.json for the vocabulary in d/vocab.txt: the
    tensors `BertForMaskedLM.save_pretrained` writes (no pooler, decoder weight and bias tied to
    the word embeddings and cls.predictions.bias, so left out), initialised as BERT's
    _init_weights does (normal std 0.02, padding row 0, LayerNorm 1/0, biases 0)."""
    import numpy as np
    from safetensors.numpy import save_file

    with open(os.path.join(d, "vocab.txt"), encoding="utf-8") as f:
        v = sum(1 for _ in f)
    rng = np.random.default_rng(seed)

    def normal(*shape):
        return (rng.standard_normal(shape, dtype=np.float32) * np.float32(STD)).astype(np.float32)

    def zeros(n):
        return np.zeros(n, dtype=np.float32)

    def layer_norm(prefix, t):
        t[f"{prefix}.weight"] = np.ones(HIDDEN, dtype=np.float32)
        t[f"{prefix}.bias"] = zeros(HIDDEN)

    def linear(prefix, t, inp, out):
        t[f"{prefix}.weight"] = normal(out, inp)
        t[f"{prefix}.bias"] = zeros(out)

    t = {}
    words = normal(v, HIDDEN)
    words[0] = 0.0  # padding_idx
    t["bert.embeddings.word_embeddings.weight"] = words
    t["bert.embeddings.position_embeddings.weight"] = normal(MAX_POS, HIDDEN)
    t["bert.embeddings.token_type_embeddings.weight"] = normal(TYPE_VOCAB, HIDDEN)
    layer_norm("bert.embeddings.LayerNorm", t)
    for i in range(LAYERS):
        p = f"bert.encoder.layer.{i}"
        for name in ("query", "key", "value"):
            linear(f"{p}.attention.self.{name}", t, HIDDEN, HIDDEN)
        linear(f"{p}.attention.output.dense", t, HIDDEN, HIDDEN)
        layer_norm(f"{p}.attention.output.LayerNorm", t)
        linear(f"{p}.intermediate.dense", t, HIDDEN, FFN)
        linear(f"{p}.output.dense", t, FFN, HIDDEN)
        layer_norm(f"{p}.output.LayerNorm", t)
    linear("cls.predictions.transform.dense", t, HIDDEN, HIDDEN)
    layer_norm("cls.predictions.transform.LayerNorm", t)
    t["cls.predictions.bias"] = zeros(v)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(bert_config(v), f, indent=2, sort_keys=True)
        f.write("\n")
    tmp = os.path.join(d, "model.safetensors.tmp")
    save_file(t, tmp, metadata={"format": "pt"})
    os.replace(tmp, os.path.join(d, "model.safetensors"))  # last: its presence marks a complete model


def ensure_model(mdir, corpus, seed, python, env):
    if os.path.isfile(os.path.join(mdir, "model.safetensors")):
        return None
    os.makedirs(mdir, exist_ok=True)
    vocab = build_vocab(corpus())
    with open(os.path.join(mdir, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    with open(os.path.join(mdir, "tokenizer_config.json"), "w") as f:
        json.dump({"do_lower_case": False}, f)
    t0 = time.perf_counter()
    r = subprocess.run([python, os.path.abspath(__file__), "--make-model", mdir, "--seed", str(seed)], env=env,
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"creating {mdir} failed (numpy and safetensors in {python}? `{python} -m pip install numpy "
                 f"safetensors`):\n{r.stderr[-3000:]}")
    return round(time.perf_counter() - t0, 1)


# ---------------------------------------------------------------- workers (children of --python)

def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return [l.rstrip("\n") for l in f if l.strip()]


def chunks(xs, n=CHUNK):
    return [xs[i:i + n] for i in range(0, len(xs), n)]


def worker_tag(args):
    """Loads an Engine (timed apart), then one tagging pass over the sentences in chunks of 32,
    with or without json.dumps of each record. Prints a JSON line with the timings."""
    import maskner
    spec = json.loads(args.spec)
    t0 = time.perf_counter()
    engine = maskner.Engine(models=spec["models"], maps=spec["maps"], threads=args.threads, progress=False)
    load_s = time.perf_counter() - t0
    sentences = read_lines(args.sentences)
    parts = chunks(sentences)
    dumps = args.variant == "json"
    lines = []
    t0 = time.perf_counter()
    if dumps:
        for part in parts:
            for rec in engine.tag(part, mode="markers"):
                lines.append(json.dumps(rec))
    else:
        for part in parts:
            lines.extend(engine.tag(part, mode="markers"))
    secs = time.perf_counter() - t0
    if dumps and args.records:
        with open(args.records, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
    print(json.dumps({"seconds": secs, "load_s": load_s, "records": len(lines),
                      "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))


def worker_spacy(args):
    """nlp.pipe with the maskner component vs Engine.tag(mode="auto") in chunks of 32 on the same
    plain texts, both warmed up on one chunk, timed in alternating order (args.order)."""
    spec = json.loads(args.spec)
    try:
        import spacy
        import maskner
        import maskner.spacy_component  # noqa: F401  (registers the "maskner" factory)
    except Exception as e:  # noqa: BLE001  (any import failure means: not ready, skip)
        print(json.dumps({"skipped": f"spaCy component not importable: {type(e).__name__}: {e}"}))
        return
    config = {"models": spec["models"], "maps": spec["maps"], "mode": "auto", "batch_size": CHUNK}
    nlp = spacy.blank("en")
    try:
        defaults = nlp.get_factory_meta("maskner").default_config or {}
    except Exception:  # noqa: BLE001
        defaults = {}
    if "threads" in defaults:
        config["threads"] = args.threads
    if "progress" in defaults:
        config["progress"] = False
    t0 = time.perf_counter()
    try:
        component = nlp.add_pipe("maskner", config=config)
    except Exception as e:  # noqa: BLE001
        print(json.dumps({"skipped": f"nlp.add_pipe('maskner', config=...) failed: {type(e).__name__}: {e}"}))
        return
    load_pipe_s = time.perf_counter() - t0
    engine = getattr(component, "engine", None)
    shared = isinstance(engine, maskner.Engine)
    t0 = time.perf_counter()
    if not shared:
        engine = maskner.Engine(models=spec["models"], maps=spec["maps"], threads=args.threads, progress=False)
    load_engine_s = time.perf_counter() - t0
    texts = read_lines(args.sentences)
    parts = chunks(texts)

    def run_pipe():
        t = time.perf_counter()
        docs = list(nlp.pipe(texts, batch_size=CHUNK))
        return time.perf_counter() - t, docs

    def run_tag():
        t = time.perf_counter()
        recs = []
        for part in parts:
            recs.extend(engine.tag(part, mode="auto"))
        return time.perf_counter() - t, recs

    list(nlp.pipe(texts[:CHUNK], batch_size=CHUNK))  # warm-up
    engine.tag(texts[:CHUNK], mode="auto")
    if args.order == 0:
        pipe_s, docs = run_pipe()
        tag_s, recs = run_tag()
    else:
        tag_s, recs = run_tag()
        pipe_s, docs = run_pipe()
    # informative: documents whose entity character spans are the engine's
    same = 0
    for doc, rec in zip(docs, recs):
        ents = sorted((e.start_char, e.end_char) for e in doc.ents)
        want = sorted((e["start"], e["end"]) for e in rec.get("entities", []))
        same += ents == want
    print(json.dumps({"pipe_s": pipe_s, "tag_s": tag_s, "load_pipe_s": load_pipe_s, "load_engine_s": load_engine_s,
                      "shared_engine": shared, "docs": len(docs), "doc_ents": sum(len(d.ents) for d in docs),
                      "record_entities": sum(len(r.get("entities", [])) for r in recs), "docs_same_spans": same,
                      "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))


# ---------------------------------------------------------------- parent

def child(cmd, env, what):
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{what} failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def check_python(python, env):
    if not os.path.isfile(python):
        sys.exit(f"{python}: not found (the virtualenv with the maskner binding; see python/README.md, or pass --python)")
    r = subprocess.run([python, "-c", "import maskner; print(maskner.__version__)"], env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{python}: cannot import maskner (bash python/test.sh builds the release wheel and installs it "
                 f"into ~/.cache/maskner-ci/venv):\n{r.stderr[-2000:]}")
    return r.stdout.strip()


def without_id(rec):
    return {k: v for k, v in rec.items() if k != "id"}


def bench_models(work, maskner, python, env):
    """The two bert-base-shaped members and their maps in `work` (written once, reused):
    `{name: (model_dir, map_dir)}`, the setup times, and the NCBI-disease devel sentences."""
    devel = read_tsv(os.path.join(SHARED, "NCBI-disease", "devel.tsv"))
    dirs, setup = {}, {}
    for name, seed, corpus in (
        ("bio", 1, lambda: read_tsv(os.path.join(SHARED, "NCBI-disease", "train.tsv")) + devel),
        ("phi", 2, lambda: read_conll(os.path.join(SHARED, "conllpp", "conllpp_train.txt")) + devel),
    ):
        mdir, mapdir = os.path.join(work, f"{name}-model"), os.path.join(work, f"{name}-map")
        made = ensure_model(mdir, corpus, seed, python, env)
        if made is not None:
            setup[f"{name}_model_write_s"] = made
            print(f"wrote {mdir} in {made} s", file=sys.stderr)
        if not os.path.isfile(os.path.join(mapdir, "meta.json")):
            secs, rss, _ = timed([maskner, "build-map", "--model", mdir, "--out", mapdir], env)
            setup[f"{name}_map_build"] = {"seconds": round(secs, 1), "max_rss_mb": round(rss / 1024)}
            print(f"built {mapdir} in {secs:.1f} s", file=sys.stderr)
        dirs[name] = (mdir, mapdir)
    return dirs, setup, devel


def main():
    ap = common_args(__doc__)
    ap.add_argument("--python", default=DEFAULT_PYTHON, help="python of the virtualenv with maskner (default %(default)s)")
    ap.add_argument("--no-spacy", action="store_true", help="skip the nlp.pipe vs Engine.tag part (the slow one)")
    ap.add_argument("--make-model", help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--worker", choices=["tag", "spacy"], help=argparse.SUPPRESS)
    ap.add_argument("--variant", choices=["plain", "json"], help=argparse.SUPPRESS)
    ap.add_argument("--order", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--spec", help=argparse.SUPPRESS)
    ap.add_argument("--sentences", help=argparse.SUPPRESS)
    ap.add_argument("--records", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.make_model:
        return make_model_numpy(args.make_model, args.seed)
    if args.worker == "tag":
        return worker_tag(args)
    if args.worker == "spacy":
        return worker_spacy(args)
    if not os.path.isfile(args.maskner):
        sys.exit(f"{args.maskner}: not found (run `cargo build --release` first)")

    env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads), OMP_NUM_THREADS=str(args.threads))
    version = check_python(args.python, env)
    work = args.work or tempfile.mkdtemp(prefix="maskner-bench-python-")
    os.makedirs(work, exist_ok=True)
    dirs, setup, devel = bench_models(work, args.maskner, args.python, env)

    sentences = marker_sentences(devel, args.limit)
    plain = [" ".join(w[: -len(MARKER)] if w.endswith(MARKER) else w for w in s.split(" ")) for s in sentences]
    sfile, pfile = os.path.join(work, f"py-sentences-{args.limit}.txt"), os.path.join(work, f"py-plain-{args.limit}.txt")
    empty, records_file = os.path.join(work, "py-empty.txt"), os.path.join(work, f"py-records-{args.limit}.jsonl")
    with open(sfile, "w", encoding="utf-8") as f:
        f.write("\n".join(sentences) + "\n")
    with open(pfile, "w", encoding="utf-8") as f:
        f.write("\n".join(plain) + "\n")
    open(empty, "w").close()

    spec = json.dumps({"models": {n: d[0] for n, d in dirs.items()}, "maps": {n: d[1] for n, d in dirs.items()}})
    base = [args.maskner, "tag", "--mode", "markers", "--format", "jsonl",
            "--model", f"bio={dirs['bio'][0]}", "--model", f"phi={dirs['phi'][0]}",
            "--map", f"bio={dirs['bio'][1]}", "--map", f"phi={dirs['phi'][1]}"]
    me = [args.python, os.path.abspath(__file__), "--threads", str(args.threads), "--spec", spec]
    timed(base + ["--input", empty], env)  # warm the page cache
    load_before = loadavg()
    t_empty, t_full, rss_full, rss_empty = [], [], [], []
    py = {"json": [], "plain": []}
    sp, spacy_note = [], None
    out = None
    for r in range(args.repeat):
        print(f"repeat {r + 1}/{args.repeat}", file=sys.stderr)
        s, m, _ = timed(base + ["--input", empty], env)
        t_empty.append(s)
        rss_empty.append(m)
        s, m, out = timed(base + ["--input", sfile], env)
        t_full.append(s)
        rss_full.append(m)
        for variant in ("json", "plain"):
            py[variant].append(child(me + ["--worker", "tag", "--variant", variant, "--sentences", sfile,
                                           "--records", records_file], env, f"python tag ({variant})"))
        if spacy_note is None and args.no_spacy:
            spacy_note = "skipped (--no-spacy)"
        if spacy_note is None:
            res = child(me + ["--worker", "spacy", "--sentences", pfile, "--order", str(r % 2)], env, "spacy")
            if "skipped" in res:
                spacy_note = res["skipped"]
                print(f"spaCy part skipped: {spacy_note}", file=sys.stderr)
            else:
                sp.append(res)
    load_after = loadavg()

    cli_recs = [json.loads(l) for l in out.splitlines() if l.strip()]
    with open(records_file, encoding="utf-8") as f:
        py_recs = [json.loads(l) for l in f if l.strip()]
    equal = sum(1 for a, b in zip(cli_recs, py_recs) if without_id(a) == without_id(b))
    equal_with_id = sum(1 for a, b in zip(cli_recs, py_recs) if a == b)
    errors = sum(1 for x in cli_recs if "error" in x)
    n = len(sentences)

    cli_runs = [f - e for f, e in zip(t_full, t_empty)]
    cli_s = statistics.median(cli_runs)

    def med(runs):
        return {"seconds": round(statistics.median(runs), 3), "runs_s": [round(x, 3) for x in runs],
                "sentences_per_s": round(n / statistics.median(runs), 2)}

    def overhead(runs):
        return {"median_pct": round((statistics.median(runs) - cli_s) / cli_s * 100, 2),
                "per_repeat_pct": [round((p - c) / c * 100, 2) for p, c in zip(runs, cli_runs)]}

    pj = [x["seconds"] for x in py["json"]]
    pp = [x["seconds"] for x in py["plain"]]
    report = {
        "sentences": n,
        "sentences_with_phrases": sum(1 for s in sentences if MARKER in s),
        "threads": args.threads,
        "repeat": args.repeat,
        "chunk": CHUNK,
        "maskner_python_version": version,
        "loadavg_before_after": [load_before, load_after],
        "setup": setup,
        "cli": {
            **med(cli_runs),
            "wall_runs_s": [round(x, 3) for x in t_full],
            "load_only_runs_s": [round(x, 3) for x in t_empty],
            "max_rss_mb": round(max(rss_full) / 1024),
            "error_records": errors,
        },
        "python_tag_json": {**med(pj), "load_runs_s": [round(x["load_s"], 3) for x in py["json"]],
                            "max_rss_mb": round(max(x["maxrss_kb"] for x in py["json"]) / 1024)},
        "python_tag": {**med(pp), "load_runs_s": [round(x["load_s"], 3) for x in py["plain"]],
                       "max_rss_mb": round(max(x["maxrss_kb"] for x in py["plain"]) / 1024)},
        "python_overhead_pct": overhead(pj)["median_pct"],
        "python_overhead_pct_detail": {"tag_json": overhead(pj), "tag_only": overhead(pp)},
        "json_dumps_s": round(statistics.median(pj) - statistics.median(pp), 3),
        "records_equal": f"{equal}/{len(cli_recs)} (CLI records {len(cli_recs)}, Python {len(py_recs)}; "
                         f"id left out; {equal_with_id} equal with id)",
        "work_dir": work,
    }
    if spacy_note is not None:
        report["spacy"] = {"skipped": spacy_note}
    else:
        pipe, tag = [x["pipe_s"] for x in sp], [x["tag_s"] for x in sp]
        report["spacy"] = {
            "pipe": med(pipe),
            "tag_auto": med(tag),
            "pipe_vs_tag": round(statistics.median(pipe) / statistics.median(tag), 3),
            "pipe_vs_tag_per_repeat": [round(p / t, 3) for p, t in zip(pipe, tag)],
            "order_per_repeat": ["pipe,tag" if i % 2 == 0 else "tag,pipe" for i in range(len(sp))],
            "component_engine_shared": sp[-1]["shared_engine"],
            "load_pipe_s": round(sp[-1]["load_pipe_s"], 3),
            "doc_ents": sp[-1]["doc_ents"],
            "record_entities": sp[-1]["record_entities"],
            "docs_same_spans": f"{sp[-1]['docs_same_spans']}/{sp[-1]['docs']}",
            "max_rss_mb": round(max(x["maxrss_kb"] for x in sp) / 1024),
        }
    report["pipe_vs_tag"] = report["spacy"].get("pipe_vs_tag")

    lines = [
        f"{n} sentences, {args.threads} threads, median of {args.repeat}; load average {load_before} -> {load_after}",
        f"  maskner tag (CLI, load excluded)   {cli_s:8.3f} s",
        f"  Engine.tag + json.dumps            {statistics.median(pj):8.3f} s  overhead {overhead(pj)['median_pct']:+.2f} %",
        f"  Engine.tag                         {statistics.median(pp):8.3f} s  overhead {overhead(pp)['median_pct']:+.2f} %",
        f"  records equal to the CLI's: {report['records_equal']}",
    ]
    if spacy_note is not None:
        lines.append(f"  spaCy: skipped ({spacy_note})")
    else:
        s = report["spacy"]
        lines += [f"  nlp.pipe (component, auto)         {s['pipe']['seconds']:8.3f} s",
                  f"  Engine.tag (auto)                  {s['tag_auto']['seconds']:8.3f} s  pipe/tag {s['pipe_vs_tag']:.3f}"]
    print("\n".join(lines), file=sys.stderr)
    print(json.dumps(report, indent=2))
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
