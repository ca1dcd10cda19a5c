//! `maskner tag --output FILE --resume`: runs killed with SIGKILL at several points and resumed
//! give exactly the bytes of an uninterrupted run (jsonl from plain text, conll from JSON
//! Lines with an error record); a torn last line is cut and redone; a changed input, flags,
//! engine config or model files are refused; `--resume` with stdin or `--format json` is
//! refused; an output that cannot be created is a clear error; `--threads` is checked.
//! Kill points are reached by polling the output's size or the checkpoint, never by sleeping.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

/// The two tiny fixtures as `bio` and `phi`, then `args`.
fn tag_args(args: &[&str]) -> Vec<String> {
    let mut all = vec![
        "tag".to_string(),
        "--model".into(),
        format!("bio={}", common::fixture_arg("tiny-bert-cased")),
        "--model".into(),
        format!("phi={}", common::fixture_arg("tiny-bert-uncased")),
    ];
    all.extend(args.iter().map(|s| s.to_string()));
    all
}

fn run(args: &[String]) -> Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    common::maskner(&args, None, &[])
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn sidecar(out: &Path) -> PathBuf {
    PathBuf::from(format!("{}.resume.json", out.display()))
}

const WORDS: &[&str] = &[
    "Imatinib", "mesylate", "is", "used", "to", "treat", "CML", "in", "New", "York", "Lou", "Gehrig", "aspirin", "patients", "with",
    "lung", "cancer", "EGFR", "Zoë", "Müller", "café",
];

/// `n` texts of 3 to 12 words, the same every time (a small linear congruential generator).
fn texts(n: usize) -> Vec<String> {
    let mut x: u64 = 12345;
    let mut next = |m: u64| {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (x >> 33) % m
    };
    (0..n)
        .map(|_| {
            let k = 3 + next(10) as usize;
            (0..k).map(|_| WORDS[next(WORDS.len() as u64) as usize]).collect::<Vec<_>>().join(" ")
        })
        .collect()
}

/// A plain-text input of `n` lines (some blank), CRLF line ends on every seventh.
fn plain_input(dir: &Path, n: usize) -> PathBuf {
    let mut s = String::new();
    for (i, t) in texts(n).iter().enumerate() {
        if i % 97 == 5 {
            s.push('\n');
        } else if i % 7 == 3 {
            s.push_str(&format!("{t}\r\n"));
        } else {
            s.push_str(&format!("{t}\n"));
        }
    }
    let p = dir.join("in.txt");
    std::fs::write(&p, s).unwrap();
    p
}

/// A JSON Lines input of `n` records with string ids, some with spans, one malformed line (an
/// error record), after a byte-order mark.
fn jsonl_input(dir: &Path, n: usize) -> PathBuf {
    let mut s = String::from("\u{feff}");
    for (i, t) in texts(n).iter().enumerate() {
        if i == n / 3 {
            s.push_str("{\"id\": \"broken\", \"text\": \n");
            continue;
        }
        let mut v = serde_json::json!({"id": format!("r{i}"), "text": t});
        if i % 5 == 0 {
            let first = t.split(' ').next().unwrap_or("").chars().count();
            v["spans"] = serde_json::json!([[0, first]]);
        }
        s.push_str(&format!("{v}\n"));
    }
    let p = dir.join("in.jsonl");
    std::fs::write(&p, s).unwrap();
    p
}

/// Spawns `maskner ARGS` quietly.
fn spawn(args: &[String]) -> Child {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    common::command(&args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("spawn maskner")
}

/// Polls until `ready()` or the child exits; kills it with SIGKILL if ready. Panics if the child
/// finished first (the kill point was never reached) or after ten minutes.
fn kill_when(mut child: Child, what: &str, ready: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        if ready() {
            child.kill().expect("SIGKILL maskner");
            child.wait().expect("reap maskner");
            return;
        }
        if let Some(status) = child.try_wait().expect("poll maskner") {
            panic!("maskner ended ({status}) before the kill point: {what}");
        }
        assert!(Instant::now() < deadline, "kill point never reached: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn size(p: &Path) -> u64 {
    std::fs::metadata(p).map_or(0, |m| m.len())
}

/// The records of the checkpoint next to `out` (0 while there is none or it is being replaced).
fn checkpointed(out: &Path) -> u64 {
    std::fs::read_to_string(sidecar(out))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["records"].as_u64())
        .unwrap_or(0)
}

/// Runs `args` uninterrupted into `dir/full.*`, checks it equals stdout's records, returns
/// the bytes and the exit code.
fn uninterrupted(dir: &Path, args: &[&str], ext: &str) -> (Vec<u8>, Option<i32>) {
    let out = dir.join(format!("full.{ext}"));
    let mut a = args.to_vec();
    let o = out.display().to_string();
    a.extend(["--output", &o]);
    let r = run(&tag_args(&a));
    let bytes = std::fs::read(&out).unwrap();
    assert!(!sidecar(&out).exists(), "a completed run removes its checkpoint");
    assert!(stderr(&r).contains("complete:"), "{}", stderr(&r));
    let to_stdout = run(&tag_args(args));
    assert_eq!(to_stdout.status.code(), r.status.code());
    assert!(bytes == to_stdout.stdout, "--output writes what stdout gets");
    (bytes, r.status.code())
}

/// Kills runs of `args --output OUT --resume` at each fraction of the full output's size,
/// resuming each time (at the second point a torn line is appended first, as a crash mid-write
/// leaves), then lets the last run finish; the output must equal `full` byte for byte.
fn kill_and_resume(dir: &Path, args: &[&str], ext: &str, full: &[u8], code: Option<i32>) {
    let out = dir.join(format!("resumed.{ext}"));
    let o = out.display().to_string();
    let mut a = args.to_vec();
    a.extend(["--output", &o, "--resume"]);
    let a = tag_args(&a);
    let points = [0.15, 0.45, 0.8];
    for (k, f) in points.iter().enumerate() {
        let at = (full.len() as f64 * f) as u64;
        kill_when(spawn(&a), &format!("{at} output bytes"), || size(&out) >= at && sidecar(&out).exists());
        assert!(sidecar(&out).exists(), "a killed run leaves its checkpoint");
        if k == 1 {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new().append(true).open(&out).unwrap();
            f.write_all(b"{\"id\":\"torn\",\"text\":\"half a rec").unwrap();
        }
    }
    let r = run(&a);
    assert_eq!(r.status.code(), code, "{}", stderr(&r));
    assert!(stderr(&r).contains("resuming"), "{}", stderr(&r));
    let got = std::fs::read(&out).unwrap();
    assert_eq!(got.len(), full.len(), "resumed output length");
    assert!(got == full, "the resumed output differs from the uninterrupted one");
    assert!(!sidecar(&out).exists());
}

#[test]
fn killed_jsonl_runs_over_plain_text_resume_to_identical_output() {
    let dir = common::tmp("resume-jsonl");
    let input = plain_input(&dir, 1500);
    let i = input.display().to_string();
    let args = ["--input", i.as_str(), "--format", "jsonl"];
    let (full, code) = uninterrupted(&dir, &args, "jsonl");
    assert_eq!(code, Some(0));
    assert_eq!(full.iter().filter(|&&b| b == b'\n').count(), 1500, "one record per input line");
    kill_and_resume(&dir, &args, "jsonl", &full, code);
}

#[test]
fn killed_conll_runs_over_json_lines_resume_to_identical_output() {
    let dir = common::tmp("resume-conll");
    let input = jsonl_input(&dir, 1200);
    let i = input.display().to_string();
    let args = ["--input", i.as_str(), "--format", "conll", "--batch", "16"];
    let (full, code) = uninterrupted(&dir, &args, "conll");
    assert_eq!(code, Some(2), "the malformed line is an error record");
    kill_and_resume(&dir, &args, "conll", &full, code);
}

/// Starts `args --output OUT` and kills it once its checkpoint holds some records.
fn interrupted(args: &[String], out: &Path) {
    let o = out.display().to_string();
    let mut a = args.to_vec();
    a.extend(["--output".into(), o]);
    kill_when(spawn(&a), "a checkpoint with records", || checkpointed(out) >= 64);
}

/// `args --output OUT --resume`, which must be refused with a message containing `why`,
/// leaving the output and its checkpoint untouched.
fn refused(args: &[String], out: &Path, why: &str) {
    let before = (std::fs::read(out).unwrap(), std::fs::read(sidecar(out)).unwrap());
    let mut a = args.to_vec();
    a.extend(["--output".into(), out.display().to_string(), "--resume".into()]);
    let r = run(&a);
    assert_eq!(r.status.code(), Some(2));
    // the error is the last line (a map built on first use may be noted before it)
    let e = stderr(&r);
    assert!(e.trim_end().lines().last().is_some_and(|l| l.starts_with("maskner: ") && l.contains(why)), "{e}");
    assert!(before == (std::fs::read(out).unwrap(), std::fs::read(sidecar(out)).unwrap()), "a refused resume changes nothing");
}

#[test]
fn a_changed_input_is_refused() {
    let dir = common::tmp("resume-input");
    let input = plain_input(&dir, 1000);
    let out = dir.join("out.jsonl");
    let args = tag_args(&["--input", input.to_str().unwrap()]);
    interrupted(&args, &out);
    // a word of the first line, same length
    let mut bytes = std::fs::read(&input).unwrap();
    let original = bytes.clone();
    bytes[0] = if bytes[0] == b'X' { b'Y' } else { b'X' };
    std::fs::write(&input, &bytes).unwrap();
    refused(&args, &out, "changed since the interrupted run (its first");
    // shorter than what was tagged
    std::fs::write(&input, &original[..10]).unwrap();
    refused(&args, &out, "(it is shorter now)");
    // restored: resumes (a grown input is fine: only the tagged part must be unchanged)
    std::fs::write(&input, &original).unwrap();
    let mut a = args.clone();
    a.extend(["--output".into(), out.display().to_string(), "--resume".into()]);
    let r = run(&a);
    assert!(r.status.success(), "{}", stderr(&r));
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 1000);
}

#[test]
fn a_changed_engine_config_flag_or_model_is_refused() {
    let dir = common::tmp("resume-engine");
    let input = plain_input(&dir, 1000);
    let model = dir.join("bio-model");
    common::copy_dir(&common::fixture("tiny-bert-cased"), &model, &[]);
    let out = dir.join("out.hf");
    let base = |phi: &str, extra: &[&str]| {
        let mut a: Vec<String> = ["tag", "--model", &format!("bio={}", model.display()), "--model"].iter().map(|s| s.to_string()).collect();
        a.push(format!("phi={}", common::fixture_arg(phi)));
        a.extend(["--input".into(), input.display().to_string()]);
        let extra = if extra.contains(&"--format") { extra.to_vec() } else { [extra, &["--format", "hf"]].concat() };
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    interrupted(&base("tiny-bert-uncased", &[]), &out);
    // without --resume: refused too (the user must choose)
    let mut a = base("tiny-bert-uncased", &[]);
    a.extend(["--output".into(), out.display().to_string()]);
    let r = run(&a);
    assert_eq!(r.status.code(), Some(2));
    assert!(stderr(&r).contains("add --resume to continue it, or delete both files"), "{}", stderr(&r));
    refused(&base("tiny-bert-cased", &[]), &out, "the engine configuration");
    refused(&base("tiny-bert-uncased", &["--batch", "8"]), &out, "--batch was 32 in the interrupted run, now 8");
    refused(&base("tiny-bert-uncased", &["--format", "jsonl"]), &out, "--format was hf in the interrupted run, now jsonl");
    // the same model directory with a changed file (valid JSON still)
    let cfg = model.join("config.json");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push('\n');
    std::fs::write(&cfg, text).unwrap();
    refused(&base("tiny-bert-uncased", &[]), &out, "the model, map or label files changed");
}

#[test]
fn resume_needs_a_file_input_and_a_line_format() {
    let dir = common::tmp("resume-usage");
    let input = plain_input(&dir, 3);
    let out = dir.join("out.json");
    let o = out.display().to_string();
    let i = input.display().to_string();
    let r = run(&tag_args(&["--input", "-", "--output", &o, "--resume"]));
    assert_eq!(r.status.code(), Some(2));
    assert!(stderr(&r).contains("--resume needs a file --input"), "{}", stderr(&r));
    let r = run(&tag_args(&["--input", &i, "--format", "json", "--output", &o, "--resume"]));
    assert_eq!(r.status.code(), Some(2));
    assert!(stderr(&r).contains("not --format json"), "{}", stderr(&r));
    assert!(!out.exists() && !sidecar(&out).exists(), "nothing written");
    // json to a file without --resume: a complete array, no checkpoint
    let r = run(&tag_args(&["--input", &i, "--format", "json", "--output", &o]));
    assert!(r.status.success(), "{}", stderr(&r));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(v.as_array().map(Vec::len), Some(3));
    assert!(!sidecar(&out).exists());
}

#[test]
fn finished_outputs_are_overwritten_or_refused_and_unwritable_ones_are_errors() {
    let dir = common::tmp("resume-out");
    let input = plain_input(&dir, 5);
    let i = input.display().to_string();
    let out = dir.join("out.jsonl");
    let o = out.display().to_string();
    std::fs::write(&out, "old content that is longer than nothing\n".repeat(100)).unwrap();
    let r = run(&tag_args(&["--input", &i, "--output", &o]));
    assert!(r.status.success(), "{}", stderr(&r));
    let first = std::fs::read_to_string(&out).unwrap();
    assert_eq!(first.lines().count(), 5, "an existing output without checkpoint is overwritten");
    assert!(stderr(&r).contains("tagged 5 records (0 errors) in"), "{}", stderr(&r));
    // --resume of a finished run: refused, the output kept
    let r = run(&tag_args(&["--input", &i, "--output", &o, "--resume"]));
    assert_eq!(r.status.code(), Some(2));
    assert!(stderr(&r).contains("exists but has no checkpoint"), "{}", stderr(&r));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), first);
    // --resume with nothing to resume starts afresh
    let fresh = dir.join("fresh.jsonl");
    let r = run(&tag_args(&["--input", &i, "--output", fresh.to_str().unwrap(), "--resume"]));
    assert!(r.status.success(), "{}", stderr(&r));
    assert_eq!(std::fs::read_to_string(&fresh).unwrap(), first);
    // under a regular file: cannot be created
    let bad = dir.join("some_file/out.jsonl");
    std::fs::write(dir.join("some_file"), "x").unwrap();
    for extra in [&[][..], &["--resume"][..]] {
        let mut a = vec!["--input", &i, "--output", bad.to_str().unwrap()];
        a.extend_from_slice(extra);
        let r = run(&tag_args(&a));
        assert_eq!(r.status.code(), Some(2));
        let e = stderr(&r);
        assert!(e.contains("some_file/out.jsonl: cannot create the output") && e.contains("is not a directory"), "{e}");
        assert_eq!(e.trim_end().lines().count(), 1, "{e}");
        assert_eq!(std::fs::read_to_string(dir.join("some_file")).unwrap(), "x");
    }
}

#[test]
fn threads_are_checked_and_do_not_change_results() {
    let dir = common::tmp("resume-threads");
    let input = plain_input(&dir, 40);
    let i = input.display().to_string();
    for bad in ["0", "100000"] {
        let r = run(&tag_args(&["--input", &i, "--threads", bad]));
        assert_eq!(r.status.code(), Some(2));
        assert!(stderr(&r).contains(&format!("--threads {bad}: give a number of threads from 1 to 1024")), "{}", stderr(&r));
        assert!(r.stdout.is_empty());
    }
    let one = run(&tag_args(&["--input", &i, "--threads", "1"]));
    let all = run(&tag_args(&["--input", &i]));
    assert!(one.status.success(), "{}", stderr(&one));
    assert_eq!(String::from_utf8_lossy(&one.stdout).lines().count(), 40);
    assert!(one.stdout == all.stdout, "--threads 1 gives the same records");
}
