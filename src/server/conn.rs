//! Connections: the accept loop, the header read timeout and the graceful drain, on hyper's
//! HTTP/1 connection directly, because `axum::serve` has no header timeout: a client that sent
//! part of its headers held its connection, and a graceful shutdown, for as long as it liked.
//!
//! * Every connection gets `header_timeout` to send a request's headers, counted from when it
//!   is ready for them (accepted, or its previous answer written); it is then closed without an
//!   answer. This also closes idle keep-alive connections after `header_timeout`.
//! * On shutdown the listener is closed at once and every connection is told to finish: an idle
//!   keep-alive connection closes immediately, a request being read or run is answered (with
//!   `Connection: close`), a connection still sending headers is closed by its header timeout.
//! * A connection that is still open `drain` after the shutdown began (a client that does not
//!   read its answer) is dropped, so shutdown always ends.
//! * At most `max_connections` are served at once. One more is answered
//!   `503 Service Unavailable` with a JSON error and `Retry-After`, written straight to the
//!   socket without reading its request, and closed: a flood of connections costs a few bytes
//!   each, not a task, buffers and a file descriptor for as long as the client likes.

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// How long connections may take to send headers, and to finish after shutdown began.
#[derive(Clone)]
pub(crate) struct ConnLimits {
    pub header_timeout: Duration,
    pub drain: Duration,
    /// Most connections served at once.
    pub max_connections: usize,
    /// Where operational notes go (the front end decides: stderr, a log, nowhere).
    pub log: Option<super::LogHook>,
}

impl ConnLimits {
    fn note(&self, message: &str) {
        if let Some(log) = &self.log {
            log(message);
        }
    }
}

/// Serves `app` on the connections of `listener` until `shutdown` completes, then drains them
/// (see the module documentation) and returns once every connection is closed.
pub(crate) async fn serve_connections<F>(listener: TcpListener, app: Router, limits: ConnLimits, shutdown: F)
where
    F: Future<Output = ()>,
{
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
    let graceful = GracefulShutdown::new();
    let mut conns = JoinSet::new();
    let mut refusals = JoinSet::new();
    let mut refused_since_note = 0usize;
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(e) => {
                    accept_failed(e, &limits).await;
                    continue;
                }
            },
        };
        // forget connections that have ended
        while conns.try_join_next().is_some() {}
        while refusals.try_join_next().is_some() {}
        if conns.len() >= limits.max_connections {
            if refused_since_note == 0 {
                limits.note(&format!("{} connections open, the limit: refusing new ones with 503", limits.max_connections));
            }
            refused_since_note += 1;
            // refusals are bounded too: past as many again, a connection is just closed
            if refusals.len() < limits.max_connections {
                refusals.spawn(refuse(stream, limits.max_connections));
            }
            continue;
        }
        if refused_since_note > 0 && conns.len() < limits.max_connections / 2 {
            limits.note(&format!("{refused_since_note} connection(s) refused while at the limit; accepting again"));
            refused_since_note = 0;
        }
        let conn = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        // a connection's error (client gone, header timeout) concerns that client only
        conns.spawn(graceful.watch(conn));
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.drain) => {
            while conns.try_join_next().is_some() {}
            limits.note(&format!("{} connection(s) still open {:.1} s after shutdown began; closing them", conns.len(), limits.drain.as_secs_f64()));
            conns.abort_all();
        }
    }
    while conns.join_next().await.is_some() {}
    refusals.abort_all();
}

/// How long a refused connection may take to take its answer.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(1);

/// Answers a connection over the limit with 503 and closes it. After the answer, whatever the
/// client sent is read and dropped (for at most [`REFUSAL_TIMEOUT`]) before closing: closing
/// a socket with unread data resets it, and the client could lose the answer.
async fn refuse(mut stream: TcpStream, limit: usize) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = serde_json::json!({ "error": format!("too many connections: the server's limit of {limit} is reached; retry shortly") })
        .to_string();
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(REFUSAL_TIMEOUT, async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        let mut left: usize = 1 << 20;
        while left > 0 {
            match stream.read(&mut sink).await? {
                0 => break,
                n => left = left.saturating_sub(n),
            }
        }
        std::io::Result::Ok(())
    })
    .await;
}

/// A failed accept. A connection reset before it was accepted is the client's business; other
/// errors (such as running out of file descriptors) would fail again at once, so the loop waits
/// a second before accepting again rather than spinning.
async fn accept_failed(e: std::io::Error, limits: &ConnLimits) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(e.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        return;
    }
    limits.note(&format!("accepting a connection failed: {e}; retrying in 1 s"));
    tokio::time::sleep(Duration::from_secs(1)).await;
}
