//! The enrolment link a township's console shows as a QR code, and a phone scans:
//! `gridsync-enrol:v1?center=<the center's address>&code=<one-time code>[&ca_sha256=<hex>]`
//! (docs/console.md, "Enrolling a phone"). `ca_sha256` is the SHA-256 of the township
//! CA certificate's DER: the phone fetches the certificate from the center and trusts it
//! only if it hashes to that, so the QR code stays small enough to scan off a screen.

use std::fmt;

use crate::error::{Rule, ValidationError};

const PREFIX: &str = "gridsync-enrol:v1?";
/// Far above any real link (~200 characters); bounds the work on a scanned text.
const MAX_LEN: usize = 2048;
const MAX_CODE_LEN: usize = 64;
const FIELD: &str = "enrolment_link";

/// What an enrolment link carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrolmentLink {
    /// `http(s)://host[:port]` as the console's browser reached the center.
    pub center_url: String,
    pub code: String,
    /// SHA-256 of the township CA certificate (DER); `None` from a center without one.
    pub ca_sha256: Option<[u8; 32]>,
}

impl EnrolmentLink {
    /// Reads a scanned or typed link. Keys this version does not know are ignored (a
    /// later console may add some); a link without a center or a code, or with a value
    /// that is not what its key says, is refused naming the rule (never the text).
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let refused = || ValidationError::new(FIELD, Rule::EnrolmentLink);
        let query = text.trim().strip_prefix(PREFIX).filter(|_| text.len() <= MAX_LEN).ok_or_else(refused)?;
        let (mut center_url, mut code, mut ca_sha256) = (None, None, None);
        for pair in query.split('&') {
            let (key, value) = pair.split_once('=').ok_or_else(refused)?;
            match key {
                "center" => center_url = Some(value),
                "code" => code = Some(value),
                "ca_sha256" => {
                    let mut digest = [0u8; 32];
                    hex::decode_to_slice(value, &mut digest).map_err(|_| refused())?;
                    ca_sha256 = Some(digest);
                }
                _ => {}
            }
        }
        let center_url = center_url.and_then(center_origin).ok_or_else(refused)?;
        let code = code
            .filter(|code| {
                !code.is_empty()
                    && code.len() <= MAX_CODE_LEN
                    && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
            .ok_or_else(refused)?;
        Ok(Self { center_url, code: code.to_owned(), ca_sha256 })
    }

    /// The link for a center's CA certificate (DER), as the console shows it.
    pub fn new(center_url: &str, code: &str, ca_der: Option<&[u8]>) -> Self {
        let ca_sha256 = ca_der.map(|der| {
            let mut digest = [0u8; 32];
            digest.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, der).as_ref());
            digest
        });
        Self { center_url: center_url.to_owned(), code: code.to_owned(), ca_sha256 }
    }

    /// Whether `der` is the CA certificate this link names (true when it names none).
    pub fn pins(&self, der: &[u8]) -> bool {
        self.ca_sha256.is_none_or(|pin| ring::digest::digest(&ring::digest::SHA256, der).as_ref() == pin)
    }
}

/// `url` as `scheme://host[:port]` when it is an http(s) address and nothing more: no
/// user name (`https://township.gov.cn@elsewhere` would show one host and reach
/// another), path, query or fragment (they would bend the request paths appended to
/// it). A trailing `/` is dropped.
pub fn center_origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    let host_chars = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']');
    (matches!(scheme, "http" | "https") && !authority.is_empty() && authority.bytes().all(host_chars))
        .then(|| format!("{scheme}://{authority}"))
}

impl fmt::Display for EnrolmentLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}center={}&code={}", self.center_url, self.code)?;
        if let Some(pin) = self.ca_sha256 {
            write!(f, "&ca_sha256={}", hex::encode(pin))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_reads_back_as_written() {
        for ca in [None, Some(&b"a certificate"[..])] {
            let link = EnrolmentLink::new("https://10.0.0.5:8443", "K7M2-P9QX-4HJR", ca);
            assert_eq!(EnrolmentLink::parse(&link.to_string()).unwrap(), link);
            assert!(link.pins(b"a certificate"));
            assert_eq!(link.pins(b"another"), ca.is_none());
        }
        let later = "gridsync-enrol:v1?center=http://127.0.0.1:9/&code=ABC&name=x ";
        let read = EnrolmentLink::parse(later).unwrap();
        assert_eq!(
            (read.center_url.as_str(), read.code.as_str()),
            ("http://127.0.0.1:9", "ABC"),
            "unknown keys ignored"
        );
        let v6 = "gridsync-enrol:v1?center=https://[fd00::5]:8443&code=ABC";
        assert_eq!(EnrolmentLink::parse(v6).unwrap().center_url, "https://[fd00::5]:8443");
    }

    #[test]
    fn anything_else_is_refused_naming_the_link() {
        let pin = "ab".repeat(32);
        for bad in [
            "",
            "https://center.example",
            "gridsync-enrol:v2?center=https://c&code=A",
            "gridsync-enrol:v1?code=A",
            "gridsync-enrol:v1?center=https://c",
            "gridsync-enrol:v1?center=ftp://c&code=A",
            "gridsync-enrol:v1?center=https://&code=A",
            "gridsync-enrol:v1?center=https://c d&code=A",
            "gridsync-enrol:v1?center=https://township.gov.cn@203.0.113.9&code=A",
            "gridsync-enrol:v1?center=https://c/v1/x&code=A",
            "gridsync-enrol:v1?center=https://c#&code=A",
            "gridsync-enrol:v1?center=https://c%2F&code=A",
            "gridsync-enrol:v1?center=https://c&code=A_1",
            "gridsync-enrol:v1?center=https://c&code=A&ca_sha256=abc",
            "gridsync-enrol:v1?center=https://c&code=A&ca_sha256",
            &format!("gridsync-enrol:v1?center=https://c&code=A&ca_sha256={pin}&x={}", "y".repeat(MAX_LEN)),
        ] {
            let refused = EnrolmentLink::parse(bad).unwrap_err();
            assert_eq!(refused.code(), "enrolment_link.format", "{bad:?}");
        }
    }
}
