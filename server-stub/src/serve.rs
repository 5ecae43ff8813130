//! Connections: accepted, capped, given their peer address, the TLS handshake and the
//! HTTP/1.1 exchange each on its own task, with timeouts at every step, so that slow or
//! silent clients (slowloris, never-ending bodies, stalled handshakes) hold a bounded
//! number of connections for a bounded time and never the accept loop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_io_timeout::TimeoutStream;

/// The most connections served at once; further ones are closed at once.
pub const MAX_CONNECTIONS: usize = 1_024;
/// A TLS handshake must finish within this.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A request's headers must arrive within this.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(15);
/// A connection on which nothing is read or written for this long is closed (covers an
/// idle kept-alive connection and a stalled body).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Threads for database work. Requests wait for the store's lock anyway; more threads
/// would only hold memory (tokio's default is 512) while a flood queues.
pub const MAX_BLOCKING_THREADS: usize = 16;

/// The address a request came from, in the request's extensions.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// Serves `app` on `listener` (TLS with `tls`) until `shutdown` resolves, then lets the
/// requests under way finish (for up to ten seconds).
pub async fn serve(
    app: Router,
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(%err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!("connection limit reached: closing a new connection");
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let mut stream = TimeoutStream::new(tcp);
        stream.set_read_timeout(Some(IDLE_TIMEOUT));
        stream.set_write_timeout(Some(IDLE_TIMEOUT));
        let app = app.clone();
        let acceptor = acceptor.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _permit = permit;
            let stream = Box::pin(stream);
            match acceptor {
                Some(acceptor) => match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => serve_connection(app, TokioIo::new(tls), peer, watcher).await,
                    Ok(Err(err)) => tracing::debug!(%err, "TLS handshake failed"),
                    Err(_) => tracing::debug!("TLS handshake timed out"),
                },
                None => serve_connection(app, TokioIo::new(stream), peer, watcher).await,
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(10), graceful.shutdown()).await.is_err() {
        tracing::warn!("requests still under way at shutdown were cut off");
    }
    Ok(())
}

async fn serve_connection<I>(
    app: Router,
    io: TokioIo<I>,
    peer: SocketAddr,
    watcher: hyper_util::server::graceful::Watcher,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
        request.extensions_mut().insert(Peer(peer));
        tower::ServiceExt::oneshot(app.clone(), request)
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(io, service);
    if let Err(err) = watcher.watch(connection).await {
        tracing::debug!(%err, "connection ended with an error");
    }
}
