//! A TCP relay on loopback that counts every byte crossing it, each way: the demo's and
//! the benchmark's byte figures are measured on the socket (HTTP headers, and TLS
//! records when TLS is on, included), never estimated from body sizes.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Bytes that crossed a relay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Bytes {
    /// Client to server (the phone's upload).
    pub up: u64,
    /// Server to client.
    pub down: u64,
}

impl std::ops::Sub for Bytes {
    type Output = Bytes;
    fn sub(self, earlier: Bytes) -> Bytes {
        Bytes { up: self.up - earlier.up, down: self.down - earlier.down }
    }
}

/// Relays connections from its own loopback port to `target`, counting bytes.
#[derive(Debug)]
pub struct CountingRelay {
    addr: SocketAddr,
    up: Arc<AtomicU64>,
    down: Arc<AtomicU64>,
    /// Connections relayed to each target.
    connections: Arc<Vec<AtomicU64>>,
    stop: Arc<AtomicBool>,
    /// The upload count at which the connection carrying it is cut, once (`u64::MAX`:
    /// never): a 2G link dropping mid-request.
    cut_up_at: Arc<AtomicU64>,
}

impl CountingRelay {
    pub fn start(target: SocketAddr) -> std::io::Result<Self> {
        Self::round_robin(vec![target])
    }

    /// Relays each new connection to the next of `targets` in turn (several center
    /// processes behind one address, as a load balancer would).
    pub fn round_robin(targets: Vec<SocketAddr>) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let (up, down, stop) =
            (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(false)));
        let connections: Arc<Vec<AtomicU64>> = Arc::new(targets.iter().map(|_| AtomicU64::new(0)).collect());
        let cut_up_at = Arc::new(AtomicU64::new(u64::MAX));
        let (up_, down_, stop_, connections_, cut_) =
            (up.clone(), down.clone(), stop.clone(), connections.clone(), cut_up_at.clone());
        std::thread::Builder::new().name("counting-relay".into()).spawn(move || {
            for (n, client) in listener.incoming().enumerate() {
                if stop_.load(Ordering::SeqCst) {
                    break;
                }
                let target = n % targets.len();
                connections_[target].fetch_add(1, Ordering::SeqCst);
                let (Ok(client), Ok(server)) = (client, TcpStream::connect(targets[target])) else { continue };
                let _ = (client.set_nodelay(true), server.set_nodelay(true));
                pipe(&client, &server, up_.clone(), Some(cut_.clone()));
                pipe(&server, &client, down_.clone(), None);
            }
        })?;
        Ok(Self { addr, up, down, connections, stop, cut_up_at })
    }

    /// Cuts the connection that carries the upload past `more` further bytes, once.
    pub fn cut_after_up(&self, more: u64) {
        self.cut_up_at.store(self.up.load(Ordering::SeqCst) + more, Ordering::SeqCst);
    }

    /// Connections relayed so far to each target, in the order they were given.
    pub fn connections(&self) -> Vec<u64> {
        self.connections.iter().map(|c| c.load(Ordering::SeqCst)).collect()
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn https_url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// Everything counted so far.
    pub fn bytes(&self) -> Bytes {
        Bytes { up: self.up.load(Ordering::SeqCst), down: self.down.load(Ordering::SeqCst) }
    }
}

impl Drop for CountingRelay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

/// Copies `from` to `to` on a thread of its own, counting into `counter`; with `cut`,
/// drops both ends once the count reaches it (the bytes past it never arrive).
fn pipe(from: &TcpStream, to: &TcpStream, counter: Arc<AtomicU64>, cut: Option<Arc<AtomicU64>>) {
    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else { return };
    std::thread::spawn(move || {
        let mut buffer = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let before = counter.fetch_add(n as u64, Ordering::SeqCst);
                    let cut_at = cut.as_ref().map_or(u64::MAX, |c| c.load(Ordering::SeqCst));
                    let passing = if before + n as u64 >= cut_at { cut_at.saturating_sub(before) as usize } else { n };
                    if to.write_all(&buffer[..passing]).is_err() {
                        break;
                    }
                    if passing < n || before + n as u64 == cut_at {
                        if let Some(cut) = &cut {
                            cut.store(u64::MAX, Ordering::SeqCst);
                        }
                        let _ = (from.shutdown(Shutdown::Both), to.shutdown(Shutdown::Both));
                        return;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}
