//! A TCP proxy on loopback between phones and the center that injects faults: it lets a
//! request reach the center and then drops the answer (the phone cannot know whether it
//! was applied), cuts a request mid-body, delays a connection, and sends a copy of a
//! request again later, after the phone has moved on (a duplicated, reordered delivery).
//!
//! The proxy speaks just enough HTTP/1.1 to see where each request and response ends, so
//! every request on a kept-alive connection draws its own fault: either one at a time
//! from counters a test sets, or from a seeded random schedule.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gridsync_core::sample::Sample;

/// What happens to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Pass,
    /// The request reaches the center; its answer is never sent on: the phone sees the
    /// connection close with no answer (the center did the work).
    DropResponse,
    /// The request is cut after this many bytes.
    CutRequest(usize),
    /// Nothing moves for this long, then the request goes on normally.
    Delay(Duration),
    /// The request goes on normally; this long after its answer, its bytes are sent to
    /// the center once more.
    Duplicate(Duration),
    /// The center's answer arrives with its body garbled.
    CorruptResponse,
    /// The proxy answers itself, 200 with the next of [`Faults::answers`], as a hostile
    /// or broken center would.
    Answer,
}

/// Probabilities (in percent, per request) of each fault in a random schedule.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub seed: u64,
    pub drop_response: u64,
    pub cut_request: u64,
    pub delay: u64,
    pub duplicate: u64,
}

impl Schedule {
    /// A hostile network: about four requests in ten suffer something.
    pub fn hostile(seed: u64) -> Self {
        Self { seed, drop_response: 10, cut_request: 10, delay: 10, duplicate: 10 }
    }

    fn draw(&self, rng: &mut Sample) -> Fault {
        let roll = rng.below(100);
        let mut bound = self.drop_response;
        if roll < bound {
            return Fault::DropResponse;
        }
        bound += self.cut_request;
        if roll < bound {
            return Fault::CutRequest(1 + rng.below(2_000) as usize);
        }
        bound += self.delay;
        if roll < bound {
            return Fault::Delay(Duration::from_millis(rng.below(300)));
        }
        bound += self.duplicate;
        if roll < bound {
            return Fault::Duplicate(Duration::from_millis(rng.below(200)));
        }
        Fault::Pass
    }
}

/// Fault counters and the random schedule, shared with the proxy's threads.
#[derive(Debug, Default)]
pub struct Faults {
    /// The next this-many requests reach the center, then lose their response.
    pub drop_responses: AtomicU32,
    /// The next this-many requests are cut after a few bytes.
    pub cut_requests: AtomicU32,
    /// The next this-many answers arrive garbled.
    pub corrupt_responses: AtomicU32,
    /// The next this-many requests stall for a minute first (a 2G link that froze).
    pub stalls: AtomicU32,
    /// Bodies the proxy answers with instead of the center, in order.
    pub answers: Mutex<std::collections::VecDeque<Vec<u8>>>,
    /// The random schedule in force, with its generator.
    random: Mutex<Option<(Schedule, Sample)>>,
    /// Faults injected so far, of every kind.
    pub injected: AtomicU32,
    /// Of which duplicated requests.
    pub duplicated: AtomicU32,
    /// Requests the phone sent through the proxy, and their bytes (head and body),
    /// whatever then happened to them.
    pub requests: AtomicU64,
    pub request_bytes: AtomicU64,
}

fn take(counter: &AtomicU32) -> bool {
    counter.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
}

impl Faults {
    /// Starts (`Some`) or ends (`None`) a random schedule.
    pub fn set_schedule(&self, schedule: Option<Schedule>) {
        *self.random.lock().expect("fault schedule") = schedule.map(|s| (s, Sample::new(s.seed)));
    }

    pub fn injected(&self) -> u32 {
        self.injected.load(Ordering::SeqCst)
    }

    fn next(&self) -> Fault {
        let fault = if take(&self.cut_requests) {
            Fault::CutRequest(32)
        } else if take(&self.drop_responses) {
            Fault::DropResponse
        } else if take(&self.corrupt_responses) {
            Fault::CorruptResponse
        } else if take(&self.stalls) {
            Fault::Delay(Duration::from_secs(60))
        } else if !self.answers.lock().expect("answers").is_empty() {
            Fault::Answer
        } else {
            match &mut *self.random.lock().expect("fault schedule") {
                Some((schedule, rng)) => schedule.draw(rng),
                None => Fault::Pass,
            }
        };
        if fault != Fault::Pass {
            self.injected.fetch_add(1, Ordering::SeqCst);
        }
        if matches!(fault, Fault::Duplicate(_)) {
            self.duplicated.fetch_add(1, Ordering::SeqCst);
        }
        fault
    }
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
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
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

/// Relays one client connection request by request, drawing a fault for each.
fn relay(mut client: TcpStream, target: SocketAddr, faults: &Faults) {
    let _ = client.set_nonblocking(false);
    let _ = client.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(mut server) = TcpStream::connect(target) else { return };
    let _ = server.set_read_timeout(Some(Duration::from_secs(30)));
    while let Some(request) = read_message(&mut client) {
        faults.requests.fetch_add(1, Ordering::SeqCst);
        faults.request_bytes.fetch_add(request.len() as u64, Ordering::SeqCst);
        let fault = faults.next();
        match fault {
            Fault::CutRequest(after) => {
                let _ = server.write_all(&request[..after.min(request.len() - 1)]);
                break;
            }
            Fault::Delay(pause) => std::thread::sleep(pause),
            Fault::Answer => {
                let body = faults.answers.lock().expect("answers").pop_front().unwrap_or_default();
                let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len());
                if client.write_all(head.as_bytes()).and_then(|()| client.write_all(&body)).is_err() {
                    break;
                }
                continue;
            }
            _ => {}
        }
        if server.write_all(&request).is_err() {
            break;
        }
        // The center receives and handles the request in every remaining case.
        let Some(mut response) = read_message(&mut server) else { break };
        if fault == Fault::CorruptResponse {
            garble_body(&mut response);
        }
        if fault == Fault::DropResponse || client.write_all(&response).is_err() {
            break;
        }
        if let Fault::Duplicate(later) = fault {
            std::thread::spawn(move || {
                std::thread::sleep(later);
                replay(target, &request);
            });
        }
    }
    let _ = client.shutdown(Shutdown::Both);
    let _ = server.shutdown(Shutdown::Both);
}

/// Flips the bits of every third byte after the head, keeping the length.
fn garble_body(message: &mut [u8]) {
    let body = message.windows(4).position(|w| w == b"\r\n\r\n").map_or(message.len(), |p| p + 4);
    for byte in message[body..].iter_mut().step_by(3) {
        *byte = !*byte;
    }
}

/// Reads one HTTP/1.1 message (head and a `Content-Length` body); `None` at the end of
/// the stream or on anything else.
fn read_message(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut message = Vec::new();
    let mut buffer = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(end) = message.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return None,
            Ok(n) => message.extend_from_slice(&buffer[..n]),
        }
    };
    let head = String::from_utf8_lossy(&message[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0);
    while message.len() < head_end + length {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return None,
            Ok(n) => message.extend_from_slice(&buffer[..n]),
        }
    }
    Some(message)
}

/// Sends `request` to the center again on a new connection and discards the answer.
fn replay(target: SocketAddr, request: &[u8]) {
    let Ok(mut server) = TcpStream::connect(target) else { return };
    let _ = server.set_read_timeout(Some(Duration::from_secs(10)));
    if server.write_all(request).is_ok() {
        let _ = read_message(&mut server);
    }
}
