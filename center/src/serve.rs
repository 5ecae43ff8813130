//! Connections: accepted, capped, given their peer address, the TLS handshake and the
//! HTTP/1.1 exchange each on its own task, with timeouts at every step, so that slow or
//! silent clients (slowloris, never-ending bodies, stalled handshakes) hold a bounded
//! number of connections for a bounded time and never the accept loop.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_io_timeout::TimeoutStream;

/// The most connections served at once; further ones are closed at once.
pub const MAX_CONNECTIONS: usize = 1_024;
/// The most of them one address may hold: one address holding every slot (1,024 slow
/// sockets, no phone needed) would lock every phone of the township out. A carrier's
/// NAT puts many phones behind one address, so the share is a quarter, not a few.
pub const MAX_CONNECTIONS_PER_ADDRESS: usize = MAX_CONNECTIONS / 4;
/// A TLS handshake must finish within this.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A request's headers must arrive within this.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(15);
/// A connection on which nothing is read or written for this long is closed (covers an
/// idle kept-alive connection and a stalled body).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Threads for database work. Requests wait for the store's lock anyway; more threads
/// would only hold memory (tokio's default is 512) while a flood queues.
pub const MAX_BLOCKING_THREADS: usize = crate::storage::MAX_DB_THREADS;

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
    let per_address = Arc::new(PerAddress::default());
    let closed = ClosedLog::default();
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
        let Some(held) = per_address.take(peer.ip()) else {
            closed.note("an address holds its share of connections: closing a new one");
            continue;
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            closed.note("connection limit reached: closing a new connection");
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
            let _permit = (permit, held);
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

/// How many connections each address holds, capped at [`MAX_CONNECTIONS_PER_ADDRESS`].
#[derive(Default)]
struct PerAddress(Mutex<HashMap<IpAddr, usize>>);

/// One connection counted against its address until dropped.
struct Held {
    addresses: Arc<PerAddress>,
    address: IpAddr,
}

impl PerAddress {
    fn take(self: &Arc<Self>, address: IpAddr) -> Option<Held> {
        let mut held = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let count = held.entry(address).or_default();
        if *count >= MAX_CONNECTIONS_PER_ADDRESS {
            return None;
        }
        *count += 1;
        Some(Held { addresses: self.clone(), address })
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut held = self.addresses.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = held.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.address);
            }
        }
    }
}

/// Connections closed for a limit, logged at most once a second with how many were
/// closed since: a flood of them would otherwise write a line each (56,000 a minute).
#[derive(Default)]
struct ClosedLog {
    closed: AtomicU64,
    last: Mutex<Option<Instant>>,
}

impl ClosedLog {
    fn note(&self, why: &'static str) {
        let closed = self.closed.fetch_add(1, Ordering::Relaxed) + 1;
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if last.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) {
            *last = Some(Instant::now());
            self.closed.fetch_sub(closed, Ordering::Relaxed);
            tracing::warn!(closed, "{why}");
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_holds_its_share_and_gets_it_back() {
        let addresses = Arc::new(PerAddress::default());
        let attacker: IpAddr = [127, 0, 0, 2].into();
        let held: Vec<Held> = (0..MAX_CONNECTIONS_PER_ADDRESS).map(|_| addresses.take(attacker).unwrap()).collect();
        assert!(addresses.take(attacker).is_none(), "over its share");
        assert!(addresses.take([127, 0, 0, 1].into()).is_some(), "another address is served");
        drop(held);
        assert!(addresses.take(attacker).is_some(), "closed connections are given back");
        assert_eq!(addresses.0.lock().unwrap().len(), 0, "no address kept once it holds nothing");
    }
}
