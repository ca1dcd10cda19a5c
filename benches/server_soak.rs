//! Soak test of `maskner serve` (not run in CI): the release binary as a child process, with an
//! API key and a connection cap, hammered for `--minutes` by many client threads sending a mix of
//! valid, malformed, oversized, unauthorised and slow requests, each on its own connection, plus
//! pairs on keep-alive connections.
//!
//!     cargo bench --bench server_soak -- [--minutes 10] [--clients 64] [--max-connections 48]
//!         [--texts data/sample_texts.txt] [--model bio=DIR --model phi=DIR]
//!
//! Every request has one expected answer (or, for slow headers, an expected silent close);
//! refusals under load (429 queue full, 503 connection cap or timeout) are counted, not
//! failures, and the refused client waits 0.5-1.5 s as `Retry-After: 1` asks. A failure is: an unexpected status, a connection closed without the answer, bytes
//! after the answer (a duplicate), a tagged record whose `id` is not the request's, or the
//! server process ending. Prints one line per minute (requests by outcome, p50/p99 of the valid
//! `/v1/ner` requests, the server's RSS), then the first and last minute's RSS; exits 1 on any
//! failure. Default models: the tiny fixtures, maps cached in `MASKNER_CACHE` (a temp dir).

use anyhow::{Context, bail};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const KEY: &str = "soak-test-key-0123456789abcdef";
/// The server's limits here: small enough that oversized and slow requests hit them quickly.
const MAX_BODY: usize = 64 * 1024;
const TIMEOUT_S: u64 = 5;
const HEADER_TIMEOUT_S: u64 = 2;

struct Config {
    minutes: f64,
    clients: usize,
    max_connections: usize,
    texts: PathBuf,
    models: Vec<String>,
}

fn parse_args() -> anyhow::Result<Config> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut c = Config { minutes: 10.0, clients: 64, max_connections: 48, texts: root.join("data/sample_texts.txt"), models: Vec::new() };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().with_context(|| format!("{a}: missing value"));
        match a.as_str() {
            "--minutes" => c.minutes = value()?.parse()?,
            "--clients" => c.clients = value()?.parse()?,
            "--max-connections" => c.max_connections = value()?.parse()?,
            "--texts" => c.texts = value()?.into(),
            "--model" => c.models.push(value()?),
            "--bench" => {}
            other => bail!("unknown argument {other}"),
        }
    }
    if c.models.is_empty() {
        let fx = |n: &str| root.join("data/fixtures").join(n).display().to_string();
        c.models = vec![format!("bio={}", fx("tiny-bert-cased")), format!("phi={}", fx("tiny-bert-uncased"))];
    }
    if c.clients == 0 || c.max_connections == 0 || c.minutes <= 0.0 {
        bail!("--clients, --max-connections and --minutes must be positive");
    }
    Ok(c)
}

/// The kinds of request sent, with their weights out of 100.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Kind {
    Ner,
    FillMask,
    Malformed,
    Oversized,
    Unauthorised,
    SlowBody,
    SlowHeaders,
    KeepAlivePair,
}

const MIX: [(Kind, u32); 8] = [
    (Kind::Ner, 40),
    (Kind::FillMask, 10),
    (Kind::Malformed, 10),
    (Kind::Oversized, 8),
    (Kind::Unauthorised, 10),
    (Kind::SlowBody, 4),
    (Kind::SlowHeaders, 4),
    (Kind::KeepAlivePair, 14),
];

/// What became of one request.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Outcome {
    /// The expected answer.
    Ok,
    /// 429 or 503: refused under load, with a JSON error.
    Refused,
    Failed,
}

/// A small deterministic generator (xorshift64*): the mix only needs to vary, not to be strong,
/// and a seeded sequence makes a failing run repeatable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn kind(&mut self) -> Kind {
        let mut r = (self.next() % 100) as u32;
        for (k, w) in MIX {
            if r < w {
                return k;
            }
            r -= w;
        }
        Kind::Ner
    }
}

struct Answer {
    status: u16,
    body: Vec<u8>,
}

/// Reads one answer (head and Content-Length body) from `s`; `None` if the connection closed
/// before a whole answer arrived.
fn read_answer(s: &mut TcpStream) -> std::io::Result<Option<Answer>> {
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte)? == 0 {
            return Ok(None);
        }
        raw.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&raw).to_ascii_lowercase();
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let len: usize = head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse().ok()).unwrap_or(0);
    let mut body = vec![0u8; len];
    if s.read_exact(&mut body).is_err() {
        return Ok(None);
    }
    Ok(Some(Answer { status, body }))
}

fn head(path: &str, auth: bool, keep_alive: bool, len: usize) -> String {
    let auth = if auth { format!("Authorization: Bearer {KEY}\r\n") } else { String::new() };
    let conn = if keep_alive { "keep-alive" } else { "close" };
    format!(
        "POST {path} HTTP/1.1\r\nHost: soak\r\nConnection: {conn}\r\n{auth}Content-Type: application/json\r\nContent-Length: {len}\r\n\r\n"
    )
}

/// Checks that nothing follows the answer on a `Connection: close` connection.
fn closed_after(s: &mut TcpStream) -> bool {
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).is_ok() && rest.is_empty()
}

fn judge(answer: Option<Answer>, want: u16, check: impl Fn(&[u8]) -> bool) -> Result<Outcome, String> {
    match answer {
        None => Err(format!("no answer (wanted {want})")),
        Some(a) if a.status == want && check(&a.body) => Ok(Outcome::Ok),
        Some(a) if (a.status == 429 || a.status == 503) && a.body.starts_with(b"{\"error\"") => Ok(Outcome::Refused),
        Some(a) => Err(format!("status {} (wanted {want}): {}", a.status, String::from_utf8_lossy(&a.body[..a.body.len().min(200)]))),
    }
}

/// Whether `body` is a one-record `/v1/ner` answer for `id`.
fn has_id(body: &[u8], id: &str) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.as_array().cloned())
        .is_some_and(|a| a.len() == 1 && a[0]["id"] == id && a[0]["entities"].is_array())
}

/// Sends one request of `kind`; `Ok(outcome, latency)` or a description of the failure.
fn one(addr: SocketAddr, kind: Kind, text: &str, id: &str) -> Result<(Outcome, Duration), String> {
    let t0 = Instant::now();
    let mut s = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(120))).map_err(|e| e.to_string())?;
    let ner_body = |id: &str| serde_json::json!({"texts": [{"text": text, "id": id}]}).to_string();
    let io = |e: std::io::Error| format!("{kind:?}: {e}");
    let outcome = match kind {
        Kind::Ner | Kind::Unauthorised => {
            let body = ner_body(id);
            s.write_all(head("/v1/ner", kind == Kind::Ner, false, body.len()).as_bytes()).map_err(io)?;
            s.write_all(body.as_bytes()).map_err(io)?;
            let answer = read_answer(&mut s).map_err(io)?;
            if kind == Kind::Ner { judge(answer, 200, |b| has_id(b, id)) } else { judge(answer, 401, |b| b.starts_with(b"{\"error\"")) }?
        }
        Kind::FillMask => {
            let body = serde_json::json!({"text": format!("{} [MASK] .", text.trim_end_matches('.')), "top_k": 5}).to_string();
            s.write_all(head("/v1/fill-mask", true, false, body.len()).as_bytes()).map_err(io)?;
            s.write_all(body.as_bytes()).map_err(io)?;
            judge(read_answer(&mut s).map_err(io)?, 200, |b| b.starts_with(b"{"))?
        }
        Kind::Malformed => {
            let body = format!("{{\"texts\": [\"{}\", ", text);
            s.write_all(head("/v1/ner", true, false, body.len()).as_bytes()).map_err(io)?;
            s.write_all(body.as_bytes()).map_err(io)?;
            judge(read_answer(&mut s).map_err(io)?, 400, |b| b.starts_with(b"{\"error\""))?
        }
        Kind::Oversized => {
            let body = vec![b' '; MAX_BODY * 3];
            s.write_all(head("/v1/ner", true, false, body.len()).as_bytes()).map_err(io)?;
            // the server may answer 413 before the whole body is sent, and close
            let _ = s.write_all(&body);
            judge(read_answer(&mut s).map_err(io)?, 413, |b| b.starts_with(b"{\"error\""))?
        }
        Kind::SlowBody => {
            s.write_all(head("/v1/ner", true, false, 100).as_bytes()).map_err(io)?;
            s.write_all(b"{\"text\": ").map_err(io)?;
            judge(read_answer(&mut s).map_err(io)?, 408, |b| b.starts_with(b"{\"error\""))?
        }
        Kind::SlowHeaders => {
            s.write_all(b"POST /v1/ner HTTP/1.1\r\nHost: soak\r\nContent-").map_err(io)?;
            // closed without an answer at the header timeout, or refused at the cap
            let mut rest = Vec::new();
            match s.read_to_end(&mut rest) {
                Ok(_) if rest.is_empty() => {
                    let took = t0.elapsed();
                    if took < Duration::from_secs(HEADER_TIMEOUT_S) - Duration::from_millis(100) {
                        return Err(format!("slow headers closed after {took:?}, before the header timeout"));
                    }
                    Outcome::Ok
                }
                Ok(_) if rest.starts_with(b"HTTP/1.1 503") => Outcome::Refused,
                Ok(_) => return Err(format!("slow headers answered: {}", String::from_utf8_lossy(&rest[..rest.len().min(200)]))),
                Err(e) => return Err(format!("slow headers: {e}")),
            }
        }
        Kind::KeepAlivePair => {
            let (a, b) = (format!("{id}-a"), format!("{id}-b"));
            let (ba, bb) = (ner_body(&a), ner_body(&b));
            s.write_all(head("/v1/ner", true, true, ba.len()).as_bytes()).map_err(io)?;
            s.write_all(ba.as_bytes()).map_err(io)?;
            let first = judge(read_answer(&mut s).map_err(io)?, 200, |x| has_id(x, &a))?;
            if first == Outcome::Refused {
                first
            } else {
                s.write_all(head("/v1/ner", true, false, bb.len()).as_bytes()).map_err(io)?;
                s.write_all(bb.as_bytes()).map_err(io)?;
                judge(read_answer(&mut s).map_err(io)?, 200, |x| has_id(x, &b))?
            }
        }
    };
    if kind != Kind::SlowHeaders && !closed_after(&mut s) {
        return Err(format!("{kind:?}: bytes after the answer (a duplicate?)"));
    }
    Ok((outcome, t0.elapsed()))
}

fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok()))
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn start_server(c: &Config) -> anyhow::Result<(Child, SocketAddr)> {
    let cache = std::env::var_os("MASKNER_CACHE").map(PathBuf::from).unwrap_or_else(|| std::env::temp_dir().join("maskner-soak-cache"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_maskner"));
    cmd.args(["serve", "--port", "0", "--max-connections", &c.max_connections.to_string()])
        .args(["--timeout", &TIMEOUT_S.to_string(), "--header-timeout", &HEADER_TIMEOUT_S.to_string()])
        .args(["--max-body-bytes", &MAX_BODY.to_string(), "--no-ui"]);
    for m in &c.models {
        cmd.args(["--model", m]);
    }
    cmd.env("MASKNER_API_KEY", KEY).env("MASKNER_CACHE", cache).env("HF_HUB_OFFLINE", "1").stderr(Stdio::piped());
    let mut child = cmd.spawn().context("start maskner serve")?;
    let stderr = child.stderr.take().context("stderr")?;
    let (tx, rx) = std::sync::mpsc::channel();
    // keeps reading (and echoing) the server's log so it never blocks on a full pipe
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(addr) = line.split("on http://").nth(1).and_then(|r| r.split_whitespace().next()) {
                let _ = tx.send(addr.to_string());
            }
            eprintln!("  server: {line}");
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(600)).context("the server did not start")?;
    Ok((child, addr.parse()?))
}

#[derive(Default)]
struct Minute {
    counts: BTreeMap<(Kind, Outcome), u64>,
    latencies: Vec<Duration>,
}

fn main() -> anyhow::Result<()> {
    let c = parse_args()?;
    let texts: Vec<String> = std::fs::read_to_string(&c.texts)?.lines().filter(|l| !l.trim().is_empty()).map(String::from).collect();
    if texts.is_empty() {
        bail!("{}: no texts", c.texts.display());
    }
    let (mut child, addr) = start_server(&c)?;
    let pid = child.id();
    eprintln!("soak: {} minutes, {} clients, --max-connections {}, server pid {pid} on {addr}", c.minutes, c.clients, c.max_connections);
    let minute = Mutex::new(Minute::default());
    let failures = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let t = Instant::now();
    let total = Duration::from_secs_f64(c.minutes * 60.0);
    let mut rss: Vec<f64> = Vec::new();
    let mut crashed = None;
    std::thread::scope(|sc| {
        for client in 0..c.clients {
            let (minute, failures, stop, texts) = (&minute, &failures, &stop, &texts);
            sc.spawn(move || {
                let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (client as u64 + 1).wrapping_mul(0x1000_0000_01b3));
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let kind = rng.kind();
                    let text = &texts[(rng.next() % texts.len() as u64) as usize];
                    n += 1;
                    let id = format!("c{client}-{n}");
                    let result = one(addr, kind, text, &id);
                    if matches!(result, Ok((Outcome::Refused, _))) {
                        // as a polite client would on Retry-After: 1, with jitter
                        std::thread::sleep(Duration::from_millis(500 + rng.next() % 1000));
                    }
                    let mut m = minute.lock().unwrap_or_else(|e| e.into_inner());
                    match result {
                        Ok((outcome, latency)) => {
                            *m.counts.entry((kind, outcome)).or_default() += 1;
                            if kind == Kind::Ner && outcome == Outcome::Ok {
                                m.latencies.push(latency);
                            }
                        }
                        Err(e) => {
                            *m.counts.entry((kind, Outcome::Failed)).or_default() += 1;
                            failures.fetch_add(1, Ordering::Relaxed);
                            eprintln!("soak: FAILED {id} {e}");
                        }
                    }
                }
            });
        }
        let mut next = Duration::from_secs(60);
        let mut minute_no = 0;
        while t.elapsed() < total {
            std::thread::sleep(Duration::from_millis(200));
            if let Ok(Some(status)) = child.try_wait() {
                crashed = Some(status);
                break;
            }
            if t.elapsed() >= next || t.elapsed() >= total {
                next += Duration::from_secs(60);
                minute_no += 1;
                let m = std::mem::take(&mut *minute.lock().unwrap_or_else(|e| e.into_inner()));
                let r = rss_mib(pid);
                rss.push(r);
                report(minute_no, &m, r, failures.load(Ordering::Relaxed));
            }
        }
        stop.store(true, Ordering::Relaxed);
    });
    if let Some(status) = crashed {
        bail!("the server process ended during the soak: {status}");
    }
    // a clean stop: SIGTERM, exit 0
    Command::new("kill").args(["-TERM", &pid.to_string()]).status()?;
    let status = child.wait()?;
    let failed = failures.load(Ordering::Relaxed);
    println!(
        "soak: {} minutes; RSS first minute {:.1} MiB, last minute {:.1} MiB; failures {failed}; server exit {status}",
        rss.len(),
        rss.first().copied().unwrap_or(f64::NAN),
        rss.last().copied().unwrap_or(f64::NAN)
    );
    if failed > 0 || !status.success() {
        std::process::exit(1);
    }
    Ok(())
}

fn report(no: usize, m: &Minute, rss: f64, failures: u64) {
    let mut lat = m.latencies.clone();
    lat.sort();
    let pct = |p: f64| if lat.is_empty() { f64::NAN } else { lat[((lat.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1000.0 };
    let total: u64 = m.counts.values().sum();
    let by = |o: Outcome| m.counts.iter().filter(|((_, x), _)| *x == o).map(|(_, n)| n).sum::<u64>();
    let kinds: Vec<String> = MIX
        .iter()
        .map(|(k, _)| {
            let n: u64 = m.counts.iter().filter(|((x, _), _)| x == k).map(|(_, n)| n).sum();
            format!("{k:?} {n}")
        })
        .collect();
    println!(
        "minute {no:>2}: {total} requests ({} ok, {} refused, {} failed; {}); ner p50 {:.1} ms p99 {:.1} ms; RSS {rss:.1} MiB; failures so far {failures}",
        by(Outcome::Ok),
        by(Outcome::Refused),
        by(Outcome::Failed),
        kinds.join(", "),
        pct(0.5),
        pct(0.99)
    );
}
