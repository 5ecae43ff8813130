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
        let (up_, down_, stop_, connections_) = (up.clone(), down.clone(), stop.clone(), connections.clone());
        std::thread::Builder::new().name("counting-relay".into()).spawn(move || {
            for (n, client) in listener.incoming().enumerate() {
                if stop_.load(Ordering::SeqCst) {
                    break;
                }
                let target = n % targets.len();
                connections_[target].fetch_add(1, Ordering::SeqCst);
                let (Ok(client), Ok(server)) = (client, TcpStream::connect(targets[target])) else { continue };
                let _ = (client.set_nodelay(true), server.set_nodelay(true));
                pipe(&client, &server, up_.clone());
                pipe(&server, &client, down_.clone());
            }
        })?;
        Ok(Self { addr, up, down, connections, stop })
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

/// Copies `from` to `to` on a thread of its own, counting into `counter`.
fn pipe(from: &TcpStream, to: &TcpStream, counter: Arc<AtomicU64>) {
    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else { return };
    std::thread::spawn(move || {
        let mut buffer = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buffer[..n]).is_err() {
                        break;
                    }
                    counter.fetch_add(n as u64, Ordering::SeqCst);
                }
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}
