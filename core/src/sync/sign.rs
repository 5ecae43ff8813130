//! Request signing: every request carries the device id, a per-device counter and an
//! Ed25519 signature (ring) over method, path, device, counter and the body's SHA-256.
//! The center keeps each device's last counter, so a replayed request is refused and an
//! altered one fails verification.

use ring::rand::SystemRandom;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};

pub const HEADER_DEVICE: &str = "x-gridsync-device";
pub const HEADER_COUNTER: &str = "x-gridsync-counter";
pub const HEADER_SIGNATURE: &str = "x-gridsync-signature";

/// The device id used while enrolling, before the center has assigned one.
pub const ENROLLING_DEVICE: &str = "enrol";

/// A device's signing key. The PKCS#8 bytes live in the encrypted store.
pub struct DeviceKey {
    pair: Ed25519KeyPair,
    pkcs8: Vec<u8>,
}

impl std::fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeviceKey({})", hex::encode(self.public_key()))
    }
}

impl DeviceKey {
    pub fn generate() -> Self {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("the system RNG is available");
        Self::from_pkcs8(pkcs8.as_ref()).expect("a freshly generated key parses")
    }

    pub fn from_pkcs8(pkcs8: &[u8]) -> Option<Self> {
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8).ok()?;
        Some(Self { pair, pkcs8: pkcs8.to_vec() })
    }

    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    pub fn public_key(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    /// The signature header value for a request.
    pub fn sign(&self, method: &str, path: &str, device: &str, counter: u64, body: &[u8]) -> String {
        hex::encode(self.pair.sign(&signing_input(method, path, device, counter, body)).as_ref())
    }
}

/// The bytes a request signature covers.
pub fn signing_input(method: &str, path: &str, device: &str, counter: u64, body: &[u8]) -> Vec<u8> {
    let digest = ring::digest::digest(&ring::digest::SHA256, body);
    format!("gridsync-request-v1\n{method}\n{path}\n{device}\n{counter}\n{}", hex::encode(digest.as_ref())).into_bytes()
}

/// Whether `signature_hex` is `public_key`'s signature of the request.
pub fn verify(
    public_key: &[u8],
    signature_hex: &str,
    method: &str,
    path: &str,
    device: &str,
    counter: u64,
    body: &[u8],
) -> bool {
    let Ok(signature) = hex::decode(signature_hex) else { return false };
    UnparsedPublicKey::new(&ED25519, public_key)
        .verify(&signing_input(method, path, device, counter, body), &signature)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_bind_every_part_of_the_request() {
        let key = DeviceKey::generate();
        let signature = key.sign("POST", "/v1/push", "d1", 7, b"body");
        assert!(verify(key.public_key(), &signature, "POST", "/v1/push", "d1", 7, b"body"));
        for (path, device, counter, body) in [
            ("/v1/pull", "d1", 7, &b"body"[..]),
            ("/v1/push", "d2", 7, b"body"),
            ("/v1/push", "d1", 8, b"body"),
            ("/v1/push", "d1", 7, b"bodY"),
        ] {
            assert!(!verify(key.public_key(), &signature, "POST", path, device, counter, body));
        }
        assert!(!verify(DeviceKey::generate().public_key(), &signature, "POST", "/v1/push", "d1", 7, b"body"));
        assert!(!verify(key.public_key(), "zz", "POST", "/v1/push", "d1", 7, b"body"));
        let restored = DeviceKey::from_pkcs8(key.pkcs8()).unwrap();
        assert_eq!(restored.public_key(), key.public_key());
    }
}
