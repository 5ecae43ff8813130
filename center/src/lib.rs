//! gridsync-center: the township center. A thin HTTP and storage shell around
//! gridsync-core: the same documents, projections and merge rules as the phones.

pub mod admin;
pub mod app;
pub mod blobs;
pub mod center;
pub mod console;
pub mod demo;
pub mod export;
pub mod http;
pub mod latency;
pub mod limits;
pub mod migrate;
pub mod photos;
pub mod pull;
pub mod push;
pub mod read_model;
pub mod relay;
pub mod serve;
pub mod storage;
pub mod tls;
pub mod workers;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

pub use center::Center;

/// A center serving on a loopback port in a background thread (tests, the demo).
/// Dropping it shuts the server down.
#[derive(Debug)]
pub struct RunningCenter {
    pub addr: SocketAddr,
    pub center: http::Shared,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RunningCenter {
    /// Opens the center at `db` and serves plain HTTP on loopback address `listen`
    /// (port 0 picks a free port).
    pub fn start(db: &Path, listen: &str) -> Result<Self, String> {
        Self::start_with(db, listen, None, limits::Rates::default())
    }

    /// Like [`RunningCenter::start`], serving TLS with `tls` when given, with `rates`.
    pub fn start_with(
        db: &Path,
        listen: &str,
        tls: Option<Arc<rustls::ServerConfig>>,
        rates: limits::Rates,
    ) -> Result<Self, String> {
        Self::serve(Center::open(db)?, listen, tls, rates)
    }

    /// Serves `center` (on any storage) like [`RunningCenter::start_with`].
    pub fn serve(
        center: Center,
        listen: &str,
        tls: Option<Arc<rustls::ServerConfig>>,
        rates: limits::Rates,
    ) -> Result<Self, String> {
        let center = Arc::new(center);
        let std_listener =
            std::net::TcpListener::bind(listen).map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        std_listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        let addr = std_listener.local_addr().map_err(|e| e.to_string())?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let shared = center.clone();
        let thread = std::thread::Builder::new()
            .name("gridsync-center".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .max_blocking_threads(serve::MAX_BLOCKING_THREADS)
                    .enable_all()
                    .build()
                    .expect("a tokio runtime");
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(std_listener).expect("a tokio listener");
                    if let Err(err) = http::serve_on(shared, listener, tls, rates, async move {
                        let _ = rx.await;
                    })
                    .await
                    {
                        tracing::error!(%err, "center stopped");
                    }
                });
            })
            .map_err(|e| e.to_string())?;
        Ok(Self { addr, center, shutdown: Some(tx), thread: Some(thread) })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address as an https URL (for a center started with TLS).
    pub fn https_url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// Runs `f` with the center (administration in tests and the demo).
    pub fn with<R>(&self, f: impl FnOnce(&Center) -> R) -> R {
        f(&self.center)
    }
}

impl Drop for RunningCenter {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
