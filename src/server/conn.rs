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

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

/// How long connections may take to send headers, and to finish after shutdown began.
#[derive(Clone)]
pub(crate) struct ConnLimits {
    pub header_timeout: Duration,
    pub drain: Duration,
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
