//! A TCP proxy on loopback between phones and the center that injects faults: it can
//! let a request reach the center and then drop the connection before the response
//! (the phone cannot know whether it was applied), or cut the request mid-body.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

#[derive(Debug, Default)]
pub struct Faults {
    /// The next this-many connections reach the center, then lose their response.
    pub drop_responses: AtomicU32,
    /// The next this-many connections are cut after a few bytes of the request.
    pub cut_requests: AtomicU32,
    /// Faults injected so far.
    pub injected: AtomicU32,
}

fn take(counter: &AtomicU32) -> bool {
    counter.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
}

#[derive(Debug)]
pub struct FaultProxy {
    pub addr: SocketAddr,
    pub faults: Arc<Faults>,
    stop: Arc<AtomicBool>,
}

impl FaultProxy {
    pub fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        listener.set_nonblocking(true).expect("nonblocking");
        let faults = Arc::new(Faults::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (faults_loop, stop_loop) = (faults.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop_loop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let faults = faults_loop.clone();
                        std::thread::spawn(move || relay(client, target, &faults));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Self { addr, faults, stop }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn relay(mut client: TcpStream, target: SocketAddr, faults: &Faults) {
    let _ = client.set_nonblocking(false);
    let Ok(mut server) = TcpStream::connect(target) else { return };
    if take(&faults.cut_requests) {
        faults.injected.fetch_add(1, Ordering::SeqCst);
        let mut head = [0u8; 64];
        if let Ok(n) = client.read(&mut head) {
            let _ = server.write_all(&head[..n / 2]);
        }
        let _ = client.shutdown(Shutdown::Both);
        let _ = server.shutdown(Shutdown::Both);
        return;
    }
    let drop_response = take(&faults.drop_responses);
    let (Ok(mut client_read), Ok(mut server_write)) = (client.try_clone(), server.try_clone()) else { return };
    let upstream = std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_read, &mut server_write);
        let _ = server_write.shutdown(Shutdown::Write);
    });
    if drop_response {
        // Let the center receive and handle the request, then lose its answer.
        let mut sink = [0u8; 1];
        let _ = server.read(&mut sink);
        faults.injected.fetch_add(1, Ordering::SeqCst);
        let _ = client.shutdown(Shutdown::Both);
        let _ = server.shutdown(Shutdown::Both);
    } else {
        let _ = std::io::copy(&mut server, &mut client);
        let _ = client.shutdown(Shutdown::Both);
    }
    let _ = upstream.join();
}
