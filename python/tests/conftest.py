"""Shared fixtures: the repository's tiny fixture models, a map cache private to the run (the CLI
under comparison gets the same one), and the `maskner` binary for CLI-parity tests."""

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "data" / "fixtures"
BIO = str(FIXTURES / "tiny-bert-cased")
PHI = str(FIXTURES / "tiny-bert-uncased")
MODELS = {"bio": BIO, "phi": PHI}

# maps built on first use go to a cache private to this run, shared with the CLI runs below
_CACHE = tempfile.mkdtemp(prefix="maskner-pytest-cache-")
os.environ["MASKNER_CACHE"] = _CACHE
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_CACHE, ignore_errors=True)


def _find_cli():
    explicit = os.environ.get("MASKNER_BIN")
    if explicit:
        if not Path(explicit).is_file():
            raise RuntimeError(f"MASKNER_BIN={explicit} does not exist; build it with cargo build --release")
        return explicit
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    for profile in ("release", "debug"):
        exe = target / profile / "maskner"
        if exe.is_file():
            return str(exe)
    return None


@pytest.fixture(scope="session")
def cli():
    """Runs the maskner binary (MASKNER_BIN, else target/release or target/debug); tests that
    compare with it skip when there is none (CI sets MASKNER_BIN)."""
    exe = _find_cli()
    if exe is None:
        pytest.skip("no maskner binary: run cargo build --release, or set MASKNER_BIN")

    def run(*args, stdin=None, check=True):
        proc = subprocess.run(
            [exe, *args], input=stdin, capture_output=True, text=True, cwd=ROOT, encoding="utf-8"
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"maskner {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
        return proc

    return run


def model_args():
    return ["--model", f"bio={BIO}", "--model", f"phi={PHI}"]


def jsonl(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="session")
def engine():
    import maskner

    return maskner.Engine(models=MODELS, progress=False)
