//! Load test of `maskner serve`: the server in-process on a loopback port, N concurrent clients
//! each sending one-text `POST /v1/ner` requests (cycling through a file of sentences) until a
//! fixed number of requests is done or a time limit passes. Each round runs twice in the same
//! process: first with `max_batch_texts = 1` (one text per engine call), then with
//! cross-request batching (the server's defaults); rounds alternate the two so background load
//! hits both alike. Reports, as medians over the rounds: throughput, p50/p99 latency, errors
//! (must be 0: the exit code is 1 otherwise), texts per engine call, peak RSS (VmHWM of the
//! process: a high-water mark over everything run so far), and the batching gain.
//!
//!     cargo bench --bench server_load -- [--clients 8] [--requests 400] [--max-seconds 120]
//!         [--rounds 3] [--texts data/sample_texts.txt] [--model bio=DIR --model phi=DIR]
//!         [--map NAME=DIR] [--max-batch-texts N]
//!
//! Default models: the tiny fixtures (bio = tiny-bert-cased, phi = tiny-bert-uncased), maps
//! built on first use in `MASKNER_CACHE` (default here: a directory under the system temp dir).
//! Requests use one connection each (`Connection: close`); the clients run in-process.

use anyhow::{Context, bail};
use maskner::engine::{Engine, EngineConfig};
use maskner::server::{self, ServeOptions};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

struct Config {
    clients: usize,
    requests: usize,
    max_seconds: f64,
    texts: PathBuf,
    models: Vec<(String, String)>,
    maps: Vec<(String, String)>,
    /// `max_batch_texts` of the batched run (default: the server's default).
    max_batch_texts: usize,
    /// Pairs of runs (one at a time, then batched), alternated so that background load drifts
    /// hit both alike; the figures are the medians.
    rounds: usize,
}

fn parse_args() -> anyhow::Result<Config> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut c = Config {
        clients: 8,
        requests: 400,
        max_seconds: 120.0,
        texts: root.join("data/sample_texts.txt"),
        models: Vec::new(),
        maps: Vec::new(),
        max_batch_texts: ServeOptions::default().max_batch_texts,
        rounds: 3,
    };
    let mut args = std::env::args().skip(1);
    let pair = |s: String, what: &str| -> anyhow::Result<(String, String)> {
        s.split_once('=').map(|(a, b)| (a.to_string(), b.to_string())).with_context(|| format!("--{what} {s}: expected NAME=VALUE"))
    };
    while let Some(a) = args.next() {
        match a.as_str() {
            "--clients" => c.clients = args.next().context("--clients value")?.parse()?,
            "--requests" => c.requests = args.next().context("--requests value")?.parse()?,
            "--max-seconds" => c.max_seconds = args.next().context("--max-seconds value")?.parse()?,
            "--texts" => c.texts = args.next().context("--texts value")?.into(),
            "--model" => c.models.push(pair(args.next().context("--model value")?, "model")?),
            "--map" => c.maps.push(pair(args.next().context("--map value")?, "map")?),
            "--max-batch-texts" => c.max_batch_texts = args.next().context("--max-batch-texts value")?.parse()?,
            "--rounds" => c.rounds = args.next().context("--rounds value")?.parse()?,
            "--bench" => {}
            other => bail!("unknown argument {other}"),
        }
    }
    if c.models.is_empty() {
        let fx = |n: &str| root.join("data/fixtures").join(n).display().to_string();
        c.models = vec![("bio".into(), fx("tiny-bert-cased")), ("phi".into(), fx("tiny-bert-uncased"))];
    }
    if c.clients == 0 || c.requests == 0 || c.rounds == 0 {
        bail!("--clients, --requests and --rounds must be at least 1");
    }
    Ok(c)
}

fn engine_config(c: &Config) -> anyhow::Result<EngineConfig> {
    let mut cfg = EngineConfig::reference_default();
    for (n, m) in &c.models {
        let member = cfg.members.iter_mut().find(|x| &x.name == n).with_context(|| format!("no member {n}"))?;
        member.model = m.clone();
    }
    for (n, d) in &c.maps {
        let member = cfg.members.iter_mut().find(|x| &x.name == n).with_context(|| format!("no member {n}"))?;
        member.map = Some(d.into());
    }
    Ok(cfg)
}

/// One request on a fresh connection: (status, body).
fn post(addr: SocketAddr, path: &str, body: &[u8]) -> std::io::Result<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(300)))?;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| std::io::Error::other("no end of headers"))?;
    let status = String::from_utf8_lossy(&raw[..split]).split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    Ok((status, raw[split + 4..].to_vec()))
}

fn get(addr: SocketAddr, path: &str) -> anyhow::Result<serde_json::Value> {
    let mut s = TcpStream::connect(addr)?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").context("no end of headers")?;
    Ok(serde_json::from_slice(&raw[split + 4..])?)
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok()))
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

struct RunResult {
    done: usize,
    errors: usize,
    seconds: f64,
    latencies: Vec<Duration>,
    texts_per_call: f64,
    peak_rss_mib: f64,
}

impl RunResult {
    fn throughput(&self) -> f64 {
        self.done as f64 / self.seconds
    }

    fn percentile(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[i].as_secs_f64() * 1000.0
    }
}

fn run(c: &Config, texts: &[String], opts: ServeOptions) -> anyhow::Result<RunResult> {
    let engine = Engine::load(&engine_config(c)?, &maskner::progress::Quiet)?;
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || -> anyhow::Result<()> {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            addr_tx.send(listener.local_addr()?)?;
            server::serve(engine, opts, listener, async move {
                let _ = stop_rx.await;
            })
            .await
        })
    });
    let addr = addr_rx.recv_timeout(Duration::from_secs(600)).context("the server did not start")?;
    let bodies: Vec<Vec<u8>> = texts.iter().map(|t| serde_json::json!({"text": t}).to_string().into_bytes()).collect();
    // warm-up: every text once
    for b in &bodies {
        let (status, body) = post(addr, "/v1/ner", b)?;
        if status != 200 {
            bail!("warm-up request failed with {status}: {}", String::from_utf8_lossy(&body));
        }
    }
    let before = get(addr, "/health")?;
    let next = AtomicUsize::new(0);
    let errors = AtomicUsize::new(0);
    let latencies = Mutex::new(Vec::with_capacity(c.requests));
    let limit = Duration::from_secs_f64(c.max_seconds);
    let t = Instant::now();
    std::thread::scope(|sc| {
        for _ in 0..c.clients {
            sc.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= c.requests || t.elapsed() > limit {
                        break;
                    }
                    let t0 = Instant::now();
                    match post(addr, "/v1/ner", &bodies[i % bodies.len()]) {
                        Ok((200, _)) => latencies.lock().unwrap_or_else(|e| e.into_inner()).push(t0.elapsed()),
                        Ok((status, body)) => {
                            eprintln!("request {i}: {status} {}", String::from_utf8_lossy(&body));
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            eprintln!("request {i}: {e}");
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
    });
    let seconds = t.elapsed().as_secs_f64();
    let after = get(addr, "/health")?;
    let delta = |k: &str| after[k].as_f64().unwrap_or(0.0) - before[k].as_f64().unwrap_or(0.0);
    let _ = stop.send(());
    server.join().map_err(|_| anyhow::anyhow!("server thread panicked"))??;
    let mut latencies = latencies.into_inner().unwrap_or_else(|e| e.into_inner());
    latencies.sort();
    Ok(RunResult {
        done: latencies.len(),
        errors: errors.load(Ordering::Relaxed),
        seconds,
        latencies,
        texts_per_call: delta("texts") / delta("batches").max(1.0),
        peak_rss_mib: peak_rss_mib(),
    })
}

/// The run of median throughput, with the errors of all runs (they must all be 0).
fn median(mut runs: Vec<RunResult>) -> RunResult {
    let errors: usize = runs.iter().map(|r| r.errors).sum();
    runs.sort_by(|a, b| a.throughput().total_cmp(&b.throughput()));
    let mut m = runs.swap_remove(runs.len() / 2);
    m.errors = errors;
    m
}

fn main() -> anyhow::Result<()> {
    let c = parse_args()?;
    if std::env::var_os("MASKNER_CACHE").is_none() {
        // SAFETY: no other thread exists yet.
        unsafe { std::env::set_var("MASKNER_CACHE", std::env::temp_dir().join("maskner-bench-cache")) };
    }
    let text = std::fs::read_to_string(&c.texts).with_context(|| format!("reading {}", c.texts.display()))?;
    let texts: Vec<String> = text.lines().filter(|l| !l.trim().is_empty()).map(String::from).collect();
    if texts.is_empty() {
        bail!("{}: no texts", c.texts.display());
    }
    let models: Vec<String> = c.models.iter().map(|(n, m)| format!("{n}={m}")).collect();
    eprintln!(
        "server load: {} clients, {} one-text requests per run (limit {} s), {} distinct texts, models {}",
        c.clients,
        c.requests,
        c.max_seconds,
        texts.len(),
        models.join(" ")
    );
    let mut singles = Vec::new();
    let mut batcheds = Vec::new();
    for round in 0..c.rounds {
        let single = run(&c, &texts, ServeOptions { max_batch_texts: 1, ..ServeOptions::default() })?;
        let batched = run(&c, &texts, ServeOptions { max_batch_texts: c.max_batch_texts, ..ServeOptions::default() })?;
        eprintln!(
            "round {}: one at a time {:.1} req/s, batched {:.1} req/s ({:.2} texts/call): gain {:.2}x",
            round + 1,
            single.throughput(),
            batched.throughput(),
            batched.texts_per_call,
            batched.throughput() / single.throughput()
        );
        singles.push(single);
        batcheds.push(batched);
    }
    let (single, batched) = (median(singles), median(batcheds));
    println!(
        "{:<22} {:>9} {:>8} {:>9} {:>9} {:>7} {:>11} {:>13}",
        "run (median)", "requests", "req/s", "p50 ms", "p99 ms", "errors", "texts/call", "peak RSS MiB"
    );
    for (name, r) in [("one at a time", &single), ("cross-request batching", &batched)] {
        println!(
            "{:<22} {:>9} {:>8.1} {:>9.1} {:>9.1} {:>7} {:>11.2} {:>13.0}",
            name,
            r.done,
            r.throughput(),
            r.percentile(0.5),
            r.percentile(0.99),
            r.errors,
            r.texts_per_call,
            r.peak_rss_mib
        );
    }
    let gain = batched.throughput() / single.throughput();
    println!("batching gain: {gain:.2}x throughput (medians of {} rounds)", c.rounds);
    let fig = |r: &RunResult| serde_json::json!({"done": r.done, "req_per_s": r.throughput(), "p50_ms": r.percentile(0.5), "p99_ms": r.percentile(0.99), "errors": r.errors, "texts_per_call": r.texts_per_call, "peak_rss_mib": r.peak_rss_mib});
    let json = serde_json::json!({
        "clients": c.clients,
        "requests": c.requests,
        "rounds": c.rounds,
        "max_batch_texts": c.max_batch_texts,
        "rayon_num_threads": std::env::var("RAYON_NUM_THREADS").ok(),
        "models": models,
        "one_at_a_time": fig(&single),
        "batched": fig(&batched),
        "batching_gain": gain,
    });
    println!("{json}");
    if single.errors + batched.errors > 0 {
        eprintln!("errors: {} (must be 0)", single.errors + batched.errors);
        std::process::exit(1);
    }
    Ok(())
}
