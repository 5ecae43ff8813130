//! Raw HTTP/1.1 requests, for what no honest client sends: bad signatures, replays,
//! garbage bodies, wrong versions.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use automerge::transaction::{CommitOptions, Transaction};
use automerge::{ActorId, Automerge, AutomergeError, Change};
use gridsync_core::Kind;
use gridsync_core::doc::genesis_change;
use gridsync_core::store::RemoteChange;
use gridsync_core::sync::sign::DeviceKey;
use gridsync_core::sync::wire;

use crate::TestCenter;

/// Sends one POST and returns the status and body.
pub fn post(addr: SocketAddr, path: &str, headers: &[(&str, String)], body: &[u8]) -> (u16, Vec<u8>) {
    post_on(TcpStream::connect(addr).expect("connect to the center"), addr, path, headers, body)
}

/// A connection to `addr` from the loopback address `source` (e.g. 127.0.0.2): another
/// client address on this machine, for what the center limits per address.
pub fn connect_from(source: std::net::IpAddr, addr: SocketAddr) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("a socket");
    socket.bind(&SocketAddr::new(source, 0).into()).expect("bind the source address");
    socket.connect(&addr.into()).expect("connect to the center");
    socket.into()
}

/// Sends one POST on `stream` and returns the status and body.
pub fn post_on(
    mut stream: TcpStream,
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> (u16, Vec<u8>) {
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let mut request =
        format!("POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).expect("write headers");
    // A server may answer (and close) before reading an oversized body.
    let _ = stream.write_all(body);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response);
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body_start = response.windows(4).position(|w| w == b"\r\n\r\n").map_or(response.len(), |p| p + 4);
    (status, response[body_start..].to_vec())
}

/// Signed-request headers for `body` as device `device` with `counter`.
pub fn signed(key: &DeviceKey, device: &str, counter: u64, path: &str, body: &[u8]) -> Vec<(&'static str, String)> {
    use gridsync_core::sync::sign::{HEADER_COUNTER, HEADER_DEVICE, HEADER_SIGNATURE};
    vec![
        (HEADER_DEVICE, device.to_owned()),
        (HEADER_COUNTER, counter.to_string()),
        (HEADER_SIGNATURE, key.sign("POST", path, device, counter, body)),
    ]
}

/// A device enrolled by hand, so the test holds its key and counter.
#[derive(Debug)]
pub struct RawDevice {
    pub key: DeviceKey,
    pub id: String,
    pub counter: u64,
}

/// Enrols a device by hand whose changes are authored by `actor`.
pub fn raw_device(center: &TestCenter, worker: &str, actor: &str) -> RawDevice {
    raw_device_at(center.running.addr, center.code(worker), actor)
}

/// Enrols a device by hand with `code` at the center listening on `addr`.
pub fn raw_device_at(addr: SocketAddr, code: String, actor: &str) -> RawDevice {
    let key = DeviceKey::generate();
    let actor = actor.to_owned();
    let request = wire::EnrolRequest {
        code,
        public_key: key.public_key().to_vec(),
        actor: actor.clone(),
        device_name: "raw".into(),
        app_version: "test".into(),
    };
    let body = wire::encode(&request);
    let (status, answer) = post(addr, "/v1/enrol", &signed(&key, "enrol", 1, "/v1/enrol", &body), &body);
    assert_eq!(status, 200);
    let answer: wire::EnrolResponse = wire::decode(&answer).unwrap();
    RawDevice { key, id: answer.device_id, counter: 1 }
}

impl RawDevice {
    /// The enrolled phone's own identity (key, device id, next counter), to send by hand
    /// what the phone could send.
    pub fn of_phone(phone: &mut crate::Phone) -> Self {
        let identity = phone.store.sync_identity().unwrap().unwrap();
        let key = DeviceKey::from_pkcs8(&identity.signing_key_pkcs8).unwrap();
        Self { key, id: identity.device_id, counter: phone.store.next_request_counter().unwrap() }
    }

    pub fn post(&mut self, center: &TestCenter, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
        self.post_at(center.running.addr, path, body)
    }

    /// Posts a signed request to the center listening on `addr`.
    pub fn post_at(&mut self, addr: SocketAddr, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
        self.counter += 1;
        post(addr, path, &signed(&self.key, &self.id, self.counter, path, body), body)
    }

    /// Like [`RawDevice::post_at`], from the loopback address `source`.
    pub fn post_from(&mut self, source: std::net::IpAddr, addr: SocketAddr, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
        self.counter += 1;
        let headers = signed(&self.key, &self.id, self.counter, path, body);
        post_on(connect_from(source, addr), addr, path, &headers, body)
    }
}

/// A change by `actor` (hex) naming `worker`, made by `ops` on top of everything the
/// center holds of record `id`: what a tampered client can send, any op automerge
/// allows.
pub fn forged_change(
    center: &TestCenter,
    id: &str,
    kind: Kind,
    actor: &str,
    worker: &str,
    ops: impl FnOnce(&mut Transaction<'_>) -> Result<(), AutomergeError>,
) -> RemoteChange {
    let mut doc = match center.running.with(|c| c.record_doc(id)).unwrap() {
        Some(held) => Automerge::load(&held.save()).unwrap(),
        None => {
            let mut doc = Automerge::new();
            doc.apply_changes([Change::from_bytes(genesis_change(kind).to_vec()).unwrap()]).unwrap();
            doc
        }
    };
    doc.set_actor(ActorId::from(hex::decode(actor).unwrap()));
    let mut tx = doc.transaction();
    ops(&mut tx).unwrap();
    tx.commit_with(CommitOptions::default().with_message(worker).with_time(1_767_000_000_000));
    let change = doc.get_last_local_change().unwrap().clone();
    RemoteChange { record_id: id.to_owned(), kind, bytes: change.raw_bytes().to_vec() }
}
