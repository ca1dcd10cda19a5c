#!/usr/bin/env python3
"""Streaming and resume benchmark for `maskner tag --output FILE --resume` (not run in CI).

Models: the tiny fixture models (`--model bio=data/fixtures/tiny-bert-cased --model
phi=data/fixtures/tiny-bert-uncased`), so the figures are about the streaming machinery, not
model speed. Inputs are generated: short plain-text records of 1-3 words from a fixed word list
(seeded), one per line, so that a million records finish in reasonable time.

(a) Memory: peak RSS (the child's ru_maxrss from wait4) of a checkpointed run over --small
    records against the same over --large records. Streaming means the two should be within
    10 % of each other whatever the input size.
(b) Resume cost: a run over --resume-records records is killed (SIGKILL) once its checkpoint
    holds 10 %, 50 % and 90 % of them; `--resume` is then started and timed from spawn to its
    `resuming ...` note (engine load, identity checks, re-hashing the tagged input prefix,
    cutting the output back), then stopped. The peer, same run: a fresh start, timed from spawn
    to its first checkpoint (engine load and identity only). Resuming never reads the output,
    so its cost should not grow with the records already done beyond hashing the input prefix.

    python3 tools/bench_resume.py [--maskner target/release/maskner] [--small 10000]
        [--large 1000000] [--resume-records 20000] [--threads 2] [--repeat 5] [--no-rss]
        [--work DIR]
"""
import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORDS = ["Imatinib", "mesylate", "aspirin", "CML", "EGFR", "cancer", "York", "Lou", "Gehrig", "patients", "lung", "café"]


def write_input(path, n, seed=7):
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(n):
            f.write(" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 3))) + "\n")


def base_cmd(args, inp, out):
    return [args.maskner, "tag",
            "--model", "bio=" + os.path.join(ROOT, "data/fixtures/tiny-bert-cased"),
            "--model", "phi=" + os.path.join(ROOT, "data/fixtures/tiny-bert-uncased"),
            "--input", inp, "--output", out, "--threads", str(args.threads)]


def env(args):
    e = dict(os.environ)
    e["MASKNER_CACHE"] = os.path.join(args.work, "cache")
    e["HF_HUB_OFFLINE"] = "1"
    return e


def sidecar(out):
    return out + ".resume.json"


def checkpointed(out):
    try:
        with open(sidecar(out), encoding="utf-8") as f:
            return json.load(f)["records"]
    except (OSError, ValueError, KeyError):
        return 0


def peak_rss(args, n):
    inp = os.path.join(args.work, f"in-{n}.txt")
    if not os.path.exists(inp):
        write_input(inp, n)
    out = os.path.join(args.work, f"out-{n}.jsonl")
    for p in (out, sidecar(out)):
        if os.path.exists(p):
            os.remove(p)
    t0 = time.monotonic()
    child = subprocess.Popen(base_cmd(args, inp, out), env=env(args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    secs = time.monotonic() - t0
    err = child.stderr.read().decode()
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        sys.exit(f"maskner failed on {n} records: {err}")
    with open(out, "rb") as f:
        lines = sum(1 for _ in f)
    assert lines == n, f"{lines} output records for {n} inputs"
    os.remove(out)
    return usage.ru_maxrss / 1024, secs, os.path.getsize(inp)


def kill_at(args, cmd, out, records):
    child = subprocess.Popen(cmd, env=env(args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while checkpointed(out) < records:
        if child.poll() is not None:
            sys.exit(f"maskner ended before {records} records were checkpointed")
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait()


def time_to(args, cmd, ready):
    """Seconds from spawn until ready(child) is true; the child is then killed."""
    t0 = time.monotonic()
    child = subprocess.Popen(cmd, env=env(args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    secs = None
    while secs is None:
        if ready(child):
            secs = time.monotonic() - t0
        elif child.poll() is not None:
            sys.exit(f"maskner ended early: {child.stderr.read()}")
        else:
            time.sleep(0.002)
    child.send_signal(signal.SIGKILL)
    child.wait()
    return secs


def resume_cost(args):
    n = args.resume_records
    inp = os.path.join(args.work, f"in-{n}.txt")
    if not os.path.exists(inp):
        write_input(inp, n)
    rows = []
    for frac in (0.1, 0.5, 0.9):
        out = os.path.join(args.work, "resume.jsonl")
        for p in (out, sidecar(out)):
            if os.path.exists(p):
                os.remove(p)
        cmd = base_cmd(args, inp, out)
        starts = []
        for _ in range(args.repeat):
            starts.append(time_to(args, cmd, lambda c: os.path.exists(sidecar(out))))
            os.remove(out)
            os.remove(sidecar(out))
        fresh = statistics.median(starts)
        kill_at(args, cmd, out, int(n * frac))
        with open(sidecar(out), encoding="utf-8") as f:
            ck = json.load(f)
        out_bytes = os.path.getsize(out)

        def resumed(c):
            line = c.stderr.readline()
            return "resuming" in line

        # the timed resume is stopped right after its note, before its first checkpoint, so
        # each repeat resumes from the same state
        secs = statistics.median(time_to(args, cmd + ["--resume"], resumed) for _ in range(args.repeat))
        rows.append((frac, ck["records"], ck["input"]["offset"], out_bytes, secs, fresh))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--maskner", default=os.path.join(ROOT, "target/release/maskner"))
    ap.add_argument("--small", type=int, default=10_000)
    ap.add_argument("--large", type=int, default=1_000_000)
    ap.add_argument("--resume-records", type=int, default=20_000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5, help="(b): median of this many timings")
    ap.add_argument("--no-rss", action="store_true", help="skip (a)")
    ap.add_argument("--work", help="scratch directory (kept; default: a temporary one)")
    args = ap.parse_args()
    if args.work is None:
        args.work = tempfile.mkdtemp(prefix="bench-resume-")
    os.makedirs(args.work, exist_ok=True)
    print(f"work directory {args.work}", file=sys.stderr)
    # the maps are built once, before anything is timed
    peak_rss(args, 10)

    if not args.no_rss:
        small = peak_rss(args, args.small)
        large = peak_rss(args, args.large)
        print("(a) peak RSS of a checkpointed `tag --output` run")
        for n, (rss, secs, size) in ((args.small, small), (args.large, large)):
            print(f"  {n:>9,} records ({size / 1e6:.1f} MB input): peak RSS {rss:.1f} MiB, {secs:.1f} s, {n / secs:,.0f} records/s")
        print(f"  ratio large/small peak RSS: {large[0] / small[0]:.3f}")

    print(f"(b) resume cost, {args.resume_records:,} records, medians of {args.repeat}")
    print("  done   records  input bytes  output bytes  resume to note  fresh to 1st checkpoint  ratio")
    for frac, recs, inb, outb, secs, fresh in resume_cost(args):
        print(f"  {frac:>4.0%}  {recs:>8,}  {inb:>11,}  {outb:>12,}  {secs:>13.3f} s  {fresh:>21.3f} s  {secs / fresh:.2f}")


if __name__ == "__main__":
    main()
