#!/usr/bin/env python3
"""HTML view figures: page size and load time in headless Chromium for N records.

Input: the first --records sentences of ../shared/benchmarks/NCBI-disease devel.tsv (then
train.tsv) as plain
text (automatic phrases, no markers), tagged with the repository's tiny fixture models (the
view's cost depends on the records, not on the models' quality). For the pages made without
and with --explain: the file size, and the time from navigation start to the page's script
having drawn every record (`document.body.dataset.ready`), median of --repeat fresh loads in
Debian's chromium (headless, via Selenium and chromium-driver), plus the browser's own
`domContentLoaded` and the script's render time. Opening an entity panel is timed too.

    python3 tools/bench_view.py [--records 1000] [--repeat 5] [--maskner target/release/maskner]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_pipeline import ROOT, SHARED, read_tsv  # noqa: E402


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = shutil.which("chromium")
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,900"):
        opts.add_argument(a)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)


def load(driver, page):
    from selenium.webdriver.common.by import By

    started = time.monotonic()
    driver.get("file://" + page)
    while driver.execute_script("return document.body.dataset.ready") != "1":
        time.sleep(0.01)
    wall = time.monotonic() - started
    timing = driver.execute_script(
        "const t = performance.getEntriesByType('navigation')[0];"
        "return {dcl: t.domContentLoadedEventEnd, render: +document.body.dataset.renderMs};"
    )
    marks = driver.find_elements(By.CSS_SELECTOR, "mark.ent")
    t0 = time.monotonic()
    mark = marks[len(marks) // 2]
    driver.execute_script("arguments[0].closest('details').open = true; arguments[0].scrollIntoView({block: 'center'});", mark)
    mark.click()
    while driver.execute_script("return document.getElementById('panel').hidden"):
        time.sleep(0.005)
    panel = time.monotonic() - t0
    return wall, timing["dcl"] / 1000, timing["render"] / 1000, panel, len(marks)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--maskner", default=os.path.join(ROOT, "target", "release", "maskner"))
    args = ap.parse_args()
    benchmarks = os.environ.get("MASKNER_BENCHMARKS", SHARED)
    sents = []
    for split in ("devel", "train"):  # devel has 923 sentences
        sents += read_tsv(os.path.join(benchmarks, "NCBI-disease", f"{split}.tsv"))
    sents = sents[: args.records]
    work = tempfile.mkdtemp(prefix="maskner-bench-view-")
    src = os.path.join(work, "input.txt")
    with open(src, "w", encoding="utf-8") as f:
        for s in sents:
            f.write(" ".join(w for w, _ in s) + "\n")
    fixtures = os.path.join(ROOT, "data", "fixtures")
    models = ["--model", f"bio={fixtures}/tiny-bert-cased", "--model", f"phi={fixtures}/tiny-bert-uncased"]
    env = dict(os.environ, MASKNER_CACHE=os.path.join(work, "cache"))
    driver = browser()
    try:
        for extra in ([], ["--explain"]):
            page = os.path.join(work, "page%s.html" % ("-explain" if extra else ""))
            with open(page, "w", encoding="utf-8") as out:
                subprocess.run([args.maskner, "tag", *models, "--mode", "auto", "--input", src, "--format", "html", *extra],
                               stdout=out, stderr=subprocess.DEVNULL, env=env, check=True)
            runs = [load(driver, page) for _ in range(args.repeat)]
            med = [statistics.median(r[i] for r in runs) for i in range(4)]
            print(json.dumps({"records": len(sents), "explain": bool(extra), "bytes": os.path.getsize(page), "marks": runs[0][4],
                              "open_to_drawn_s": round(med[0], 3), "dom_content_loaded_s": round(med[1], 3),
                              "script_render_s": round(med[2], 3), "panel_open_s": round(med[3], 3),
                              "runs_open_to_drawn_s": [round(r[0], 3) for r in runs]}))
    finally:
        driver.quit()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
