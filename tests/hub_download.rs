//! `--model <hub id>` against a mock Hugging Face hub on loopback (`HF_ENDPOINT`): a first run
//! downloads into an empty cache and tags, later runs use the cache offline; a cut connection, a
//! truncated or corrupt body, an HTTP 500 and 404s each end in a one-line error or a clean retry,
//! and never leave a half-written file in the cache's snapshot to be taken for a good one.
//!
//! The mock answers the routes and headers hf-hub 0.4 reads: `GET {endpoint}/{repo}/resolve/
//! {revision}/{file}` with `Range: bytes=0-0` for the metadata (`x-repo-commit`, `etag`, for LFS
//! files a 302 to a `/cdn/` URL with `x-linked-etag` = the SHA-256, and `Content-Range` for the
//! size), then `Range: bytes=N-` for the body.

mod common;

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

const REPO: &str = "maskner-test/tiny-bert";
const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
/// Served from `data/fixtures/tiny-bert-uncased`; the `.safetensors` file as an LFS file.
const FILES: &[&str] = &["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"];
const LFS: &str = "model.safetensors";
const TEXT: &str = "Lou:__entity__ Gehrig:__entity__ worked in Paris:__entity__ .";

/// A way for the mock to misbehave on one file.
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// Every request for the file (metadata too) gets this HTTP status.
    Status(u16),
    /// Half the body that `Content-Length` announces, then a connection reset.
    Cut,
    /// Half the body that `Content-Length` announces, then an orderly close.
    Truncate,
    /// No `Content-Length`, half the body, close: the client cannot tell the body is short.
    Unframed,
    /// The full length with one byte changed.
    Corrupt,
    /// A resumed request (`Range: bytes=N-`, N > 0) is answered 200 with the whole file.
    IgnoreRange,
}

struct Blob {
    bytes: Vec<u8>,
    sha256: String,
}

#[derive(Default)]
struct State {
    /// file → (fault, how many more requests it applies to)
    faults: HashMap<String, (Fault, usize)>,
    /// "path range status" per request, in order
    log: Vec<String>,
}

struct Hub {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Hub {
    fn start() -> Hub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().unwrap();
        let dir = common::fixture("tiny-bert-uncased");
        let files: Arc<HashMap<String, Blob>> = Arc::new(
            FILES
                .iter()
                .map(|f| {
                    let bytes = std::fs::read(dir.join(f)).unwrap();
                    (f.to_string(), Blob { sha256: sha256(&bytes), bytes })
                })
                .collect(),
        );
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (state.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if sp.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (files, st) = (files.clone(), st.clone());
                std::thread::spawn(move || serve(conn, addr, &files, &st));
            }
        });
        Hub { addr, state, stop, thread: Some(thread) }
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn fault(&self, file: &str, fault: Fault, times: usize) {
        self.state.lock().unwrap().faults.insert(file.to_string(), (fault, times));
    }

    fn clear(&self) {
        self.state.lock().unwrap().faults.clear();
    }

    fn log(&self) -> Vec<String> {
        self.state.lock().unwrap().log.clone()
    }

    /// Stops accepting: later connections are refused.
    fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // wake the accept loop
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.stop();
    }
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// One request per connection (`Connection: close`), as the hub's routes answer them.
fn serve(mut conn: TcpStream, addr: SocketAddr, files: &HashMap<String, Blob>, state: &Mutex<State>) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut head = String::new();
    if reader.read_line(&mut head).is_err() {
        return;
    }
    let mut range = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("range")
        {
            range = Some(v.trim().to_string());
        }
    }
    let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
    let note = |status: u16| state.lock().unwrap().log.push(format!("{path} {} {status}", range.as_deref().unwrap_or("-")));
    let commit = [("x-repo-commit", COMMIT.to_string())];

    if let Some(sha) = path.strip_prefix("/cdn/") {
        match files.iter().find(|(_, b)| b.sha256 == sha) {
            Some((name, blob)) => body(&mut conn, name, blob, range.as_deref(), &[], state, note),
            None => reply(&mut conn, 404, &[], b"no such object", note),
        }
        return;
    }
    let Some(rest) = path.strip_prefix(&format!("/{REPO}/resolve/")) else {
        return reply(&mut conn, 401, &[("x-error-code", "RepositoryNotFound".into())], b"Repository not found", note);
    };
    let Some((_, name)) = rest.split_once('/').filter(|(rev, _)| *rev == "main" || *rev == COMMIT) else {
        return reply(&mut conn, 404, &[("x-error-code", "RevisionNotFound".into())], b"Invalid rev id", note);
    };
    if let Some(Fault::Status(code)) = take_fault(state, name, |f| matches!(f, Fault::Status(_))) {
        return reply(&mut conn, code, &commit, b"Internal Error", note);
    }
    let Some(blob) = files.get(name) else {
        let headers = [commit[0].clone(), ("x-error-code", "EntryNotFound".into())];
        return reply(&mut conn, 404, &headers, b"Entry not found", note);
    };
    if name == LFS {
        let headers = [
            commit[0].clone(),
            ("x-linked-etag", format!("\"{}\"", blob.sha256)),
            ("x-linked-size", blob.bytes.len().to_string()),
            ("etag", "\"0f0e0d0c0b0a09080706050403020100f0e0d0c0\"".into()),
            ("location", format!("http://{addr}/cdn/{}", blob.sha256)),
        ];
        return reply(&mut conn, 302, &headers, b"", note);
    }
    // a git blob's etag: 40 hex digits, not a SHA-256, so only the size can be checked
    let headers = [commit[0].clone(), ("etag", format!("\"{}\"", &blob.sha256[..40]))];
    body(&mut conn, name, blob, range.as_deref(), &headers, state, note);
}

/// The fault set on `name`, if it matches `which`, counted down.
fn take_fault(state: &Mutex<State>, name: &str, which: impl Fn(Fault) -> bool) -> Option<Fault> {
    let mut s = state.lock().unwrap();
    let (fault, left) = s.faults.get_mut(name)?;
    if *left == 0 || !which(*fault) {
        return None;
    }
    *left -= 1;
    Some(*fault)
}

/// A file's bytes for a `Range` request (206, or 416 past the end), with the fault set on it
/// applied to body requests (any range but the metadata probe `bytes=0-0`).
#[allow(clippy::too_many_arguments)]
fn body(
    conn: &mut TcpStream,
    name: &str,
    blob: &Blob,
    range: Option<&str>,
    headers: &[(&'static str, String)],
    state: &Mutex<State>,
    note: impl Fn(u16),
) {
    let len = blob.bytes.len();
    let (start, end) = match range.and_then(|r| r.strip_prefix("bytes=")).and_then(|r| r.split_once('-')) {
        Some((a, b)) => (a.parse::<usize>().unwrap_or(0), b.parse::<usize>().map(|b| b + 1).unwrap_or(len).min(len)),
        None => (0, len),
    };
    let mut h = headers.to_vec();
    if start >= len {
        h.push(("content-range", format!("bytes */{len}")));
        return reply(conn, 416, &h, b"", note);
    }
    let fault = if range == Some("bytes=0-0") { None } else { take_fault(state, name, |f| !matches!(f, Fault::Status(_))) };
    if let Some(Fault::IgnoreRange) = fault
        && start > 0
    {
        return reply(conn, 200, &h, &blob.bytes, note);
    }
    let part = &blob.bytes[start..end];
    let status = if range.is_some() { 206 } else { 200 };
    if range.is_some() {
        h.push(("content-range", format!("bytes {start}-{}/{len}", end - 1)));
    }
    match fault {
        Some(Fault::Cut) | Some(Fault::Truncate) => {
            h.push(("content-length", part.len().to_string()));
            note(status);
            let _ = conn.write_all(&head(status, &h));
            let _ = conn.write_all(&part[..part.len() / 2]);
            let _ = conn.flush();
            if let Some(Fault::Cut) = fault {
                // let the client take the half first: a reset discards data it has not read
                std::thread::sleep(std::time::Duration::from_millis(200));
                reset(conn);
            }
        }
        Some(Fault::Unframed) => {
            note(status);
            let _ = conn.write_all(&head(status, &h));
            let _ = conn.write_all(&part[..part.len() / 2]);
        }
        Some(Fault::Corrupt) => {
            let mut bad = part.to_vec();
            let i = bad.len() / 2;
            bad[i] ^= 0x5a;
            reply(conn, status, &h, &bad, note);
        }
        _ => reply(conn, status, &h, part, note),
    }
}

/// Makes the coming close a reset (RST) rather than an orderly end (FIN).
fn reset(conn: &TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: a valid socket and a correctly sized option value
    unsafe {
        libc::setsockopt(
            conn.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

fn head(status: u16, headers: &[(&str, String)]) -> Vec<u8> {
    let mut s = format!("HTTP/1.1 {status} X\r\nconnection: close\r\n");
    for (k, v) in headers {
        s.push_str(&format!("{k}: {v}\r\n"));
    }
    s.push_str("\r\n");
    s.into_bytes()
}

fn reply(conn: &mut TcpStream, status: u16, headers: &[(&'static str, String)], body: &[u8], note: impl Fn(u16)) {
    let mut h = headers.to_vec();
    h.push(("content-length", body.len().to_string()));
    note(status);
    let _ = conn.write_all(&head(status, &h));
    let _ = conn.write_all(body);
}

/// A test's empty Hugging Face cache.
fn new_cache(tag: &str) -> PathBuf {
    common::tmp(&format!("hub-{tag}")).join("hub")
}

fn repo_dir(cache: &Path) -> PathBuf {
    cache.join(format!("models--{}", REPO.replace('/', "--")))
}

/// `maskner ARGS` with `HF_HUB_CACHE=cache`, online against `hub` if given, else offline.
fn run(args: &[&str], cache: &Path, hub: Option<&Hub>) -> Output {
    let mut cmd = common::command(args);
    cmd.env("HF_HUB_CACHE", cache).env_remove("HF_HOME");
    for v in ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"] {
        cmd.env_remove(v);
    }
    if let Some(hub) = hub {
        cmd.env_remove("HF_HUB_OFFLINE").env("HF_ENDPOINT", hub.endpoint());
    }
    cmd.stdin(std::process::Stdio::null()).output().expect("run maskner")
}

fn fill_mask(model: &str, cache: &Path, hub: Option<&Hub>) -> Output {
    run(&["fill-mask", "--model", model, "--json", "Lou Gehrig worked in [MASK] ."], cache, hub)
}

/// `maskner tag` with `model` as member `bio` and the cased fixture as `phi`.
fn tag(model: &str, cache: &Path, hub: Option<&Hub>) -> Output {
    let bio = format!("bio={model}");
    let phi = format!("phi={}", common::fixture_arg("tiny-bert-cased"));
    run(&["tag", "--model", &bio, "--model", &phi, "--format", "conll", TEXT], cache, hub)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The output with the fixture directory itself as the model.
fn expected_fill_mask() -> Vec<u8> {
    let out = fill_mask(&common::fixture_arg("tiny-bert-uncased"), &std::env::temp_dir().join("maskner-test-hub-unused"), None);
    assert!(out.status.success(), "{}", stderr(&out));
    out.stdout
}

fn assert_ok_like(out: &Output, expected: &[u8]) {
    assert!(out.status.success(), "{}", stderr(out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(expected));
}

/// A failure: exit code 2 (a model not had), one line on stderr containing `want`.
fn assert_error(out: &Output, want: &str) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one-line error: {err}");
    assert!(err.contains(want), "expected {want:?} in: {err}");
    err
}

/// The snapshot's files that are there and readable (dangling links do not count).
fn snapshot_files(cache: &Path) -> Vec<String> {
    let dir = repo_dir(cache).join("snapshots").join(COMMIT);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map(|rd| rd.flatten().filter(|e| e.path().exists()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

/// No finished blob of `file` and no snapshot entry for it (a `.part` may stay, to be resumed),
/// and an offline run finds the model incomplete.
fn assert_not_taken(cache: &Path, file: &str, missing: &str) {
    assert!(!snapshot_files(cache).contains(&file.to_string()), "{file} in the snapshot: {:?}", snapshot_files(cache));
    let link = repo_dir(cache).join("snapshots").join(COMMIT).join(file);
    assert!(link.symlink_metadata().is_err(), "a link for {file} stayed");
    let blobs: Vec<String> = std::fs::read_dir(repo_dir(cache).join("blobs"))
        .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    let dir = common::fixture("tiny-bert-uncased");
    let sha = sha256(&std::fs::read(dir.join(file)).unwrap());
    assert!(!blobs.iter().any(|b| b == &sha || b == &sha[..40]), "a blob of {file} stayed: {blobs:?}");
    let out = fill_mask(REPO, cache, None);
    assert_error(&out, &format!("missing: {missing}"));
}

#[test]
fn a_first_run_downloads_and_tags_then_the_cache_serves_offline() {
    let mut hub = Hub::start();
    let cache = new_cache("first");
    let expected = tag(&common::fixture_arg("tiny-bert-uncased"), &new_cache("first-reference"), None);
    assert!(expected.status.success(), "{}", stderr(&expected));

    let out = tag(REPO, &cache, Some(&hub));
    assert_ok_like(&out, &expected.stdout);
    assert_eq!(std::fs::read_to_string(repo_dir(&cache).join("refs/main")).unwrap(), COMMIT);
    assert_eq!(snapshot_files(&cache), FILES);
    let model = repo_dir(&cache).join("snapshots").join(COMMIT).join(LFS);
    let target = std::fs::read_link(&model).unwrap();
    let sha = sha256(&std::fs::read(common::fixture("tiny-bert-uncased").join(LFS)).unwrap());
    assert_eq!(target, Path::new("../../blobs").join(&sha), "the LFS file's blob is named by its SHA-256");
    let log = hub.log();
    // the optional vocab.txt was asked for, got a 404, and that was fine
    assert!(log.iter().any(|l| l.starts_with(&format!("/{REPO}/resolve/main/vocab.txt")) && l.ends_with(" 404")), "{log:?}");
    // the LFS file came through the redirect, its body from the CDN URL
    assert!(log.iter().any(|l| l.starts_with(&format!("/{REPO}/resolve/main/{LFS}")) && l.ends_with(" 302")), "{log:?}");
    assert!(log.iter().any(|l| l == &format!("/cdn/{sha} bytes=0- 206")), "{log:?}");

    // the hub gone: the cache serves, offline or not
    hub.stop();
    let offline = tag(REPO, &cache, None);
    assert_ok_like(&offline, &expected.stdout);
    let online = tag(REPO, &cache, Some(&hub));
    assert_ok_like(&online, &expected.stdout);
    let fm = fill_mask(REPO, &cache, None);
    assert_ok_like(&fm, &expected_fill_mask());
}

#[test]
fn a_connection_cut_once_is_resumed_within_the_run() {
    let hub = Hub::start();
    let cache = new_cache("cut-once");
    hub.fault(LFS, Fault::Cut, 1);
    assert_ok_like(&fill_mask(REPO, &cache, Some(&hub)), &expected_fill_mask());
    let cdn: Vec<String> = hub.log().into_iter().filter(|l| l.starts_with("/cdn/") && !l.contains("bytes=0-0")).collect();
    assert_eq!(cdn.len(), 2, "{cdn:?}");
    assert!(cdn[0].contains(" bytes=0- "), "{cdn:?}");
    assert!(!cdn[1].contains(" bytes=0- "), "the second request resumes: {cdn:?}");
}

#[test]
fn a_connection_cut_every_time_fails_cleanly_and_a_rerun_resumes() {
    let hub = Hub::start();
    let cache = new_cache("cut-always");
    hub.fault(LFS, Fault::Cut, usize::MAX);
    let out = fill_mask(REPO, &cache, Some(&hub));
    let err = assert_error(&out, &format!("model {REPO}: download of {LFS} failed after 3 attempts: "));
    assert!(err.contains("run again to retry"), "{err}");
    assert_not_taken(&cache, LFS, "model.safetensors or pytorch_model.bin");
    hub.clear();
    assert_ok_like(&fill_mask(REPO, &cache, Some(&hub)), &expected_fill_mask());
    let last = hub.log().into_iter().rfind(|l| l.starts_with("/cdn/") && !l.contains("bytes=0-0")).unwrap();
    assert!(!last.contains(" bytes=0- "), "the rerun resumes the partial file: {last}");
}

#[test]
fn a_truncated_body_fails_cleanly_and_a_rerun_succeeds() {
    let hub = Hub::start();
    let cache = new_cache("truncated");
    hub.fault("tokenizer.json", Fault::Truncate, usize::MAX);
    let out = fill_mask(REPO, &cache, Some(&hub));
    let err = assert_error(&out, &format!("model {REPO}: download of tokenizer.json failed after 3 attempts: "));
    assert!(err.contains("response body closed before all bytes were read") && err.contains("run again to retry"), "{err}");
    assert_not_taken(&cache, "tokenizer.json", "tokenizer.json or vocab.txt or spm.model");
    hub.clear();
    assert_ok_like(&fill_mask(REPO, &cache, Some(&hub)), &expected_fill_mask());
}

/// A close-delimited body cut short looks complete to the HTTP client: only the size check
/// against the announced length catches it.
#[test]
fn a_short_unframed_body_is_caught_by_the_size_check() {
    let hub = Hub::start();
    let cache = new_cache("unframed");
    hub.fault(LFS, Fault::Unframed, usize::MAX);
    let len = std::fs::metadata(common::fixture("tiny-bert-uncased").join(LFS)).unwrap().len();
    let out = fill_mask(REPO, &cache, Some(&hub));
    assert_error(&out, &format!("model {REPO}: download of {LFS} was incomplete (got {} of {len} bytes); run again to retry", len / 2));
    assert_not_taken(&cache, LFS, "model.safetensors or pytorch_model.bin");
    hub.clear();
    assert_ok_like(&fill_mask(REPO, &cache, Some(&hub)), &expected_fill_mask());
    // once short, then whole: healed within the run
    let cache2 = new_cache("unframed-once");
    hub.fault(LFS, Fault::Unframed, 1);
    assert_ok_like(&fill_mask(REPO, &cache2, Some(&hub)), &expected_fill_mask());
}

#[test]
fn a_corrupt_body_is_caught_by_the_checksum() {
    let hub = Hub::start();
    let cache = new_cache("corrupt");
    hub.fault(LFS, Fault::Corrupt, usize::MAX);
    let sha = sha256(&std::fs::read(common::fixture("tiny-bert-uncased").join(LFS)).unwrap());
    let out = fill_mask(REPO, &cache, Some(&hub));
    let err = assert_error(&out, &format!("model {REPO}: download of {LFS} was corrupt (sha256 "));
    assert!(err.contains(&format!("the hub announced {sha}); run again to retry")), "{err}");
    assert_not_taken(&cache, LFS, "model.safetensors or pytorch_model.bin");
    hub.clear();
    assert_ok_like(&fill_mask(REPO, &cache, Some(&hub)), &expected_fill_mask());
}

/// A server that ignores `Range` on a resumed request appends the whole file to the partial
/// one: the size check refuses the result, and the next attempt starts afresh.
#[test]
fn a_resume_answered_with_the_whole_file_is_refused_then_redone() {
    let hub = Hub::start();
    let cache = new_cache("ignore-range");
    hub.fault(LFS, Fault::Cut, 1);
    // after the cut, the resumed request gets the whole file
    let out = {
        let h = &hub;
        std::thread::scope(|s| {
            let t = s.spawn(|| fill_mask(REPO, &cache, Some(h)));
            // switch the fault once the cut request is logged
            while !h.log().iter().any(|l| l.starts_with("/cdn/") && l.contains(" bytes=0- ")) {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            h.fault(LFS, Fault::IgnoreRange, 1);
            t.join().unwrap()
        })
    };
    assert_ok_like(&out, &expected_fill_mask());
    let cdn: Vec<String> = hub.log().into_iter().filter(|l| l.starts_with("/cdn/") && !l.contains("bytes=0-0")).collect();
    assert_eq!(cdn.len(), 3, "cut, whole file appended (refused), afresh: {cdn:?}");
    assert!(cdn[1].ends_with(" 200") && cdn[2].contains(" bytes=0- "), "{cdn:?}");
}

#[test]
fn an_http_500_is_reported_with_its_status_and_not_retried() {
    let hub = Hub::start();
    let cache = new_cache("500");
    hub.fault("config.json", Fault::Status(500), usize::MAX);
    let out = fill_mask(REPO, &cache, Some(&hub));
    assert_error(
        &out,
        &format!("model {REPO}: download of config.json failed: the hub at {} answered HTTP 500; run again later to retry", hub.endpoint()),
    );
    let tries = hub.log().iter().filter(|l| l.contains("/config.json")).count();
    assert_eq!(tries, 1, "{:?}", hub.log());
    assert!(snapshot_files(&cache).is_empty(), "{:?}", snapshot_files(&cache));
}

#[test]
fn a_404_for_a_needed_file_tries_the_alternatives_then_names_them() {
    let hub = Hub::start();
    let cache = new_cache("404");
    hub.fault(LFS, Fault::Status(404), usize::MAX);
    let out = fill_mask(REPO, &cache, Some(&hub));
    assert_error(&out, &format!("the hub at {} has none of model.safetensors, pytorch_model.bin for it (HTTP 404)", hub.endpoint()));
    assert!(hub.log().iter().any(|l| l.contains("/pytorch_model.bin -") || l.contains("/pytorch_model.bin bytes")), "{:?}", hub.log());
    // an unknown repository: the hub's 401, named
    let out = fill_mask("maskner-test/no-such-model", &cache, Some(&hub));
    assert_error(&out, "answered HTTP 401; the repository may be private or gated");
}
