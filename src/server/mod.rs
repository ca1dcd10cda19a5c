//! `maskner serve`: the engine over HTTP (axum on tokio), models and maps loaded once.
//!
//! Routes (see `docs/server.md` for the full request and response shapes):
//!
//! * `POST /v1/ner` — `{"text": ...}` or `{"texts": [...]}` (strings, or objects
//!   `{"text", "spans": [[start, end], ..], "id"}` with character offsets), optional
//!   `"format": "json" | "hf" | "conll" | "displacy"`, `"explain"`, `"mode"`; the records of
//!   `maskner tag`.
//! * `POST /v1/fill-mask` — `{"text"|"texts", "top_k"}`; the records of
//!   `maskner fill-mask --json`, on the engine's first masked-LM member.
//! * `GET /health`, `GET /v1/info`.
//! * `GET /<anything>/<url-encoded sentence>` — the reference ensemble server's interface and
//!   JSON (ALGORITHM.md §8.4, §10), so its clients can switch.
//!
//! The async runtime only moves requests: every text goes through a bounded queue to one
//! inference thread that groups pending texts of all requests and calls the engine once per
//! group (see `src/server/worker.rs`). Every limit answers with a JSON `{"error": "..."}` and a
//! status code (413 body, 415 a body that is not JSON, 422 texts/characters/top_k, 429 queue
//! full, 503 timeout or stopped worker, 408 a body that does not arrive in time, 400 malformed
//! JSON or invalid UTF-8, 500 a panic in inference). Headers that do not arrive within the
//! header timeout close the connection (`src/server/conn.rs`). Nothing on a request path
//! unwraps: handlers run as their own tasks, so even a bug answers 500 instead of dropping the
//! connection, and the inference thread catches engine panics.

mod auth;
mod conn;
mod worker;

pub use auth::{ApiKeys, MIN_KEY_CHARS};
pub use worker::InferenceHook;

/// Receives the server's operational notes (a connection that would not close at shutdown,
/// a failing accept), one line each; the library itself never writes to the terminal.
pub type LogHook = Arc<dyn Fn(&str) + Send + Sync>;

use crate::compat::Numerics;
use crate::engine::{Engine, FillRequest, MemberKind, PhraseMode, TagRequest, TagResult};
use crate::error::{Error, ErrorKind};
use crate::output::{self, Format};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};
use std::future::Future;
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::{Duration, Instant};
use worker::{BatchLimits, Item, Outcome, PushError, Queue, Work};

/// Server limits and batching. Every field has a `maskner serve` flag; the defaults are
/// [`ServeOptions::default`].
#[derive(Clone)]
pub struct ServeOptions {
    /// Largest request body in bytes (413 above). Default 1 MiB.
    pub max_body_bytes: usize,
    /// Most texts in one request (422 above). Default 64.
    pub max_texts: usize,
    /// Most characters (Unicode scalar values) in one text (422 above). Default 10 000.
    pub max_chars: usize,
    /// Most texts waiting for inference over all requests; a request whose texts do not all
    /// fit is refused whole with 429. Bounds memory: at most `max_queue * max_chars`
    /// characters wait. Default 1024.
    pub max_queue: usize,
    /// Most texts the inference thread gives the engine at once (1 = one at a time, no
    /// cross-request batching). Default 32.
    pub max_batch_texts: usize,
    /// Token budget of one engine call, approximated by characters (about four per word
    /// piece): texts join a group while its characters stay within this (a longer single text
    /// runs alone). Default 4096.
    pub max_batch_chars: usize,
    /// Longest a request may take, from its headers to its results: reading the body (408
    /// after), queueing and inference (503 after). Within [`TIMEOUT_RANGE`]. Default 60 s.
    pub timeout: Duration,
    /// Longest a client may take to send a request's headers once its connection is ready for
    /// them (accepted, or the previous answer written); the connection is closed after, so
    /// neither a half-sent request nor an idle keep-alive connection is held longer, nor delays
    /// shutdown. Within [`TIMEOUT_RANGE`]. Default 10 s.
    pub header_timeout: Duration,
    /// Largest `top_k` of `/v1/fill-mask` (422 above). Default 100.
    pub max_top_k: usize,
    /// Runs on the inference thread before each engine call (tests simulate slow or crashing
    /// models with it). Default none.
    pub before_inference: Option<InferenceHook>,
    /// Where operational notes go (`maskner serve`: stderr). Default none.
    pub log: Option<LogHook>,
    /// Answer `GET /` with the demo page ([`crate::view::demo_page`]). Default on.
    pub ui: bool,
    /// Keys required as `Authorization: Bearer <key>` on every route but `GET /health` and the
    /// demo page (401 without). Default none: no key needed.
    pub api_keys: Option<ApiKeys>,
    /// Most connections open at once; one more is answered 503 and closed at once, so a flood
    /// of connections cannot exhaust file descriptors or memory. Default 256.
    pub max_connections: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            max_body_bytes: 1 << 20,
            max_texts: 64,
            max_chars: 10_000,
            max_queue: 1024,
            max_batch_texts: 32,
            max_batch_chars: 4096,
            timeout: Duration::from_secs(60),
            header_timeout: Duration::from_secs(10),
            max_top_k: 100,
            before_inference: None,
            log: None,
            ui: true,
            api_keys: None,
            max_connections: 256,
        }
    }
}

impl std::fmt::Debug for ServeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeOptions")
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_texts", &self.max_texts)
            .field("max_chars", &self.max_chars)
            .field("max_queue", &self.max_queue)
            .field("max_batch_texts", &self.max_batch_texts)
            .field("max_batch_chars", &self.max_batch_chars)
            .field("timeout", &self.timeout)
            .field("header_timeout", &self.header_timeout)
            .field("max_top_k", &self.max_top_k)
            .field("before_inference", &self.before_inference.is_some())
            .field("log", &self.log.is_some())
            .field("ui", &self.ui)
            .field("api_keys", &self.api_keys)
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

/// Allowed `timeout` and `header_timeout`: from a millisecond to a day. A longer timeout is no
/// timeout in practice, and bounding it keeps every deadline computable.
pub const TIMEOUT_RANGE: RangeInclusive<Duration> = Duration::from_millis(1)..=Duration::from_secs(86_400);

/// Extra time, after the longest a request may take, that shutdown waits for answers to be
/// written before it drops the connections still open.
const DRAIN_MARGIN: Duration = Duration::from_secs(1);

/// `TIMEOUT_RANGE` in words, for error messages.
pub fn timeout_range_text() -> String {
    format!("a number of seconds from {} to {}", TIMEOUT_RANGE.start().as_secs_f64(), TIMEOUT_RANGE.end().as_secs_f64())
}

impl ServeOptions {
    /// Checks that the options can be served. The messages name the `maskner serve` flag of
    /// each field.
    pub fn check(&self) -> anyhow::Result<()> {
        let positive = [
            ("--max-body-bytes", self.max_body_bytes),
            ("--max-texts", self.max_texts),
            ("--max-chars", self.max_chars),
            ("--max-queue", self.max_queue),
            ("--max-batch-texts", self.max_batch_texts),
            ("--max-batch-chars", self.max_batch_chars),
            ("--max-top-k", self.max_top_k),
            ("--max-connections", self.max_connections),
        ];
        for (flag, v) in positive {
            if v == 0 {
                anyhow::bail!("{flag} 0: must be at least 1");
            }
        }
        if self.max_texts > self.max_queue {
            anyhow::bail!(
                "--max-texts {} is larger than --max-queue {}: such requests could never be queued; raise --max-queue or lower --max-texts",
                self.max_texts,
                self.max_queue
            );
        }
        for (flag, d) in [("--timeout", self.timeout), ("--header-timeout", self.header_timeout)] {
            if !TIMEOUT_RANGE.contains(&d) {
                anyhow::bail!("{flag} {} s: expected {}", d.as_secs_f64(), timeout_range_text());
            }
        }
        Ok(())
    }

    /// How long shutdown waits for open connections: a connection that was sending headers
    /// when it began gets its header timeout, then its request the request timeout.
    fn drain(&self) -> Duration {
        self.header_timeout.saturating_add(self.timeout).saturating_add(DRAIN_MARGIN)
    }

    fn limits_json(&self) -> Value {
        json!({
            "max_body_bytes": self.max_body_bytes,
            "max_texts": self.max_texts,
            "max_chars": self.max_chars,
            "max_queue": self.max_queue,
            "max_batch_texts": self.max_batch_texts,
            "max_batch_chars": self.max_batch_chars,
            "timeout_secs": self.timeout.as_secs_f64(),
            "header_timeout_secs": self.header_timeout.as_secs_f64(),
            "max_top_k": self.max_top_k,
            "max_connections": self.max_connections,
        })
    }
}

/// What the handlers share. The engine itself lives on the inference thread.
struct AppState {
    queue: Arc<Queue>,
    opts: ServeOptions,
    names: Vec<String>,
    numerics: Numerics,
    info: Value,
    has_mlm: bool,
    /// The ensemble is one token classifier, which finds its own phrases per sentence.
    lone_classifier: bool,
}

impl AppState {
    fn names(&self) -> Vec<&str> {
        self.names.iter().map(String::as_str).collect()
    }
}

/// Serves `engine` on `listener` until `shutdown` completes, then stops accepting connections,
/// lets in-flight requests finish (their texts are still answered by the inference thread),
/// closes idle connections and those still sending headers (after their header timeout), stops
/// the inference thread and returns.
pub async fn serve<F>(engine: Engine, options: ServeOptions, listener: tokio::net::TcpListener, shutdown: F) -> anyhow::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    options.check()?;
    let typed = engine.info();
    let lone_classifier = matches!(typed.members.as_slice(), [m] if m.kind == MemberKind::TokenClassifier);
    let mut info = serde_json::to_value(&typed)?;
    if let Some(obj) = info.as_object_mut() {
        obj.insert("limits".into(), options.limits_json());
        obj.insert("version".into(), json!(env!("CARGO_PKG_VERSION")));
    }
    let queue = Arc::new(Queue::new(options.max_queue));
    let state = Arc::new(AppState {
        queue: queue.clone(),
        names: engine.member_names().iter().map(|s| s.to_string()).collect(),
        numerics: engine.numerics(),
        has_mlm: engine.can_fill_mask(),
        lone_classifier,
        info,
        opts: options.clone(),
    });
    let limits = BatchLimits { max_texts: options.max_batch_texts, max_chars: options.max_batch_chars };
    let handle = worker::spawn(engine, queue.clone(), limits, options.before_inference.clone())?;
    let app = router(state);
    let limits = conn::ConnLimits {
        header_timeout: options.header_timeout,
        drain: options.drain(),
        max_connections: options.max_connections,
        log: options.log.clone(),
    };
    conn::serve_connections(listener, app, limits, shutdown).await;
    // every connection is closed: no request waits any more
    queue.close();
    let joined = tokio::task::spawn_blocking(move || handle.join()).await;
    match joined {
        Ok(Ok(())) => Ok(()),
        _ => anyhow::bail!("the inference thread ended abnormally"),
    }
}

fn router(state: Arc<AppState>) -> Router {
    let api = Router::new()
        .route("/v1/info", get(info))
        .route("/v1/ner", post(ner))
        .route("/v1/fill-mask", post(fill_mask))
        .route("/{name}/{*sentence}", get(compat))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), require_key));
    let open = if state.opts.ui { Router::new().route("/", get(demo)) } else { Router::new() };
    open.route("/health", get(health)).merge(api).fallback(not_found).method_not_allowed_fallback(method_not_allowed).with_state(state)
}

/// An error answer: `{"error": message}` with a status code.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, axum::Json(json!({"error": self.message}))).into_response();
        if matches!(self.status, StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE) {
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        r
    }
}

/// Aborts a handler task when its connection's future is dropped (client gone), so that its
/// queued texts are released and skipped by the worker.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs a handler body as its own task so that a panic in it (a bug: nothing on the request
/// path unwraps) answers 500 instead of dropping the connection.
async fn guarded<Fut>(fut: Fut) -> Response
where
    Fut: Future<Output = Result<Response, ApiError>> + Send + 'static,
{
    let task = tokio::spawn(fut);
    let _abort = AbortOnDrop(task.abort_handle());
    match task.await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => e.into_response(),
        Err(e) => {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("internal error: the request handler failed ({e})")).into_response()
        }
    }
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "no route for {}; routes: GET / (demo page), POST /v1/ner, POST /v1/fill-mask, GET /health, GET /v1/info, GET /<any>/<url-encoded sentence>",
            uri.path()
        ),
    )
}

async fn method_not_allowed(method: axum::http::Method, uri: Uri) -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, format!("{method} is not allowed on {}", uri.path()))
}

/// Lets a request through when the server needs no key or it carries one of the keys; 401 with
/// a JSON error and `WWW-Authenticate: Bearer` otherwise.
async fn require_key(State(st): State<Arc<AppState>>, request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let Some(keys) = &st.opts.api_keys else {
        return next.run(request).await;
    };
    match auth::check(keys, request.headers().get(header::AUTHORIZATION).map(HeaderValue::as_bytes)) {
        Ok(()) => next.run(request).await,
        Err(refusal) => {
            let mut r = ApiError::new(StatusCode::UNAUTHORIZED, refusal.message()).into_response();
            let challenge = if refusal == auth::Refusal::Invalid {
                "Bearer realm=\"maskner\", error=\"invalid_token\""
            } else {
                "Bearer realm=\"maskner\""
            };
            r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
            r
        }
    }
}

/// The demo page: self-contained (no external assets), it loads without an API key and asks the
/// server for everything else.
async fn demo() -> Response {
    static PAGE: std::sync::LazyLock<String> = std::sync::LazyLock::new(crate::view::demo_page);
    let mut r = axum::response::Html(PAGE.as_str()).into_response();
    r.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    r.headers_mut().insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}

async fn health(State(st): State<Arc<AppState>>) -> Response {
    use std::sync::atomic::Ordering::Relaxed;
    axum::Json(json!({
        "status": "ok",
        "queue": st.queue.len(),
        "batches": st.queue.batches.load(Relaxed),
        "texts": st.queue.texts.load(Relaxed),
    }))
    .into_response()
}

async fn info(State(st): State<Arc<AppState>>) -> Response {
    axum::Json(st.info.clone()).into_response()
}

/// Is the reason a body could not be read the size limit?
fn is_length_limit(e: &axum::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if c.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = c.source();
    }
    false
}

/// When a request started at `started` must be answered. `ServeOptions::check` bounds the
/// timeout, so the sum exists; it is still checked rather than trusted.
fn deadline(started: Instant, timeout: Duration) -> Result<tokio::time::Instant, ApiError> {
    started.checked_add(timeout).map(tokio::time::Instant::from_std).ok_or_else(|| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("internal error: a timeout of {} s cannot be scheduled", timeout.as_secs_f64()),
        )
    })
}

/// The request's body must be JSON: `application/json`, with an optional `charset=utf-8`, or no
/// Content-Type at all (minimal clients). Anything else (a form, which `curl -d` sends by
/// default, or plain text) is refused with 415 rather than parsed on a guess.
fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let text = String::from_utf8_lossy(value.as_bytes());
    let mut parts = text.split(';').map(str::trim);
    let is_json = parts.next().is_some_and(|media| media.eq_ignore_ascii_case("application/json"));
    let utf8 = parts.all(|p| match p.split_once('=') {
        Some((name, v)) if name.trim().eq_ignore_ascii_case("charset") => v.trim().trim_matches('"').eq_ignore_ascii_case("utf-8"),
        _ => true,
    });
    if is_json && utf8 {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        format!(
            "unsupported Content-Type \"{text}\": the body must be UTF-8 JSON sent as application/json (curl: -H 'Content-Type: application/json')"
        ),
    ))
}

/// Reads the body by the request's deadline (a client that sends slowly cannot hold the
/// connection longer: 408) within the size limit (413, checked as bytes arrive, so an oversized
/// body is never buffered whole).
async fn read_body(body: Body, st: &AppState, deadline: tokio::time::Instant) -> Result<Bytes, ApiError> {
    let limit = st.opts.max_body_bytes;
    match tokio::time::timeout_at(deadline, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(b)) => Ok(b),
        Ok(Err(e)) if is_length_limit(&e) => {
            Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("request body larger than the limit of {limit} bytes")))
        }
        Ok(Err(e)) => Err(ApiError::bad_request(format!("cannot read the request body: {e}"))),
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!("the request body did not arrive within {:.1} s", st.opts.timeout.as_secs_f64()),
        )),
    }
}

/// The body as a JSON object: 400 for invalid UTF-8, malformed JSON or a non-object, with the
/// position of the problem.
pub(crate) fn json_body(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| ApiError::bad_request(format!("request body is not valid UTF-8 (invalid byte at offset {})", e.valid_up_to())))?;
    let v: Value = serde_json::from_str(text).map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?;
    match v {
        Value::Object(m) => Ok(m),
        _ => Err(ApiError::bad_request("the request body must be a JSON object")),
    }
}

/// Refuses fields other than `allowed` (a misspelt option should not be silently ignored).
pub(crate) fn check_fields(obj: &Map<String, Value>, allowed: &[&str]) -> Result<(), ApiError> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        // quoted as a JSON-ish string literal: a field name may hold a newline or a quote
        Some(k) => Err(ApiError::bad_request(format!("unknown field {k:?} (fields: {})", allowed.join(", ")))),
        None => Ok(()),
    }
}

/// One input text of a request.
pub(crate) struct Entry {
    pub(crate) id: Value,
    pub(crate) text: String,
    /// Character spans (`[[start, end], ..]`), unchecked.
    pub(crate) spans: Option<Value>,
}

/// `text` or `texts` of a request: the entries and whether a single `text` was given. Checks
/// the count and length limits (422).
pub(crate) fn entries(obj: &Map<String, Value>, opts: &ServeOptions, objects: bool) -> Result<(Vec<Entry>, bool), ApiError> {
    let (list, single): (Vec<&Value>, bool) = match (obj.get("text"), obj.get("texts")) {
        (Some(_), Some(_)) => return Err(ApiError::bad_request("give either \"text\" or \"texts\", not both")),
        (Some(t), None) => (vec![t], true),
        (None, Some(Value::Array(a))) => (a.iter().collect(), false),
        (None, Some(_)) => return Err(ApiError::bad_request("\"texts\" must be a list")),
        (None, None) => return Err(ApiError::bad_request("missing \"text\" (one string) or \"texts\" (a list)")),
    };
    if list.len() > opts.max_texts {
        return Err(ApiError::unprocessable(format!("{} texts, more than the limit of {} per request", list.len(), opts.max_texts)));
    }
    let mut out = Vec::with_capacity(list.len());
    for (i, v) in list.into_iter().enumerate() {
        let at = if single { "\"text\"".to_string() } else { format!("texts[{i}]") };
        let id = Value::from(i + 1);
        let entry = match v {
            Value::String(s) => Entry { id, text: s.clone(), spans: None },
            Value::Object(m) if objects => {
                if let Some(k) = m.keys().find(|k| !["text", "spans", "id"].contains(&k.as_str())) {
                    return Err(ApiError::bad_request(format!("{at}: unknown field {k:?} (fields: text, spans, id)")));
                }
                let text = m
                    .get("text")
                    .and_then(Value::as_str)
                    .ok_or_else(|| ApiError::bad_request(format!("{at}: an object needs a string field \"text\"")))?;
                Entry { id: m.get("id").cloned().unwrap_or(id), text: text.to_string(), spans: m.get("spans").cloned() }
            }
            _ if objects => return Err(ApiError::bad_request(format!("{at}: expected a string or an object {{\"text\", \"spans\"}}"))),
            _ => return Err(ApiError::bad_request(format!("{at}: expected a string"))),
        };
        let n = entry.text.chars().count();
        if n > opts.max_chars {
            return Err(ApiError::unprocessable(format!("{at}: {n} characters, more than the limit of {} per text", opts.max_chars)));
        }
        out.push(entry);
    }
    Ok((out, single))
}

/// An entry's request; `spans` (character offsets) select explicit-span mode, like JSONL input
/// of `maskner tag`. Bad spans fail this text alone.
async fn run(st: &AppState, works: Vec<Work>, deadline: tokio::time::Instant) -> Result<Vec<Outcome>, ApiError> {
    if works.is_empty() {
        return Ok(Vec::new());
    }
    let n = works.len();
    let (items, receivers): (Vec<Item>, Vec<_>) = works.into_iter().map(Item::new).unzip();
    st.queue.push_all(items).map_err(|e| match e {
        PushError::Full(queued, cap) => ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("the queue is full ({queued} of {cap} texts waiting; this request has {n}); retry later"),
        ),
        PushError::Closed => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the server is shutting down"),
    })?;
    let all = async {
        let mut out = Vec::with_capacity(receivers.len());
        for rx in receivers {
            out.push(rx.await?);
        }
        Ok::<_, tokio::sync::oneshot::error::RecvError>(out)
    };
    // On timeout the receivers are dropped, so the worker skips texts it has not started.
    match tokio::time::timeout_at(deadline, all).await {
        Ok(Ok(out)) => {
            // an input the engine refused is a record of the answer; a model or map that fails
            // (or a panic) is the server's fault: the request answers 500
            if let Some(e) = out.iter().filter_map(Outcome::error).find(|e| matches!(e.kind(), ErrorKind::Internal | ErrorKind::Files)) {
                return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()));
            }
            Ok(out)
        }
        Ok(Err(_)) => Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the inference worker stopped")),
        Err(_) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "timed out after {:.1} s waiting for inference (server overloaded or texts too long); retry later",
                st.opts.timeout.as_secs_f64()
            ),
        )),
    }
}

async fn ner(State(st): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    guarded(async move { ner_inner(&st, &headers, body).await }).await
}

/// The JSON object of a `POST` request, with no fields but `fields`, and the request's deadline,
/// by which its body has been read and its results must be ready.
async fn json_request(
    st: &AppState,
    headers: &HeaderMap,
    body: Body,
    fields: &[&str],
) -> Result<(Map<String, Value>, tokio::time::Instant), ApiError> {
    let deadline = deadline(Instant::now(), st.opts.timeout)?;
    check_content_type(headers)?;
    let obj = json_body(&read_body(body, st, deadline).await?)?;
    check_fields(&obj, fields)?;
    Ok((obj, deadline))
}

async fn ner_inner(st: &AppState, headers: &HeaderMap, body: Body) -> Result<Response, ApiError> {
    let (obj, deadline) = json_request(st, headers, body, &["text", "texts", "format", "explain", "mode"]).await?;
    let format = match obj.get("format").map(|f| f.as_str()) {
        None | Some(Some("json" | "jsonl")) => Format::Json,
        Some(Some("hf")) => Format::Hf,
        Some(Some("conll")) => Format::Conll,
        Some(Some("displacy")) => Format::Displacy,
        _ => return Err(ApiError::bad_request("\"format\" must be \"json\", \"hf\", \"conll\" or \"displacy\"")),
    };
    let explain = match obj.get("explain") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ApiError::bad_request("\"explain\" must be true or false")),
    };
    let mode = match obj.get("mode").map(|m| m.as_str().map(PhraseMode::from_name)) {
        None => PhraseMode::Detect,
        Some(Some(Ok(m))) => m,
        _ => return Err(ApiError::bad_request("\"mode\" must be \"detect\", \"markers\" or \"auto\"")),
    };
    let (entries, single) = entries(&obj, &st.opts, true)?;
    let requests: Vec<Result<TagRequest, Error>> =
        entries.iter().map(|e| TagRequest::from_record(&e.text, e.spans.as_ref(), &mode)).collect();
    let works: Vec<Work> = requests.iter().filter_map(|r| r.as_ref().ok().cloned().map(Work::Tag)).collect();
    let mut outcomes = run(st, works, deadline).await?.into_iter();
    let names = st.names();
    let mut records = Vec::with_capacity(entries.len());
    let mut first_error = None;
    for (e, req) in entries.iter().zip(requests) {
        let res: Result<TagResult, Error> = match req {
            Err(e) => Err(e),
            Ok(_) => match outcomes.next() {
                Some(Outcome::Tag(r)) => r,
                _ => Err(Error::internal("internal error: no result")),
            },
        };
        let v = match &res {
            Err(err) => {
                let msg = err.to_string();
                let v = output::error_json(&e.id, &msg);
                first_error.get_or_insert(msg);
                v
            }
            Ok(r) => output::render(format, &e.id, r, &names, st.numerics, explain),
        };
        records.push(v);
    }
    if single {
        let v = records.pop().unwrap_or(Value::Null);
        // a single text that fails is the request's failure
        let status = if first_error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
        return Ok((status, axum::Json(v)).into_response());
    }
    Ok(axum::Json(Value::Array(records)).into_response())
}

async fn fill_mask(State(st): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    guarded(async move { fill_mask_inner(&st, &headers, body).await }).await
}

async fn fill_mask_inner(st: &AppState, headers: &HeaderMap, body: Body) -> Result<Response, ApiError> {
    let (obj, deadline) = json_request(st, headers, body, &["text", "texts", "top_k"]).await?;
    if !st.has_mlm {
        return Err(ApiError::new(StatusCode::NOT_IMPLEMENTED, "the engine has no masked-LM member for fill-mask"));
    }
    let top_k = match obj.get("top_k") {
        None => 10,
        Some(v) => match v.as_u64() {
            Some(k) if k >= 1 && k <= st.opts.max_top_k as u64 => k as usize,
            _ => return Err(ApiError::unprocessable(format!("\"top_k\" must be a whole number from 1 to {}", st.opts.max_top_k))),
        },
    };
    let (entries, single) = entries(&obj, &st.opts, false)?;
    let texts: Vec<String> = entries.iter().map(|e| e.text.clone()).collect();
    let works = entries.into_iter().map(|e| Work::Fill(FillRequest { text: e.text, top_k })).collect();
    let mut records: Vec<Value> = Vec::new();
    let mut failed = false;
    for (o, text) in run(st, works, deadline).await?.into_iter().zip(&texts) {
        let record = match o {
            Outcome::Fill(Ok(r)) => serde_json::to_value(&r).map_err(|e| e.to_string()),
            Outcome::Fill(Err(e)) => Err(e.to_string()),
            Outcome::Tag(_) => Err("internal error: no result".to_string()),
        };
        records.push(record.unwrap_or_else(|e| {
            failed = true;
            json!({"text": text, "error": e})
        }));
    }
    if single {
        let status = if failed { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
        return Ok((status, axum::Json(records.pop().unwrap_or(Value::Null))).into_response());
    }
    Ok(axum::Json(Value::Array(records)).into_response())
}

/// Decodes `%XX` escapes (a `%` not followed by two hex digits stays as is; `+` stays `+`, as
/// in a path).
fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (b.get(i + 1).and_then(|&c| hex(c)), b.get(i + 2).and_then(|&c| hex(c)))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

async fn compat(State(st): State<Arc<AppState>>, uri: Uri) -> Response {
    guarded(async move { compat_inner(&st, uri).await }).await
}

/// The reference ensemble's `GET /<any>/<sentence>`: the first path segment is ignored, the rest
/// (with a query string, which an unencoded `?` in the sentence starts) is the sentence. The
/// whole input is one sentence, as in the reference: marker mode if it has markers, else the
/// automatic phrases of the whole text. Answers the ensemble JSON indented by 5 like the
/// reference.
async fn compat_inner(st: &AppState, uri: Uri) -> Result<Response, ApiError> {
    let started = Instant::now();
    let deadline = deadline(started, st.opts.timeout)?;
    let path = uri.path().strip_prefix('/').unwrap_or(uri.path());
    let rest = path.split_once('/').map(|(_, r)| r).unwrap_or("");
    let raw = match uri.query() {
        Some(q) => format!("{rest}?{q}"),
        None => rest.to_string(),
    };
    let sentence = String::from_utf8(percent_decode(&raw)).map_err(|e| {
        ApiError::bad_request(format!(
            "the sentence is not valid UTF-8 after URL decoding (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ))
    })?;
    if sentence.trim().is_empty() {
        return Err(ApiError::bad_request("empty sentence: GET /<any>/<url-encoded sentence>"));
    }
    let n = sentence.chars().count();
    if n > st.opts.max_chars {
        return Err(ApiError::unprocessable(format!("the sentence has {n} characters, more than the limit of {}", st.opts.max_chars)));
    }
    let mode = if crate::text::has_markers(&sentence) || st.lone_classifier {
        PhraseMode::Detect
    } else {
        let s = crate::text::select_phrases(&sentence);
        PhraseMode::Spans(s.phrases.iter().filter_map(|p| p.byte_range(&s.words)).collect())
    };
    let outcome = run(st, vec![Work::Tag(TagRequest::new(sentence, mode))], deadline).await?.pop();
    let elapsed = started.elapsed().as_secs_f64();
    match outcome {
        Some(Outcome::Tag(Ok(r))) => {
            let v = output::reference_json(&r, st.numerics, elapsed);
            let mut buf = Vec::new();
            let fmt = serde_json::ser::PrettyFormatter::with_indent(b"     ");
            let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
            serde::Serialize::serialize(&v, &mut ser).map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
            Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], buf).into_response())
        }
        Some(Outcome::Tag(Err(e))) => {
            let stats = json!({"Ensemble server count": st.names.len().to_string(), "Elapsed time": format!("{elapsed:.1} secs"), "return_status": "Failed"});
            Ok((StatusCode::UNPROCESSABLE_ENTITY, axum::Json(json!({"error": e.to_string(), "stats": stats}))).into_response())
        }
        _ => Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error: no result")),
    }
}
