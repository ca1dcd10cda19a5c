//! `maskner serve` in-process on loopback ports, with the tiny fixture models as the two ensemble
//! members: every route, every limit and error status, cross-request batching, isolation of a
//! panicking text, graceful shutdown, and answers equal to the CLI's for the same texts. Then the
//! real binary as a child process: SIGTERM with a request in flight and with idle or half-sent
//! connections open, flag validation, and a token classifier served alone.
//!
//! Requests go through a minimal HTTP/1.1 client over `std::net::TcpStream` (one connection per
//! request, `Connection: close`), so tests can send exactly the bytes they want (invalid UTF-8,
//! oversized bodies) from plain threads.

mod common;

use maskner::engine::{Engine, EngineConfig};
use maskner::server::{InferenceHook, ServeOptions};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

/// Sets the environment once, before any test thread loads a model or runs the binary (every
/// test calls this first, so no thread reads the environment while it changes); the in-process
/// engine shares the binary's map cache.
fn init_env() {
    static INIT: Once = Once::new();
    INIT.call_once(|| unsafe {
        std::env::set_var("MASKNER_CACHE", common::cache_dir());
        std::env::set_var("HF_HUB_OFFLINE", "1");
    });
}

/// bio = the cased fixture, phi = the uncased one, as `maskner tag --model ...` builds it.
fn engine() -> Engine {
    init_env();
    // one load at a time: the first builds and caches both maps
    static LOAD: Mutex<()> = Mutex::new(());
    let _g = LOAD.lock().unwrap_or_else(|e| e.into_inner());
    let mut cfg = EngineConfig::reference_default();
    cfg.members[0].model = common::fixture_arg("tiny-bert-cased");
    cfg.members[1].model = common::fixture_arg("tiny-bert-uncased");
    Engine::load(&cfg, &maskner::progress::Quiet).expect("load the fixture ensemble")
}

/// A server on an ephemeral loopback port, stopped (gracefully) on drop.
struct Server {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
}

impl Server {
    fn start(opts: ServeOptions) -> Self {
        let engine = engine();
        let (addr_tx, addr_rx) = mpsc::channel();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || -> anyhow::Result<()> {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
                addr_tx.send(listener.local_addr()?)?;
                maskner::server::serve(engine, opts, listener, async move {
                    let _ = stop_rx.await;
                })
                .await
            })
        });
        let addr = addr_rx.recv_timeout(Duration::from_secs(60)).expect("server started");
        Self { addr, stop: Some(stop), thread: Some(thread) }
    }

    /// Triggers the graceful shutdown without waiting for it.
    fn begin_stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }

    fn join(mut self) -> anyhow::Result<()> {
        self.begin_stop();
        self.thread.take().map(|t| t.join().expect("server thread")).unwrap_or(Ok(()))
    }

    fn get(&self, path: &str) -> Resp {
        http(self.addr, "GET", path, None)
    }

    fn post(&self, path: &str, body: &[u8]) -> Resp {
        http(self.addr, "POST", path, Some(body))
    }

    fn post_json(&self, path: &str, v: &Value) -> Resp {
        self.post(path, v.to_string().as_bytes())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.begin_stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("JSON body ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The `{"error": ...}` message of an error answer.
    fn error(&self) -> String {
        let v = self.json();
        v["error"].as_str().unwrap_or_else(|| panic!("no error field: {v}")).to_string()
    }
}

/// One HTTP/1.1 request on a fresh connection, sent as JSON; reads the answer to EOF.
fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&[u8]>) -> Resp {
    http_as(addr, method, path, Some("application/json"), body)
}

/// One HTTP/1.1 request with the given Content-Type (or none) on a fresh connection.
fn http_as(addr: SocketAddr, method: &str, path: &str, content_type: Option<&str>, body: Option<&[u8]>) -> Resp {
    let ct = content_type.map(|c| format!("Content-Type: {c}\r\n")).unwrap_or_default();
    http_with(addr, method, path, &ct, body)
}

/// One HTTP/1.1 request with extra header lines (each ending in CRLF) on a fresh connection;
/// reads the answer to EOF.
fn http_with(addr: SocketAddr, method: &str, path: &str, headers: &str, body: Option<&[u8]>) -> Resp {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let body = body.unwrap_or(b"");
    let head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{headers}Content-Length: {}\r\n\r\n", body.len());
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read the answer");
    parse_response(&raw)
}

/// One request with an `Authorization` header value (or none) on a fresh connection.
fn http_auth(addr: SocketAddr, method: &str, path: &str, authorization: Option<&str>, body: Option<&[u8]>) -> Resp {
    let auth = authorization.map(|a| format!("Authorization: {a}\r\n")).unwrap_or_default();
    http_with(addr, method, path, &auth, body)
}

/// A whole answer (status line, headers, body) as read from the socket.
fn parse_response(raw: &[u8]) -> Resp {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("end of headers");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|c| c.parse().ok()).expect("status line");
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_string(), v.trim().to_string())).collect();
    assert!(!headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked")), "answers have a length");
    Resp { status, headers, body: raw[split + 4..].to_vec() }
}

/// Reads one answer from a keep-alive connection (up to its Content-Length), leaving it open.
fn read_one_response(s: &mut TcpStream) -> Resp {
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).expect("read the head"), 1, "connection closed in the head: {}", String::from_utf8_lossy(&raw));
        raw.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&raw).to_lowercase();
    let len: usize =
        head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse().ok()).expect("content-length");
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).expect("read the body");
    raw.extend(body);
    parse_response(&raw)
}

/// Runs the binary with the same members (and cache) as the in-process engine.
fn cli(args: &[&str], stdin: &[u8]) -> String {
    init_env();
    let bio = format!("bio={}", common::fixture_arg("tiny-bert-cased"));
    let phi = format!("phi={}", common::fixture_arg("tiny-bert-uncased"));
    let full = if args[0] == "tag" && !args.contains(&"--members") {
        [&["tag", "--model", &bio, "--model", &phi][..], &args[1..]].concat()
    } else {
        args.to_vec()
    };
    let out = common::maskner(&full, Some(stdin), &[]); // an early exit is reported below
    assert!(out.status.success(), "maskner {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn sample_texts() -> Vec<String> {
    let text = std::fs::read_to_string(common::root().join("data/sample_texts.txt")).unwrap();
    text.lines().filter(|l| !l.trim().is_empty()).map(String::from).collect()
}

/// Inputs of the equality test: the sample sentences, a marker sentence and one with explicit
/// character spans (on non-ASCII text), each with its CLI id.
fn inputs() -> Vec<Value> {
    let mut v: Vec<Value> = sample_texts().into_iter().map(|t| json!({"text": t})).collect();
    v.push(json!({"text": "Imatinib:__entity__ mesylate:__entity__ is used to treat CML:__entity__ ."}));
    v.push(json!({"text": "Zoë Müller moved from Zürich to São Paulo in 2019.", "spans": [[0, 10], [22, 28]]}));
    for (i, x) in v.iter_mut().enumerate() {
        x["id"] = json!(i + 1);
    }
    v
}

/// A worker hook that blocks on texts containing `BLOCK` until released, panics on `PANIC`,
/// sleeps on `SLOW`, and records every text it sees.
struct Gate {
    entered: Mutex<mpsc::Sender<()>>,
    release: Mutex<mpsc::Receiver<()>>,
    seen: Mutex<Vec<String>>,
}

struct GateHandle {
    gate: Arc<Gate>,
    entered: mpsc::Receiver<()>,
    release: mpsc::Sender<()>,
}

impl GateHandle {
    fn new() -> Self {
        let (etx, erx) = mpsc::channel();
        let (rtx, rrx) = mpsc::channel();
        let gate = Arc::new(Gate { entered: Mutex::new(etx), release: Mutex::new(rrx), seen: Mutex::new(Vec::new()) });
        Self { gate, entered: erx, release: rtx }
    }

    fn hook(&self) -> InferenceHook {
        let g = self.gate.clone();
        Arc::new(move |texts: &[&str]| {
            g.seen.lock().unwrap().extend(texts.iter().map(|t| t.to_string()));
            if texts.iter().any(|t| t.contains("BLOCK")) {
                let _ = g.entered.lock().unwrap().send(());
                let _ = g.release.lock().unwrap().recv_timeout(Duration::from_secs(60));
            }
            if texts.iter().any(|t| t.contains("SLOW")) {
                std::thread::sleep(Duration::from_millis(1500));
            }
            if texts.iter().any(|t| t.contains("PANIC")) {
                panic!("simulated model crash");
            }
        })
    }

    fn wait_entered(&self) {
        self.entered.recv_timeout(Duration::from_secs(60)).expect("the worker reached the hook");
    }

    fn seen(&self) -> Vec<String> {
        self.gate.seen.lock().unwrap().clone()
    }
}

/// Polls `/health` until `queue` texts are waiting.
fn wait_queue(s: &Server, queue: u64) {
    let t = Instant::now();
    while s.get("/health").json()["queue"].as_u64() != Some(queue) {
        assert!(t.elapsed() < Duration::from_secs(30), "queue never reached {queue}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Concurrent clients, mixed single and list requests, every format: each answer equals what
/// `maskner tag` prints for the same texts.
#[test]
fn concurrent_requests_answer_exactly_like_the_cli() {
    let inputs = inputs();
    let jsonl: String = inputs.iter().map(|v| format!("{v}\n")).collect();
    let cli_json: Vec<Value> =
        cli(&["tag", "--format", "jsonl", "--input", "-"], jsonl.as_bytes()).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let cli_explain: Vec<Value> = cli(&["tag", "--format", "jsonl", "--explain", "--input", "-"], jsonl.as_bytes())
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let cli_hf: Vec<Value> =
        cli(&["tag", "--format", "hf", "--input", "-"], jsonl.as_bytes()).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let cli_displacy: Vec<Value> =
        cli(&["tag", "--format", "displacy", "--input", "-"], jsonl.as_bytes()).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let cli_conll: Vec<String> =
        cli(&["tag", "--format", "conll", "--input", "-"], jsonl.as_bytes()).split_inclusive("\n\n").map(String::from).collect();
    assert_eq!(cli_json.len(), inputs.len());
    assert_eq!(cli_conll.len(), inputs.len());

    let server = Server::start(ServeOptions::default());
    // requests of 1..4 texts; odd-sized singles use {"text": ...}
    let mut requests: Vec<Vec<usize>> = Vec::new();
    let mut i = 0;
    while i < inputs.len() {
        let n = (requests.len() % 4 + 1).min(inputs.len() - i);
        requests.push((i..i + n).collect());
        i += n;
    }
    let formats = ["json", "hf", "conll", "displacy", "explain"];
    let answers: Mutex<BTreeMap<(usize, &str), Value>> = Mutex::new(BTreeMap::new());
    let next = Mutex::new(0usize);
    let jobs: Vec<(usize, &str)> = (0..requests.len()).flat_map(|r| formats.iter().map(move |f| (r, *f))).collect();
    std::thread::scope(|sc| {
        for _ in 0..8 {
            sc.spawn(|| {
                loop {
                    let job = {
                        let mut n = next.lock().unwrap();
                        let j = jobs.get(*n).copied();
                        *n += 1;
                        j
                    };
                    let Some((r, f)) = job else { break };
                    let idx = &requests[r];
                    let mut body = if idx.len() == 1 {
                        json!({"text": inputs[idx[0]]})
                    } else {
                        json!({"texts": idx.iter().map(|&k| inputs[k].clone()).collect::<Vec<_>>()})
                    };
                    match f {
                        "explain" => body["explain"] = json!(true),
                        f => body["format"] = json!(f),
                    }
                    let resp = server.post_json("/v1/ner", &body);
                    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
                    answers.lock().unwrap().insert((r, f), resp.json());
                }
            });
        }
    });
    let answers = answers.into_inner().unwrap();
    for (r, idx) in requests.iter().enumerate() {
        for f in formats {
            let got = &answers[&(r, f)];
            let got: Vec<Value> = if idx.len() == 1 { vec![got.clone()] } else { got.as_array().unwrap().clone() };
            assert_eq!(got.len(), idx.len());
            for (g, &k) in got.iter().zip(idx) {
                let want = match f {
                    "json" => cli_json[k].clone(),
                    "explain" => cli_explain[k].clone(),
                    "hf" => cli_hf[k].clone(),
                    "displacy" => cli_displacy[k].clone(),
                    _ => Value::String(cli_conll[k].clone()),
                };
                assert_eq!(g, &want, "input {k}, format {f}");
            }
        }
    }
    // texts of different requests shared engine calls
    let h = server.get("/health").json();
    assert_eq!(h["texts"].as_u64(), Some((inputs.len() * formats.len()) as u64));
    eprintln!("{} texts in {} engine calls", h["texts"], h["batches"]);
    server.join().unwrap();
}

#[test]
fn fill_mask_answers_like_the_cli_on_the_first_member() {
    let texts = ["Lou Gehrig worked in [MASK] .", "The [MASK] was given [MASK] after the surgery.", "No mask here."];
    let mut args = vec![
        "fill-mask".to_string(),
        "--model".into(),
        common::fixture_arg("tiny-bert-cased"),
        "--json".into(),
        "--top-k".into(),
        "3".into(),
    ];
    args.extend(texts.iter().map(|t| t.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let want: Vec<Value> = cli(&args, b"").lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let server = Server::start(ServeOptions::default());
    let r = server.post_json("/v1/fill-mask", &json!({"texts": texts, "top_k": 3}));
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), Value::Array(want.clone()));
    // number formatting too: the same bytes as the CLI's record
    let single = server.post_json("/v1/fill-mask", &json!({"text": texts[0], "top_k": 3}));
    assert_eq!(String::from_utf8(single.body.clone()).unwrap(), serde_json::to_string(&want[0]).unwrap());
    // default top_k is 10, like the CLI
    let d = server.post_json("/v1/fill-mask", &json!({"text": texts[0]})).json();
    assert_eq!(d["cls"].as_array().unwrap().len(), 10);
    // over-long text: an error record in its place (422 alone)
    let long = "word ".repeat(600);
    let r = server.post_json("/v1/fill-mask", &json!({"texts": [texts[0], long]}));
    assert_eq!(r.status, 200);
    let v = r.json();
    assert!(v[0]["masks"].is_array());
    assert!(v[1]["error"].as_str().unwrap().contains("word pieces"), "{v}");
    let r = server.post_json("/v1/fill-mask", &json!({"text": long}));
    assert_eq!(r.status, 422);
    // top_k bounds
    for k in [json!(0), json!(101), json!("3"), json!(-1)] {
        let r = server.post_json("/v1/fill-mask", &json!({"text": texts[0], "top_k": k}));
        assert_eq!(r.status, 422, "top_k {k}");
        assert!(r.error().contains("top_k"));
    }
}

#[test]
fn health_info_compat_and_unknown_routes() {
    let server = Server::start(ServeOptions::default());
    let h = server.get("/health");
    assert_eq!(h.status, 200);
    assert_eq!(h.json()["status"], "ok");

    let info = server.get("/v1/info").json();
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    let members: Vec<&str> = info["members"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(members, ["bio", "phi"]);
    assert!(info["members"][0]["model"].as_str().unwrap().ends_with("tiny-bert-cased"));
    assert!(info["members"][0]["map"].is_object(), "map metadata: {}", info["members"][0]);
    assert_eq!(info["members"][0]["precision"], "fp32");
    assert_eq!(info["taxonomy"]["name"], "jan2022");
    assert!(info["taxonomy"]["groups"].as_array().unwrap().iter().any(|g| g["group"] == "DISEASE"));
    assert_eq!(info["fill_mask_member"], "bio");
    assert_eq!(info["limits"]["max_texts"], 64);

    // the reference's GET /<any>/<sentence>: marker sentence, URL-encoded
    let sentence = "Lou:__entity__ Gehrig:__entity__ who works in XCorp:__entity__ suffers from Parkinson's:__entity__";
    let enc: String = sentence
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b == b'_' { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect();
    let r = server.get(&format!("/dummy/{enc}"));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let body = String::from_utf8(r.body.clone()).unwrap();
    assert!(body.starts_with("{\n     \"ensembled_ner\": {"), "indented by 5 like the reference: {body}");
    let v = r.json();
    assert_eq!(v["stats"]["return_status"], "Success");
    assert_eq!(v["stats"]["Ensemble server count"], "2");
    // the same tags as maskner tag (which does not print the appended period)
    let conll = cli(&["tag", "--format", "conll", sentence], b"");
    let tags: Vec<(String, String)> =
        conll.lines().filter(|l| !l.is_empty()).map(|l| l.split_once(' ').map(|(a, b)| (a.to_string(), b.to_string())).unwrap()).collect();
    for (i, (term, tag)) in tags.iter().enumerate() {
        let e = &v["ensembled_ner"][(i + 1).to_string()];
        assert_eq!(e["e"].as_str(), Some(tag.as_str()), "term {term}: {e}");
    }
    assert_eq!(v["ensembled_ner"][(tags.len() + 1).to_string()]["term"], ".");
    assert!(v["ensembled_prediction_details"].is_object());
    // unencoded spaces are not valid in a request line, but a %-encoded sentence without markers
    // is tagged as one sentence with automatic phrases
    let r = server.get("/x/Lou%20Gehrig%20worked%20in%20New%20York.%20He%20died%20in%201941.");
    assert_eq!(r.status, 200);
    let v = r.json();
    let words = maskner::text::split_words("Lou Gehrig worked in New York. He died in 1941.").len();
    assert_eq!(v["ensembled_ner"].as_object().unwrap().len(), words, "one sentence of all terms: {}", v["ensembled_ner"]);
    // invalid UTF-8 after decoding
    let r = server.get("/x/caf%FF");
    assert_eq!(r.status, 400);
    assert!(r.error().contains("UTF-8"));

    let r = server.get("/nothing");
    assert_eq!(r.status, 404);
    assert!(r.error().contains("no route"));
    let r = server.get("/v1/ner");
    assert_eq!(r.status, 405);
    assert!(r.error().contains("not allowed"));
    let r = server.post("/health", b"{}");
    assert_eq!(r.status, 405);
}

#[test]
fn the_demo_page_is_served_at_the_root_unless_turned_off() {
    let server = Server::start(ServeOptions::default());
    let r = server.get("/");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    let page = String::from_utf8(r.body.clone()).unwrap();
    assert!(page.contains(r#""kind":"demo""#) && page.contains("connect-src 'self'"), "{page}");
    // self-contained: nothing is loaded from elsewhere
    assert!(!page.contains("src=\"http") && !page.contains("href=\"http"));
    drop(server);
    let server = Server::start(ServeOptions { ui: false, ..ServeOptions::default() });
    let r = server.get("/");
    assert_eq!(r.status, 404);
    assert!(r.error().contains("no route"));
    assert_eq!(server.get("/health").status, 200);
}

#[test]
fn api_keys_guard_every_route_but_health_and_the_demo_page() {
    const KEY: &str = "test-key-0123456789abcdef";
    const OTHER: &str = "second-key-9876543210fedcba";
    let keys = maskner::server::ApiKeys::new([KEY, OTHER]).unwrap();
    let server = Server::start(ServeOptions { api_keys: Some(keys), ..ServeOptions::default() });
    let ner = br#"{"text": "Lou Gehrig worked in New York."}"#;
    // open routes
    assert_eq!(http_auth(server.addr, "GET", "/health", None, None).status, 200);
    let page = http_auth(server.addr, "GET", "/", None, None);
    assert_eq!(page.status, 200);
    assert!(String::from_utf8_lossy(&page.body).contains(r#""kind":"demo""#));
    // every API route wants a key
    for (method, path, body) in [
        ("GET", "/v1/info", None),
        ("POST", "/v1/ner", Some(&ner[..])),
        ("POST", "/v1/fill-mask", Some(&br#"{"text": "a [MASK] b"}"#[..])),
        ("GET", "/x/Lou%20Gehrig", None),
    ] {
        let r = http_auth(server.addr, method, path, None, body);
        assert_eq!(r.status, 401, "{path}");
        assert!(r.error().starts_with("missing API key"), "{path}: {}", r.error());
        assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"maskner\""));
        let r = http_auth(server.addr, method, path, Some(&format!("Bearer {KEY}0")), body);
        assert_eq!(r.status, 401, "{path}");
        assert_eq!(r.error(), "invalid API key");
        assert!(r.header("www-authenticate").unwrap().contains("invalid_token"));
        let r = http_auth(server.addr, method, path, Some(&format!("Basic {KEY}")), body);
        assert_eq!(r.status, 401, "{path}");
        assert!(r.error().contains("Bearer <key>"), "{}", r.error());
        for key in [KEY, OTHER] {
            let r = http_auth(server.addr, method, path, Some(&format!("Bearer {key}")), body);
            assert_eq!(r.status, 200, "{path} with a key: {}", String::from_utf8_lossy(&r.body));
        }
    }
    // a valid key does not hide request errors, and an unknown route stays 404
    let r = http_auth(server.addr, "POST", "/v1/ner", Some(&format!("bearer {KEY}")), Some(b"{"));
    assert_eq!(r.status, 400);
    assert_eq!(http_auth(server.addr, "GET", "/nothing", None, None).status, 404);
}

#[test]
fn connections_over_the_limit_are_answered_503_and_closed() {
    let server = Server::start(ServeOptions { max_connections: 2, header_timeout: Duration::from_secs(30), ..ServeOptions::default() });
    // two idle connections take both places (a request on each makes sure they were accepted)
    let mut held: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut c = TcpStream::connect(server.addr).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            c.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            assert_eq!(read_one_response(&mut c).status, 200);
            c
        })
        .collect();
    let r = server.get("/health");
    assert_eq!(r.status, 503);
    assert!(r.error().contains("too many connections") && r.error().contains("limit of 2"), "{}", r.error());
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(r.header("connection"), Some("close"));
    // a refused POST with a body still gets its answer (the body is drained, not reset)
    let r = server.post("/v1/ner", &vec![b' '; 200_000]);
    assert_eq!(r.status, 503);
    // the held connections still work, and closing one frees its place
    held[0].write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(read_one_response(&mut held[0]).status, 200);
    drop(held.pop());
    let t = Instant::now();
    loop {
        let r = server.get("/health");
        if r.status == 200 {
            break;
        }
        assert_eq!(r.status, 503);
        assert!(t.elapsed() < Duration::from_secs(10), "the closed connection's place was not freed");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn request_errors_are_json_with_status_codes() {
    let opts = ServeOptions { max_body_bytes: 512, max_texts: 3, max_chars: 40, ..ServeOptions::default() };
    let server = Server::start(opts);
    let check = |r: Resp, status: u16, needle: &str| {
        assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.header("content-type"), Some("application/json"));
        let e = r.error();
        assert!(e.contains(needle), "{e:?} should mention {needle:?}");
    };
    let big = format!("{{\"text\": \"{}\"}}", "a".repeat(1000));
    check(server.post("/v1/ner", big.as_bytes()), 413, "larger than the limit of 512 bytes");
    check(server.post("/v1/fill-mask", big.as_bytes()), 413, "larger than");
    check(server.post("/v1/ner", b"{\"text\": "), 400, "malformed JSON");
    check(server.post("/v1/ner", b"{\"text\": \"caf\xe9\"}"), 400, "not valid UTF-8");
    check(server.post("/v1/fill-mask", b"\xff\xfe"), 400, "not valid UTF-8");
    check(server.post("/v1/ner", b"[\"a\"]"), 400, "JSON object");
    check(server.post("/v1/ner", b""), 400, "malformed JSON");
    check(server.post_json("/v1/ner", &json!({})), 400, "missing \"text\"");
    check(server.post_json("/v1/ner", &json!({"text": "a", "texts": ["b"]})), 400, "not both");
    check(server.post_json("/v1/ner", &json!({"texts": "a"})), 400, "must be a list");
    check(server.post_json("/v1/ner", &json!({"text": 3})), 400, "expected a string");
    check(server.post_json("/v1/ner", &json!({"texts": [{"txt": "a"}]})), 400, "unknown field \"txt\"");
    check(server.post_json("/v1/ner", &json!({"text": "a", "fromat": "hf"})), 400, "unknown field \"fromat\"");
    check(server.post_json("/v1/ner", &json!({"text": "a", "format": "xml"})), 400, "\"format\"");
    check(server.post_json("/v1/ner", &json!({"text": "a", "explain": "yes"})), 400, "\"explain\"");
    check(server.post_json("/v1/ner", &json!({"text": "a", "mode": "all"})), 400, "\"mode\"");
    check(server.post_json("/v1/fill-mask", &json!({"texts": [{"text": "a"}]})), 400, "expected a string");
    check(server.post_json("/v1/ner", &json!({"texts": ["a", "b", "c", "d"]})), 422, "4 texts, more than the limit of 3");
    check(server.post_json("/v1/fill-mask", &json!({"texts": ["a", "b", "c", "d"]})), 422, "limit of 3");
    check(
        server.post_json("/v1/ner", &json!({"texts": ["ok", "é".repeat(41)]})),
        422,
        "texts[1]: 41 characters, more than the limit of 40",
    );
    check(server.get(&format!("/x/{}", "a".repeat(41))), 422, "41 characters");

    // 40 characters of multi-byte text are within the limit (characters, not bytes)
    let r = server.post_json("/v1/ner", &json!({"texts": ["Zoë Müller moved to São Paulo."]}));
    assert_eq!(r.status, 200);
    // a text that fails gives an error record in its place, the others their records
    let r = server.post_json(
        "/v1/ner",
        &json!({"texts": ["Lou Gehrig worked in New York.", {"id": "x", "text": "Zoë", "spans": [[2, 9]]}, {"text": "a", "spans": "0-1"}]}),
    );
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v[0]["id"], 1);
    assert!(v[0]["terms"].is_array());
    assert_eq!(v[1]["id"], "x");
    assert!(v[1]["error"].as_str().unwrap().contains("out of range"), "{v}");
    assert!(v[2]["error"].as_str().unwrap().contains("spans"), "{v}");
    // a single text that fails is the request's failure
    let r = server.post_json("/v1/ner", &json!({"text": {"text": "Zoë", "spans": [[2, 9]]}}));
    assert_eq!(r.status, 422);
    assert!(r.error().contains("out of range"));
    // an empty list is answered at once
    assert_eq!(server.post_json("/v1/ner", &json!({"texts": []})).json(), json!([]));

    // the body must be JSON: application/json (charset utf-8 at most) or no Content-Type
    let body = br#"{"text": "Lou Gehrig worked in New York."}"#;
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/json; charset=latin1",
        "application/jsonl",
        "multipart/form-data; boundary=x",
    ] {
        for path in ["/v1/ner", "/v1/fill-mask"] {
            check(http_as(server.addr, "POST", path, Some(ct), Some(body)), 415, &format!("unsupported Content-Type \"{ct}\""));
        }
    }
    assert!(http_as(server.addr, "POST", "/v1/ner", Some("text/plain"), Some(body)).error().contains("application/json"));
    for ct in [
        None,
        Some("application/json"),
        Some("Application/JSON"),
        Some("application/json; charset=utf-8"),
        Some("application/json;charset=\"UTF-8\""),
    ] {
        let r = http_as(server.addr, "POST", "/v1/ner", ct, Some(body));
        assert_eq!(r.status, 200, "Content-Type {ct:?}: {}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.json()["text"], "Lou Gehrig worked in New York.");
    }
}

#[test]
fn headers_that_do_not_arrive_in_time_close_the_connection() {
    let server = Server::start(ServeOptions { header_timeout: Duration::from_millis(600), ..ServeOptions::default() });
    let open = |bytes: &[u8]| {
        let mut c = TcpStream::connect(server.addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        c.write_all(bytes).unwrap();
        (c, Instant::now())
    };
    let (mut half, t_half) = open(b"POST /v1/ner HTTP/1.1\r\nHost: x\r\nContent-Ty");
    let (mut silent, t_silent) = open(b"");
    // a keep-alive connection that has had its answer is idle: the same timeout closes it
    let (mut idle, _) = open(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(read_one_response(&mut idle).status, 200);
    let t_idle = Instant::now();
    // meanwhile requests sent in time are answered
    assert_eq!(server.post_json("/v1/ner", &json!({"text": "Lou Gehrig worked in New York."})).status, 200);
    for (name, c, t) in
        [("half-sent headers", &mut half, t_half), ("nothing sent", &mut silent, t_silent), ("idle keep-alive", &mut idle, t_idle)]
    {
        let mut rest = Vec::new();
        c.read_to_end(&mut rest).unwrap_or_else(|e| panic!("{name}: not closed: {e}"));
        let took = t.elapsed();
        assert!(rest.is_empty(), "{name}: closed without an answer: {}", String::from_utf8_lossy(&rest));
        assert!(
            took >= Duration::from_millis(550) && took < Duration::from_secs(10),
            "{name}: closed after {took:?}, not at the header timeout"
        );
    }
    server.join().unwrap();
}

#[test]
fn full_queue_answers_429_and_texts_of_different_requests_share_an_engine_call() {
    let gate = GateHandle::new();
    let opts = ServeOptions { max_queue: 3, max_texts: 3, before_inference: Some(gate.hook()), ..ServeOptions::default() };
    let server = Server::start(opts);
    std::thread::scope(|sc| {
        let blocked = sc.spawn(|| server.post_json("/v1/ner", &json!({"text": "BLOCK the worker"})));
        gate.wait_entered();
        // the worker is busy: these wait, filling the queue (2 + 1 of 3 texts)
        let a = sc.spawn(|| {
            server.post_json("/v1/ner", &json!({"texts": ["Lou Gehrig worked in New York.", "Mesothelioma is caused by asbestos."]}))
        });
        wait_queue(&server, 2);
        let b = sc.spawn(|| server.post_json("/v1/ner", &json!({"text": "The patient was given aspirin."})));
        wait_queue(&server, 3);
        let full = server.post_json("/v1/ner", &json!({"text": "one more"}));
        assert_eq!(full.status, 429);
        assert_eq!(full.header("retry-after"), Some("1"));
        assert!(full.error().contains("queue is full"), "{}", full.error());
        let full = server.post_json("/v1/fill-mask", &json!({"text": "one [MASK] more"}));
        assert_eq!(full.status, 429);
        gate.release.send(()).unwrap();
        assert_eq!(blocked.join().unwrap().status, 200);
        assert_eq!(a.join().unwrap().status, 200);
        assert_eq!(b.join().unwrap().status, 200);
    });
    // the three waiting texts of two requests went through the engine in one call
    let h = server.get("/health").json();
    assert_eq!((h["batches"].as_u64(), h["texts"].as_u64()), (Some(2), Some(4)), "{h}");
    assert_eq!(server.post_json("/v1/ner", &json!({"text": "one more"})).status, 200);
}

#[test]
fn slow_inference_times_out_with_503_and_abandoned_texts_are_skipped() {
    let gate = GateHandle::new();
    let opts = ServeOptions { timeout: Duration::from_millis(400), before_inference: Some(gate.hook()), ..ServeOptions::default() };
    let server = Server::start(opts);
    std::thread::scope(|sc| {
        let slow = sc.spawn(|| {
            let t = Instant::now();
            (server.post_json("/v1/ner", &json!({"text": "SLOW text"})), t.elapsed())
        });
        // wait until the worker has taken it
        let t = Instant::now();
        while !gate.seen().iter().any(|s| s.contains("SLOW")) {
            assert!(t.elapsed() < Duration::from_secs(30));
            std::thread::sleep(Duration::from_millis(5));
        }
        let queued = sc.spawn(|| server.post_json("/v1/fill-mask", &json!({"text": "SKIPPED [MASK] text"})));
        let (r, took) = slow.join().unwrap();
        assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
        assert!(r.error().contains("timed out"), "{}", r.error());
        assert!(took < Duration::from_millis(1400), "answered at the deadline, not when inference ended: {took:?}");
        let q = queued.join().unwrap();
        assert_eq!(q.status, 503);
    });
    // the server goes on once the slow call ends; the text whose requester left was never run
    let t = Instant::now();
    loop {
        let r = server.post_json("/v1/ner", &json!({"text": "Lou Gehrig worked in New York."}));
        if r.status == 200 {
            break;
        }
        assert_eq!(r.status, 503);
        assert!(t.elapsed() < Duration::from_secs(20), "the server did not recover");
    }
    assert!(!gate.seen().iter().any(|s| s.contains("SKIPPED")), "{:?}", gate.seen());

    // a body that does not arrive within the timeout: 408, the connection is not held
    let mut c = TcpStream::connect(server.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(b"POST /v1/ner HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 100\r\n\r\n{\"text\": ").unwrap();
    let t = Instant::now();
    let mut raw = Vec::new();
    c.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8_lossy(&raw);
    assert!(raw.starts_with("HTTP/1.1 408"), "{raw}");
    assert!(raw.contains("did not arrive within"), "{raw}");
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_panic_in_inference_answers_500_for_its_request_only() {
    let gate = GateHandle::new();
    let opts = ServeOptions { before_inference: Some(gate.hook()), ..ServeOptions::default() };
    let server = Server::start(opts);
    std::thread::scope(|sc| {
        let blocked = sc.spawn(|| server.post_json("/v1/ner", &json!({"text": "BLOCK the worker"})));
        gate.wait_entered();
        // both wait and then share one group: the panic must not fail the other request
        let bad = sc.spawn(|| server.post_json("/v1/ner", &json!({"texts": ["fine text", "PANIC text"]})));
        wait_queue(&server, 2);
        let good = sc.spawn(|| server.post_json("/v1/ner", &json!({"text": "Lou Gehrig worked in New York."})));
        let bad_fill = sc.spawn(|| server.post_json("/v1/fill-mask", &json!({"text": "PANIC [MASK]"})));
        wait_queue(&server, 4);
        gate.release.send(()).unwrap();
        assert_eq!(blocked.join().unwrap().status, 200);
        let bad = bad.join().unwrap();
        assert_eq!(bad.status, 500);
        assert!(bad.error().contains("panicked") && bad.error().contains("simulated model crash"), "{}", bad.error());
        let good = good.join().unwrap();
        assert_eq!(good.status, 200, "{}", String::from_utf8_lossy(&good.body));
        assert_eq!(good.json()["text"], "Lou Gehrig worked in New York.");
        assert_eq!(bad_fill.join().unwrap().status, 500);
    });
    // the inference thread lives on
    assert_eq!(server.post_json("/v1/fill-mask", &json!({"text": "Lou [MASK] ."})).status, 200);
    assert_eq!(server.post_json("/v1/ner", &json!({"text": "Parkinson's disease affects the brain."})).status, 200);
}

#[test]
fn shutdown_finishes_requests_in_flight_and_refuses_new_ones() {
    let gate = GateHandle::new();
    let opts = ServeOptions { before_inference: Some(gate.hook()), ..ServeOptions::default() };
    let mut server = Server::start(opts);
    let addr = server.addr;
    let in_flight = std::thread::spawn(move || {
        http(addr, "POST", "/v1/ner", Some(br#"{"texts": ["BLOCK the worker", "Lou Gehrig worked in New York."]}"#))
    });
    gate.wait_entered();
    server.begin_stop();
    let t = Instant::now();
    while TcpStream::connect(addr).is_ok() {
        assert!(t.elapsed() < Duration::from_secs(10), "still accepting connections");
        std::thread::sleep(Duration::from_millis(20));
    }
    gate.release.send(()).unwrap();
    let r = in_flight.join().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.json().as_array().unwrap().len(), 2);
    server.join().expect("clean shutdown");
}

#[test]
fn a_client_that_disconnects_releases_its_queued_texts() {
    let gate = GateHandle::new();
    let opts = ServeOptions { before_inference: Some(gate.hook()), ..ServeOptions::default() };
    let server = Server::start(opts);
    std::thread::scope(|sc| {
        let blocked = sc.spawn(|| server.post_json("/v1/ner", &json!({"text": "BLOCK the worker"})));
        gate.wait_entered();
        let body = br#"{"text": "GONE before its turn"}"#;
        let mut c = TcpStream::connect(server.addr).unwrap();
        write!(c, "POST /v1/ner HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", body.len()).unwrap();
        c.write_all(body).unwrap();
        wait_queue(&server, 1);
        drop(c);
        // the server notices the closed connection and drops the request's queue item
        wait_queue(&server, 0);
        gate.release.send(()).unwrap();
        assert_eq!(blocked.join().unwrap().status, 200);
    });
    assert_eq!(server.post_json("/v1/ner", &json!({"text": "Lou Gehrig worked in New York."})).status, 200);
    assert!(!gate.seen().iter().any(|s| s.contains("GONE")), "{:?}", gate.seen());
}

/// `maskner serve` as a child process on a loopback port chosen by the OS (`--port 0`; the
/// address is read from the start line on stderr). Killed on drop if still running.
struct ServeProcess {
    child: std::process::Child,
    addr: SocketAddr,
    stderr: Arc<Mutex<Vec<String>>>,
    stderr_thread: Option<std::thread::JoinHandle<()>>,
}

impl ServeProcess {
    fn start(args: &[&str]) -> Self {
        init_env();
        let mut child = common::command(&["serve", "--host", "127.0.0.1", "--port", "0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn maskner serve");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = mpsc::channel();
        let pipe = child.stderr.take().unwrap();
        let lines = stderr.clone();
        let stderr_thread = std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
                if let Some(addr) = line.split(" on http://").nth(1).and_then(|r| r.split_whitespace().next()) {
                    let _ = addr_tx.send(addr.parse::<SocketAddr>().expect("address in the start line"));
                }
                lines.lock().unwrap().push(line);
            }
        });
        let addr = match addr_rx.recv_timeout(Duration::from_secs(180)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("maskner serve did not start: {}", stderr.lock().unwrap().join("\n"));
            }
        };
        let s = Self { child, addr, stderr, stderr_thread: Some(stderr_thread) };
        let t = Instant::now();
        while http(s.addr, "GET", "/health", None).status != 200 {
            assert!(t.elapsed() < Duration::from_secs(30), "/health never answered 200");
            std::thread::sleep(Duration::from_millis(50));
        }
        s
    }

    /// Sends a signal with kill(1) (libc is not a dependency).
    fn signal(&self, name: &str) {
        let st = Command::new("kill").args([format!("-{name}"), self.child.id().to_string()]).status().expect("run kill");
        assert!(st.success(), "kill -{name} failed");
    }

    /// The exit status, once the process has ended within `limit` (`None` if it has not).
    fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let t = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                if let Some(th) = self.stderr_thread.take() {
                    let _ = th.join();
                }
                return Some(st);
            }
            if t.elapsed() > limit {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `--model` flags for the fixture ensemble, as the in-process engine has it.
fn fixture_models() -> Vec<String> {
    vec![
        "--model".into(),
        format!("bio={}", common::fixture_arg("tiny-bert-cased")),
        "--model".into(),
        format!("phi={}", common::fixture_arg("tiny-bert-uncased")),
    ]
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Waits until the server refuses new connections (its listener is closed).
fn wait_refused(addr: SocketAddr) {
    let t = Instant::now();
    while TcpStream::connect(addr).is_ok() {
        assert!(t.elapsed() < Duration::from_secs(10), "still accepting connections after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_binary_answers_a_request_in_flight_at_sigterm_and_exits_0() {
    let mut server = ServeProcess::start(&strs(&fixture_models()));
    let texts = ["Lou Gehrig worked in New York.", "Mesothelioma is caused by asbestos."];
    let body = json!({"texts": texts}).to_string();
    let (first, rest) = body.as_bytes().split_at(body.len() / 2);
    let mut c = TcpStream::connect(server.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(c, "POST /v1/ner HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", body.len()).unwrap();
    c.write_all(first).unwrap();
    // the handler is now reading the body
    std::thread::sleep(Duration::from_millis(300));
    server.signal("TERM");
    wait_refused(server.addr);
    assert!(server.wait_exit(Duration::from_millis(500)).is_none(), "exited with a request in flight: {}", server.stderr());
    c.write_all(rest).unwrap();
    let mut raw = Vec::new();
    c.read_to_end(&mut raw).expect("read the answer");
    let r = parse_response(&raw);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("connection"), Some("close"));
    let records = r.json();
    let got: Vec<&str> = records.as_array().unwrap().iter().map(|v| v["text"].as_str().unwrap()).collect();
    assert_eq!(got, texts);
    assert!(records[0]["entities"].is_array());
    let st = server.wait_exit(Duration::from_secs(20)).expect("the server exits after answering");
    assert_eq!(st.code(), Some(0), "{}", server.stderr());
    let log = server.stderr();
    assert!(log.contains("maskner: shutting down, finishing requests in flight") && log.ends_with("maskner: stopped"), "{log}");
}

/// `maskner serve --precision bf16`: the members say so in /v1/info, and /v1/ner answers
/// what `maskner tag --precision bf16` prints.
#[test]
fn the_binary_serves_bf16_models_like_the_cli() {
    let mut args = fixture_models();
    args.extend(["--precision", "bf16"].map(String::from));
    let mut server = ServeProcess::start(&strs(&args));
    let info = http(server.addr, "GET", "/v1/info", None).json();
    assert_eq!(info["members"][0]["precision"], "bf16");
    assert_eq!(info["members"][1]["precision"], "bf16");
    let text = "Mesothelioma is caused by asbestos.";
    let r = http(server.addr, "POST", "/v1/ner", Some(json!({"texts": [text]}).to_string().as_bytes()));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let want: Value = serde_json::from_str(cli(&["tag", "--precision", "bf16", "--format", "jsonl", text], b"").trim()).unwrap();
    assert_eq!(r.json()[0]["entities"], want["entities"]);
    let fp32: Value = serde_json::from_str(cli(&["tag", "--format", "jsonl", text], b"").trim()).unwrap();
    assert_ne!(want["entities"], fp32["entities"], "bf16 scores equal fp32's: the flag did nothing");
    server.signal("TERM");
    assert_eq!(server.wait_exit(Duration::from_secs(20)).and_then(|s| s.code()), Some(0), "{}", server.stderr());
}

#[test]
fn the_binary_does_not_wait_for_idle_or_half_sent_connections_at_sigterm() {
    // the header timeout (4 s) is far below the request timeout and what a client might wait
    let mut args = fixture_models();
    args.extend(["--header-timeout", "4", "--timeout", "120"].map(String::from));
    let mut server = ServeProcess::start(&strs(&args));
    let connect = || {
        let c = TcpStream::connect(server.addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        c
    };
    let mut half = connect();
    half.write_all(b"POST /v1/ner HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\nContent-").unwrap();
    let t_half = Instant::now();
    let mut idle = connect();
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(read_one_response(&mut idle).status, 200);
    server.signal("TERM");
    let t_term = Instant::now();
    // the idle keep-alive connection is closed at once, not after its header timeout
    let mut rest = Vec::new();
    idle.read_to_end(&mut rest).expect("idle connection closed");
    assert!(rest.is_empty());
    assert!(t_term.elapsed() < Duration::from_secs(2), "idle connection closed after {:?}", t_term.elapsed());
    // the half-sent request is dropped at its header timeout, without an answer
    half.read_to_end(&mut rest).expect("half-sent connection closed");
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
    let took = t_half.elapsed();
    assert!(took >= Duration::from_millis(3900) && took < Duration::from_secs(10), "half-sent connection closed after {took:?}");
    // and the server ends with it, while this test still holds both sockets open
    let st = server.wait_exit(Duration::from_secs(10)).unwrap_or_else(|| panic!("still running {:?} after SIGTERM", t_term.elapsed()));
    assert_eq!(st.code(), Some(0), "{}", server.stderr());
    assert!(t_term.elapsed() < Duration::from_secs(10));
    drop((half, idle));
}

#[test]
fn the_binary_refuses_bad_flags_with_one_line_errors() {
    // a model that does not exist: the flags are checked before any model is loaded
    let cases: [(&[&str], &str); 9] = [
        (&["--timeout", "1e30"], "maskner: --timeout 1e30: expected a number of seconds from 0.001 to 86400"),
        (&["--timeout", "1e19"], "maskner: --timeout 1e19: expected a number of seconds from 0.001 to 86400"),
        (&["--timeout=-1"], "maskner: --timeout -1: expected a number of seconds from 0.001 to 86400"),
        (&["--header-timeout", "0"], "maskner: --header-timeout 0: expected a number of seconds from 0.001 to 86400"),
        (&["--max-texts", "100", "--max-queue", "50"], "maskner: --max-texts 100 is larger than --max-queue 50"),
        (&["--max-batch-texts", "0"], "maskner: --max-batch-texts 0: must be at least 1"),
        (&["--http-threads", "0"], "maskner: --http-threads 0: expected 1 to 256"),
        (&["--api-key", "short"], "maskner: --api-key: API key 1: 5 characters, fewer than 16"),
        (&["--max-connections", "0"], "maskner: --max-connections 0: must be at least 1"),
    ];
    init_env();
    for (flags, want) in cases {
        let out = common::maskner(&[&["serve", "--port", "0", "--model", "bio=/nonexistent/model"][..], flags].concat(), None, &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{flags:?}: one line: {err}");
        assert!(err.starts_with(want), "{flags:?}: {err}");
    }
}

#[test]
fn options_out_of_range_are_refused_by_the_library_too() {
    let bad = [
        ServeOptions { timeout: Duration::MAX, ..ServeOptions::default() },
        ServeOptions { header_timeout: Duration::ZERO, ..ServeOptions::default() },
        ServeOptions { max_texts: 10, max_queue: 5, ..ServeOptions::default() },
    ];
    let flags = ["--timeout", "--header-timeout", "--max-texts"];
    for (opts, flag) in bad.into_iter().zip(flags) {
        let e = opts.check().expect_err(flag).to_string();
        assert!(e.starts_with(flag), "{e}");
    }
    ServeOptions::default().check().unwrap();
}

#[test]
fn the_binary_serves_a_token_classifier_alone() {
    let sci = common::fixture_arg("tiny-scibert-ner-jnlpba");
    let labels = format!(
        "{sci}={}",
        common::root().join("descriptors/members/fran-martinez--scibert_scivocab_cased_ner_jnlpba.labels.txt").display()
    );
    let server = ServeProcess::start(&["--members", &sci, "--labels", &labels]);
    let texts = ["The BRCA1 protein repairs damaged DNA in breast tissue.", "IL-2 activates T cells."];
    let jsonl: String = texts.iter().map(|t| format!("{}\n", json!({"text": t}))).collect();
    let want: Vec<Value> = cli(&["tag", "--members", &sci, "--labels", &labels, "--format", "jsonl", "--input", "-"], jsonl.as_bytes())
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let r = http(server.addr, "POST", "/v1/ner", Some(json!({"texts": texts}).to_string().as_bytes()));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json(), Value::Array(want.clone()));
    let entities = want[0]["entities"].as_array().unwrap();
    assert!(!entities.is_empty(), "{}", want[0]);
    assert!(entities.iter().all(|e| e["member"] == sci.as_str()), "{}", want[0]);

    let info = http(server.addr, "GET", "/v1/info", None).json();
    assert_eq!(info["members"][0]["kind"], "token-classifier");
    assert_eq!(info["fill_mask_member"], Value::Null);
    let r = http(server.addr, "POST", "/v1/fill-mask", Some(br#"{"text": "The [MASK] protein."}"#));
    assert_eq!(r.status, 501);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(r.error().contains("no masked-LM member"), "{}", r.error());

    // the reference's GET route: the classifier's own phrases of the sentence, the CLI's tags
    let sentence = texts[0];
    let enc: String =
        sentence.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect();
    let r = http(server.addr, "GET", &format!("/ner/{enc}"), None);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    assert_eq!(v["stats"]["return_status"], "Success");
    assert_eq!(v["stats"]["Ensemble server count"], "1");
    let conll = cli(&["tag", "--members", &sci, "--labels", &labels, "--format", "conll", sentence], b"");
    let tags: Vec<(&str, &str)> = conll.lines().filter(|l| !l.is_empty()).map(|l| l.split_once(' ').unwrap()).collect();
    let terms = v["ensembled_ner"].as_object().unwrap();
    assert_eq!(terms.len(), tags.len(), "{}", v["ensembled_ner"]);
    for (i, (term, tag)) in tags.iter().enumerate() {
        let e = &v["ensembled_ner"][(i + 1).to_string()];
        assert_eq!((e["term"].as_str(), e["e"].as_str()), (Some(*term), Some(*tag)), "{e}");
    }
    assert!(tags.iter().any(|(_, t)| *t != "O"), "{conll}");
}
