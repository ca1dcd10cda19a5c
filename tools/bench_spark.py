#!/usr/bin/env python3
"""Spark benchmark: `maskner.spark.tag_dataframe` and `maskner.spark.pipe_rdd` in Spark
`local[2]` against `maskner tag` on the same records, same run, same machine, same cores.

Run it with the virtualenv that has maskner, pyspark, pandas<3 and pyarrow (python/test.sh
installs them):

    ~/.cache/maskner-ci/venv/bin/python tools/bench_spark.py [--limit 2000] [--repeat 1]
        [--maskner target/release/maskner] [--work DIR (reuse models and maps)]

Input: the first --limit NCBI-disease sentences (devel, then test, then train, from
../shared/benchmarks) as marker sentences, made by tools/bench_pipeline.py's marker_sentences,
as JSON Lines records {"id": "s00001", "text": ...}. Models: tools/bench_python.py's two
bert-base-shaped random models (written with numpy + safetensors, its ensure_model) and their
maps (`maskner build-map`); both helpers are imported, not copied. With --work, models and maps
already there (also ones bench_python.py wrote) are reused.

Per repeat, in this order, from one driver process (the CLI runs while Spark is idle):
1. CLI: `maskner tag --mode markers --format jsonl --input FILE --model .. --map ..` with
   RAYON_NUM_THREADS=2: tagging = wall on the records minus wall on an empty file (process
   start, model and map load), as bench_python.py measures it.
2. DataFrame: `tag_dataframe(df, mode="markers", models, maps)` over 2 partitions, written with
   `.write.json` (the CLI writes JSON Lines too). Each of the 2 Python workers gets
   spark.task.cpus = 1 compute thread: 2 cores in all, as the CLI.
3. RDD.pipe: `pipe_rdd(rdd, args=[--mode markers, --model .., --map ..])` over 2 partitions,
   written with `.saveAsTextFile`. Each partition starts its own binary (RAYON_NUM_THREADS=1),
   which loads the models: that load is part of every pipe job, so the pipe is compared with
   the CLI's whole wall time (load included) as well as with its tagging time.

Spark's own start-up is reported apart and excluded from the DataFrame overhead: session start
(JVM), and a warm-up job of 2 rows in 2 partitions (Python worker spin-up and each worker's
engine load; Spark reuses the Python workers, so the timed jobs find their engines loaded).
overhead_pct = (spark - cli) / cli * 100 on the medians. The records are read back and their
entities compared with the CLI's, field by field (start, end, word, group, subtype, score,
member). Human summary on stderr, one JSON object on stdout.
"""
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_pipeline import SHARED, common_args, loadavg, marker_sentences, read_tsv, timed  # noqa: E402
from bench_python import bench_models  # noqa: E402


def sentences(limit):
    base = os.path.join(SHARED, "NCBI-disease")
    sents = []
    for split in ("devel", "test", "train"):
        sents += read_tsv(os.path.join(base, f"{split}.tsv"))
        if len(sents) >= limit:
            break
    if len(sents) < limit:
        sys.exit(f"--limit {limit}: NCBI-disease has only {len(sents)} sentences")
    return marker_sentences(sents, limit)


def models(work, maskner, env):
    return bench_models(work, maskner, sys.executable, env)[0]


def entity_fields(entities, fields):
    return [{k: e[k] for k in fields} for e in entities or []]


def main():
    ap = common_args(__doc__)
    ap.set_defaults(limit=2000, repeat=1, threads=2)
    args = ap.parse_args()
    if args.threads != 2:
        sys.exit("--threads: this benchmark compares local[2] (2 workers x 1 thread) with the CLI on 2 threads")
    try:
        from pyspark.sql import SparkSession

        from maskner.spark import ENTITY_FIELDS, output_schema, pipe_rdd, tag_dataframe
    except ImportError as e:
        sys.exit(f"{e}: run this with the virtualenv python/test.sh sets up (~/.cache/maskner-ci/venv/bin/python)")
    if not os.path.isfile(args.maskner):
        sys.exit(f"{args.maskner}: not found (run `cargo build --release` first)")
    maskner = os.path.abspath(args.maskner)
    env = dict(os.environ, RAYON_NUM_THREADS="2", HF_HUB_OFFLINE="1")
    work = args.work or tempfile.mkdtemp(prefix="maskner-bench-spark-")
    os.makedirs(work, exist_ok=True)
    dirs = models(work, maskner, env)
    sents = sentences(args.limit)
    records = [{"id": f"s{i:05d}", "text": s} for i, s in enumerate(sents, 1)]
    rfile, empty = os.path.join(work, f"spark-records-{args.limit}.jsonl"), os.path.join(work, "spark-empty.jsonl")
    with open(rfile, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    open(empty, "w").close()
    engine_kw = {"models": {n: d[0] for n, d in dirs.items()}, "maps": {n: d[1] for n, d in dirs.items()}}
    flags = ["--mode", "markers"]
    for n, (mdir, mapdir) in dirs.items():
        flags += ["--model", f"{n}={mdir}", "--map", f"{n}={mapdir}"]
    cli = [maskner, "tag", "--format", "jsonl", *flags]

    load_before = loadavg()
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["HF_HUB_OFFLINE"] = "1"
    t0 = time.perf_counter()
    spark = (SparkSession.builder.master("local[2]").appName("maskner-bench")
             .config("spark.ui.enabled", "false").config("spark.driver.memory", "2g").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    session_s = time.perf_counter() - t0
    df = spark.createDataFrame([(r["id"], r["text"]) for r in records], "id string, text string").repartition(2).cache()
    df.count()
    t0 = time.perf_counter()
    warm = tag_dataframe(df.limit(2).repartition(2), mode="markers", **engine_kw).collect()
    warmup_s = time.perf_counter() - t0
    assert len(warm) == 2
    rdd = spark.sparkContext.parallelize(records, 2).cache()
    rdd.count()

    cli_empty, cli_full, frame, pipe = [], [], [], []
    cli_out = None
    for r in range(args.repeat):
        print(f"repeat {r + 1}/{args.repeat}", file=sys.stderr)
        cli_empty.append(timed(cli + ["--input", empty], env)[0])
        s, _, cli_out = timed(cli + ["--input", rfile], env)
        cli_full.append(s)
        print(f"  cli {s:.1f} s (load {cli_empty[-1]:.1f} s)", file=sys.stderr)
        out_df = os.path.join(work, "spark-out-df")
        shutil.rmtree(out_df, ignore_errors=True)
        t0 = time.perf_counter()
        tag_dataframe(df, mode="markers", **engine_kw).write.json(out_df)
        frame.append(time.perf_counter() - t0)
        print(f"  tag_dataframe {frame[-1]:.1f} s", file=sys.stderr)
        out_pipe = os.path.join(work, "spark-out-pipe")
        shutil.rmtree(out_pipe, ignore_errors=True)
        t0 = time.perf_counter()
        pipe_rdd(rdd, maskner=maskner, args=flags).map(json.dumps).saveAsTextFile(out_pipe)
        pipe.append(time.perf_counter() - t0)
        print(f"  pipe_rdd {pipe[-1]:.1f} s", file=sys.stderr)
    load_after = loadavg()

    cli_recs = {r["id"]: r for r in (json.loads(line) for line in cli_out.splitlines() if line.strip())}
    df_rows = spark.read.schema(output_schema()).json(out_df).collect()  # .json leaves null fields out
    pipe_recs = spark.sparkContext.textFile(out_pipe).map(json.loads).collect()
    df_equal = sum(1 for row in df_rows if row["error"] is None and row["id"] in cli_recs
                   and entity_fields([e.asDict() for e in row["entities"]], ENTITY_FIELDS)
                   == entity_fields(cli_recs[row["id"]]["entities"], ENTITY_FIELDS))
    pipe_equal = sum(1 for rec in pipe_recs if cli_recs.get(rec["id"]) == rec)
    spark.stop()

    n = len(records)
    tag_runs = [f - e for f, e in zip(cli_full, cli_empty)]
    cli_tag, cli_wall = statistics.median(tag_runs), statistics.median(cli_full)
    df_s, pipe_s = statistics.median(frame), statistics.median(pipe)

    def pct(x, peer):
        return round((x - peer) / peer * 100, 2)

    report = {
        "sentences": n,
        "repeat": args.repeat,
        "cores": "local[2], spark.task.cpus=1; CLI RAYON_NUM_THREADS=2",
        "loadavg_before_after": [load_before, load_after],
        "cli": {"tag_s": round(cli_tag, 3), "wall_s": round(cli_wall, 3), "load_s": round(statistics.median(cli_empty), 3),
                "tag_runs_s": [round(x, 3) for x in tag_runs], "sentences_per_s": round(n / cli_tag, 2),
                "error_records": sum(1 for x in cli_recs.values() if "error" in x)},
        "spark_startup": {"session_s": round(session_s, 3), "first_job_worker_spinup_and_model_load_s": round(warmup_s, 3)},
        "tag_dataframe": {"seconds": round(df_s, 3), "runs_s": [round(x, 3) for x in frame],
                          "sentences_per_s": round(n / df_s, 2), "overhead_pct_vs_cli_tag": pct(df_s, cli_tag),
                          "rows": len(df_rows), "entities_equal_to_cli": f"{df_equal}/{n}"},
        "pipe_rdd": {"seconds": round(pipe_s, 3), "runs_s": [round(x, 3) for x in pipe],
                     "overhead_pct_vs_cli_wall": pct(pipe_s, cli_wall), "overhead_pct_vs_cli_tag": pct(pipe_s, cli_tag),
                     "records": len(pipe_recs), "records_equal_to_cli": f"{pipe_equal}/{n}"},
        "work_dir": work,
    }
    lines = [
        f"{n} sentences, median of {args.repeat}; load average {load_before} -> {load_after}",
        f"  maskner tag, tagging (load excluded)  {cli_tag:8.2f} s   (wall {cli_wall:.2f} s, load {report['cli']['load_s']:.2f} s)",
        f"  Spark start-up: session {session_s:.2f} s, first job (workers + model load) {warmup_s:.2f} s",
        f"  tag_dataframe (start-up excluded)     {df_s:8.2f} s   overhead {pct(df_s, cli_tag):+.2f} %   entities equal {df_equal}/{n}",
        f"  pipe_rdd (binaries load per job)      {pipe_s:8.2f} s   vs CLI wall {pct(pipe_s, cli_wall):+.2f} %   "
        f"records equal {pipe_equal}/{n}",
    ]
    print("\n".join(lines), file=sys.stderr)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
