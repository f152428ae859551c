//! The HTTP server: accepts connections and runs each with limits that a
//! slow or hostile client cannot stretch.
//!
//! - **Connections:** at most [`Limits::max_connections`] at once; one over
//!   the limit is closed at once, so it cannot hold a file descriptor.
//! - **Headers:** a request's headers must arrive within
//!   [`Limits::header_read`]. The clock also runs while a kept-alive
//!   connection waits for its next request, so an idle connection closes
//!   after the same time (hyper's `header_read_timeout`).
//! - **Requests:** a request that takes longer than [`Limits::request`]
//!   gets `503 Service Unavailable`, and its handler is dropped.
//!
//! On shutdown no connection is accepted any more; requests in flight
//! finish (for at most [`Limits::request`]), then idle connections close.

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt as _;

/// What a connection may take.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub header_read: Duration,
    pub request: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_connections: 1024, header_read: Duration::from_secs(10), request: Duration::from_secs(60) }
    }
}

/// Serves `app` on `listener` with `limits` until `shutdown` resolves.
pub async fn run(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors, or a connection reset before it
                // was accepted: wait a moment rather than spin.
                tracing::warn!(error = %e, "could not accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            tracing::warn!(%peer, limit = limits.max_connections, "too many connections: closing a new one");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let mut request = request.map(axum::body::Body::new);
            request.extensions_mut().insert(ConnectInfo(peer));
            let app = app.clone();
            async move {
                match tokio::time::timeout(limits.request, app.oneshot(request)).await {
                    Ok(response) => response,
                    Err(_) => {
                        tracing::warn!(%peer, "a request took too long: answered 503");
                        Ok((StatusCode::SERVICE_UNAVAILABLE, "The request took too long. Try again.").into_response())
                    }
                }
            }
        });
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new()).header_read_timeout(limits.header_read).keep_alive(true);
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.request, graceful.shutdown()).await.is_err() {
        tracing::warn!("requests still running at shutdown were cut off");
    }
    Ok(())
}
