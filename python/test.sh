#!/usr/bin/env bash
# The Python package's tests: builds the release wheel with maturin (in Cargo's shared target
# directory, so the Rust build is reused), installs it into a virtual environment with pytest
# and spaCy, and runs pytest against the release CLI for the parity tests. Extra arguments go
# to pytest. Needs Python >= 3.9 with venv, a Rust toolchain and PyPI; the browser tests
# (tests/test_view.py, Selenium) need chromium and chromedriver on PATH and skip without them.
set -euo pipefail
cd "$(dirname "$0")"
venv="${MASKNER_VENV:-$HOME/.cache/maskner-ci/venv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "maturin>=1.9,<2" "pytest>=8" "spacy>=3.7,<4" \
    "selenium>=4.20,<5" "pyspark>=4.0,<5" "pandas>=2.2,<3" "pyarrow>=15"  # tested: pyspark 4.3.0, pandas 2.3.3, pyarrow 26.0.1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/../target}"
# the CLI the Python records are compared with
cargo build --release --locked -p maskner
wheels="$CARGO_TARGET_DIR/wheels"
rm -f "$wheels"/maskner-*.whl
"$venv/bin/maturin" build --release --locked --interpreter "$venv/bin/python" --out "$wheels"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps "$wheels"/maskner-*.whl
# pytest exits 5 (a failure here) when it collected no test
MASKNER_BIN="$CARGO_TARGET_DIR/release/maskner" "$venv/bin/python" -m pytest tests -q -p no:cacheprovider "$@"
