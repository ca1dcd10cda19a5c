//! `maskner serve`: the tagging engine over HTTP (see `maskner::server` and docs/server.md).

use super::engine_args::EngineArgs;
use super::progress::Bars;
use crate::engine::Engine;
use crate::server::{self, ApiKeys, ServeOptions};
use std::path::PathBuf;
use std::time::Duration;

/// Serve the engine over HTTP: models and maps are loaded once, texts of concurrent requests are
/// batched together on one inference thread.
///
/// Routes: GET / (a demo page: type text, tag it, inspect each entity's descriptors; --no-ui
/// turns it off), POST /v1/ner, POST /v1/fill-mask, GET /health, GET /v1/info, and the reference
/// ensemble server's GET /<any>/<url-encoded sentence>. Stops on SIGINT/SIGTERM after the
/// requests in flight are answered.
///
/// Examples:
///   maskner serve --port 8059
///   maskner serve --model bio=./my-bio-bert --model phi=bert-base-cased --max-batch-texts 16
///   curl -s localhost:8059/v1/ner -H 'Content-Type: application/json' \
///     -d '{"texts": ["Lou Gehrig worked in New York"], "format": "hf"}'
///   MASKNER_API_KEY=$(openssl rand -hex 32) maskner serve   # clients send Authorization: Bearer <key>
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on (0: any free port, printed at start).
    #[arg(long, default_value_t = 8059)]
    port: u16,
    /// Engine configuration (JSON: members with model, map, use_cls, precedence).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    engine: EngineArgs,
    /// Largest request body in bytes (413 above).
    #[arg(long, default_value_t = ServeOptions::default().max_body_bytes)]
    max_body_bytes: usize,
    /// Most texts per request (422 above).
    #[arg(long, default_value_t = ServeOptions::default().max_texts)]
    max_texts: usize,
    /// Most characters per text (422 above).
    #[arg(long, default_value_t = ServeOptions::default().max_chars)]
    max_chars: usize,
    /// Most texts waiting for inference over all requests (429 when full).
    #[arg(long, default_value_t = ServeOptions::default().max_queue)]
    max_queue: usize,
    /// Most texts per engine call (1 disables cross-request batching).
    #[arg(long, default_value_t = ServeOptions::default().max_batch_texts)]
    max_batch_texts: usize,
    /// Characters per engine call, the batch's token budget (about 4 characters per word piece).
    #[arg(long, default_value_t = ServeOptions::default().max_batch_chars)]
    max_batch_chars: usize,
    /// Seconds a request may take from its headers to its results: the body must arrive
    /// within it (408 after), queueing and inference included (503 after). 0.001 to 86400.
    #[arg(long, value_name = "SECONDS", default_value_t = ServeOptions::default().timeout.as_secs_f64().to_string())]
    timeout: String,
    /// Seconds a client may take to send a request's headers (also how long an idle keep-alive
    /// connection stays open); the connection is closed after. 0.001 to 86400.
    #[arg(long, value_name = "SECONDS", default_value_t = ServeOptions::default().header_timeout.as_secs_f64().to_string())]
    header_timeout: String,
    /// Largest top_k of /v1/fill-mask.
    #[arg(long, default_value_t = ServeOptions::default().max_top_k)]
    max_top_k: usize,
    /// Threads of the HTTP runtime (inference always runs on its own thread). 1 to 256.
    #[arg(long, default_value_t = 2)]
    http_threads: usize,
    /// Do not serve the demo page at GET / (404 there, like any unknown route).
    #[arg(long)]
    no_ui: bool,
    /// Require `Authorization: Bearer KEY` on every route but GET /health and the demo page
    /// (401 without). At least 16 visible ASCII characters; prefer the environment variable to
    /// the flag, which other users can see in the process list.
    #[arg(long, value_name = "KEY", env = "MASKNER_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Accept any key listed in FILE (one per line; blank lines and `#` comments skipped), with
    /// or without --api-key.
    #[arg(long, value_name = "FILE")]
    api_key_file: Option<PathBuf>,
    /// Most connections open at once; more are answered 503 and closed.
    #[arg(long, default_value_t = ServeOptions::default().max_connections)]
    max_connections: usize,
}

/// Most `--http-threads`: they only move requests, and tokio cannot report a thread it fails to
/// start, so an absurd count must not reach it.
const MAX_HTTP_THREADS: usize = 256;

/// A seconds flag as a duration within the server's allowed range. Parsed here rather than by
/// clap so that the error is one line quoting the value as given; a float alone may be
/// negative, NaN or too large for a `Duration`.
fn seconds(flag: &str, value: &str) -> anyhow::Result<Duration> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .filter(|d| server::TIMEOUT_RANGE.contains(d))
        .ok_or_else(|| anyhow::anyhow!("{flag} {value}: expected {}", server::timeout_range_text()))
}

/// The keys of `--api-key` and `--api-key-file`, if either is given.
fn api_keys(key: Option<&str>, file: Option<&std::path::Path>) -> anyhow::Result<Option<ApiKeys>> {
    let mut keys: Vec<String> = Vec::new();
    if let Some(k) = key {
        ApiKeys::new([k]).map_err(|e| anyhow::anyhow!("--api-key: {e}"))?;
        keys.push(k.to_string());
    }
    if let Some(f) = file {
        let text = std::fs::read_to_string(f).map_err(|e| anyhow::anyhow!("--api-key-file {}: {e}", f.display()))?;
        keys.extend(text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(String::from));
        if keys.is_empty() {
            anyhow::bail!("--api-key-file {}: no keys in the file (one per line; `#` starts a comment)", f.display());
        }
    }
    if keys.is_empty() {
        return Ok(None);
    }
    Ok(Some(ApiKeys::new(&keys).map_err(|e| anyhow::anyhow!("--api-key-file: {e}"))?))
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if !(1..=MAX_HTTP_THREADS).contains(&args.http_threads) {
        anyhow::bail!("--http-threads {}: expected 1 to {MAX_HTTP_THREADS}", args.http_threads);
    }
    let opts = ServeOptions {
        max_body_bytes: args.max_body_bytes,
        max_texts: args.max_texts,
        max_chars: args.max_chars,
        max_queue: args.max_queue,
        max_batch_texts: args.max_batch_texts,
        max_batch_chars: args.max_batch_chars,
        timeout: seconds("--timeout", &args.timeout)?,
        header_timeout: seconds("--header-timeout", &args.header_timeout)?,
        max_top_k: args.max_top_k,
        before_inference: None,
        log: Some(std::sync::Arc::new(|m: &str| eprintln!("maskner: {m}"))),
        ui: !args.no_ui,
        api_keys: api_keys(args.api_key.as_deref(), args.api_key_file.as_deref())?,
        max_connections: args.max_connections,
    };
    // before loading models: a bad flag should not cost their load time
    opts.check()?;
    let cfg = args.engine.config(args.config.as_deref())?;
    let engine = Engine::load(&cfg, &Bars::default())?;
    let members = engine.member_names().join(", ");
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(args.http_threads).thread_name("maskner-http").enable_all().build()?;
    rt.block_on(async move {
        let addr = format!("{}:{}", args.host, args.port);
        let listener = tokio::net::TcpListener::bind(&addr).await.map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
        let local = listener.local_addr()?;
        eprintln!("maskner: serving members {members} on http://{local} (Ctrl-C to stop)");
        server::serve(engine, opts, listener, shutdown_signal()).await?;
        eprintln!("maskner: stopped");
        Ok(())
    })
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    eprintln!("maskner: shutting down, finishing requests in flight");
}
