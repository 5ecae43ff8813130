//! The sync protocol's wire types and envelope (see `docs/protocol.md`).
//!
//! Every body, request or response, is one envelope:
//!
//! ```text
//! "GSY" | major u8 | minor u8 | flags u8 | payload
//! ```
//!
//! The payload is the message as CBOR (RFC 8949, maps keyed by field name), compressed
//! with zstd when flag bit 0 is set. A whole batch is compressed at once: one change of
//! one field is ~120 bytes and does not compress alone, a batch shares its field names.
//! A decoder refuses another major version instead of guessing, and bounds both the
//! compressed and the decompressed size.

use std::io::Read;

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::model::Kind;

pub const MAGIC: &[u8; 3] = b"GSY";
pub const MAJOR: u8 = 1;
pub const MINOR: u8 = 0;
const FLAG_ZSTD: u8 = 1;
const HEADER_LEN: usize = 6;
/// Bodies below this size are sent uncompressed: zstd's frame costs more than it saves.
const COMPRESS_FROM: usize = 160;
/// The largest envelope a peer accepts.
pub const MAX_ENVELOPE: usize = 4 << 20;
/// The largest decompressed payload a peer accepts (a zip bomb stops here).
pub const MAX_PAYLOAD: usize = 32 << 20;

/// Why bytes are not a valid envelope. Messages describe structure, never content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("envelope too short")]
    Truncated,
    #[error("not a gridsync envelope")]
    BadMagic,
    #[error("protocol version {major}.x is not supported (this build speaks {MAJOR}.x)")]
    UnsupportedVersion { major: u8 },
    #[error("envelope larger than {MAX_ENVELOPE} bytes or payload larger than {MAX_PAYLOAD} bytes")]
    TooLarge,
    #[error("payload compression is corrupt")]
    Compression,
    #[error("malformed message: {0}")]
    Malformed(String),
}

/// Encodes `message` as an envelope.
pub fn encode<T: Serialize>(message: &T) -> Vec<u8> {
    let mut payload = Vec::with_capacity(256);
    // Writing CBOR into a Vec cannot fail for our plain data types.
    ciborium::into_writer(message, &mut payload).expect("CBOR encoding into memory");
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(MAGIC);
    out.push(MAJOR);
    out.push(MINOR);
    if payload.len() >= COMPRESS_FROM {
        out.push(FLAG_ZSTD);
        out.extend(zstd::bulk::compress(&payload, 3).expect("zstd compression into memory"));
    } else {
        out.push(0);
        out.extend(payload);
    }
    out
}

/// Decodes an envelope of any 1.x minor version.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, WireError> {
    if bytes.len() > MAX_ENVELOPE {
        return Err(WireError::TooLarge);
    }
    if bytes.len() < HEADER_LEN {
        return Err(WireError::Truncated);
    }
    if &bytes[..3] != MAGIC {
        return Err(WireError::BadMagic);
    }
    if bytes[3] != MAJOR {
        return Err(WireError::UnsupportedVersion { major: bytes[3] });
    }
    let flags = bytes[5];
    let body = &bytes[HEADER_LEN..];
    let payload = if flags & FLAG_ZSTD != 0 {
        let mut decoder = zstd::stream::read::Decoder::new(body).map_err(|_| WireError::Compression)?;
        let mut out = Vec::new();
        (&mut decoder).take(MAX_PAYLOAD as u64 + 1).read_to_end(&mut out).map_err(|_| WireError::Compression)?;
        if out.len() > MAX_PAYLOAD {
            return Err(WireError::TooLarge);
        }
        std::borrow::Cow::Owned(out)
    } else {
        std::borrow::Cow::Borrowed(body)
    };
    ciborium::from_reader(payload.as_ref()).map_err(|e| WireError::Malformed(describe(&e)))
}

/// A CBOR error without any payload content.
fn describe(err: &ciborium::de::Error<std::io::Error>) -> String {
    match err {
        ciborium::de::Error::Io(_) => "truncated payload".into(),
        ciborium::de::Error::Syntax(offset) => format!("syntax error at byte {offset}"),
        ciborium::de::Error::Semantic(offset, msg) => {
            // serde's messages name fields and expected types, not values.
            format!("{} at byte {}", msg.chars().take(120).collect::<String>(), offset.unwrap_or(0))
        }
        ciborium::de::Error::RecursionLimitExceeded => "nesting too deep".into(),
    }
}

/// One automerge change of one record, as replicas exchange them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteChange {
    pub record_id: String,
    pub kind: Kind,
    #[serde(with = "bytes")]
    pub bytes: Vec<u8>,
}

/// Byte strings as CBOR byte strings (not arrays of integers).
pub(crate) mod bytes {
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(bytes)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
        }
        // `deserialize_bytes` would borrow ciborium's 4 KiB scratch buffer and refuse any
        // longer byte string (a change with a long note, a large snapshot); the
        // buffered form reads any length, in bounded segments.
        deserializer.deserialize_byte_buf(Visitor)
    }
}

/// The buckets a scope's digest is split into (`SHA-256(record_id)[0] mod 16`).
pub const DIGEST_BUCKETS: u8 = 16;

/// A digest bucket list, read no further than [`DIGEST_BUCKETS`] numbers:
/// a longer list is refused where it is decoded, before 3M entries in a few compressed
/// bytes cost the center their decoding.
pub(crate) mod bucket_list {
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(buckets: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(buckets)
    }

    use super::DIGEST_BUCKETS;

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "at most {} bucket numbers", DIGEST_BUCKETS)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
                let mut buckets = Vec::new();
                while let Some(bucket) = seq.next_element::<u8>()? {
                    if buckets.len() == usize::from(DIGEST_BUCKETS) {
                        return Err(serde::de::Error::invalid_length(buckets.len() + 1, &self));
                    }
                    buckets.push(bucket);
                }
                Ok(buckets)
            }
        }
        deserializer.deserialize_seq(Visitor)
    }
}

/// Lists of byte strings (change hashes).
pub(crate) mod bytes_list {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Item(#[serde(with = "super::bytes")] Vec<u8>);

    pub fn serialize<S: Serializer>(list: &[Vec<u8>], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(list.iter().map(|b| Item(b.clone())))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Vec<u8>>, D::Error> {
        Ok(Vec::<Item>::deserialize(deserializer)?.into_iter().map(|i| i.0).collect())
    }
}

/// `POST /v1/enrol`: a phone enrols with a one-time code and its new public key. The
/// request is signed with that key, proving the phone holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolRequest {
    pub code: String,
    /// Ed25519 public key, 32 bytes.
    #[serde(with = "bytes")]
    pub public_key: Vec<u8>,
    /// The store's automerge actor (hex): the center accepts changes from this device
    /// only if they are authored by it.
    pub actor: String,
    pub device_name: String,
    pub app_version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolResponse {
    pub device_id: String,
    pub worker_id: String,
    /// Area-code prefixes the device may see and change.
    pub scope: Vec<String>,
    /// The township secret for person ids.
    #[serde(with = "bytes")]
    pub township_key: Vec<u8>,
    /// The center's CA certificate (PEM) the phone pins for TLS, if the center uses TLS.
    pub ca_certificate: Option<String>,
    /// The worker's role and township policy: which incident steps are theirs (absent
    /// from centers before roles; the center judges every push either way).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duties: Option<crate::roles::Duties>,
}

/// Where a phone is in the center's stream of accepted changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Cursor {
    /// Compacted documents of `prefixes` (all of the scope when `None`), by record id,
    /// after `after_id`; then changes from `resume` on. The center sets `resume` on
    /// the first page.
    Bootstrap { prefixes: Option<Vec<String>>, after_id: String, resume: Option<u64> },
    /// Changes after global sequence `after`.
    Changes { after: u64 },
}

impl Cursor {
    pub fn fresh() -> Self {
        Cursor::Bootstrap { prefixes: None, after_id: String::new(), resume: None }
    }
}

/// `POST /v1/push`: local changes in causal order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushRequest {
    /// A UUID naming the batch; a repeated batch is answered from the center's record
    /// and applied once.
    pub batch_id: String,
    pub changes: Vec<RemoteChange>,
}

/// Why the center refused a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectCode {
    /// The record is, or the change would put it, outside the device's scope.
    OutOfScope,
    /// The record would no longer pass validation.
    Invalid,
    /// The change's dependencies are unknown to the center (an earlier change was
    /// rejected or lost).
    MissingDependencies,
    /// The change was not authored by the pushing device.
    WrongAuthor,
    /// The change names a kind other than its record's.
    WrongKind,
    /// The bytes are not an uncompressed automerge change chunk.
    Malformed,
    /// The change, the batch or the record is over a documented limit.
    TooLarge,
    /// The record does not start from its kind's genesis change.
    NotFromGenesis,
    /// The change writes `kind`, `v`, or replaces a nested object of the genesis.
    Immutable,
    /// The change makes an object, or writes a value, where the kind's layout has none.
    BadShape,
    /// The change deletes or rewrites a timeline entry (timelines are append-only).
    TimelineRewritten,
    /// A follow-up names a step this protocol version does not know.
    UnknownStep,
    /// A step is not legal after what the change's own history holds.
    IllegalStep,
    /// The change's message does not name the pushing device's worker.
    WrongWorker,
    /// The record id is not a UUID of the form the protocol gives.
    BadRecordId,
    /// A person's id is not the one its ID number gives (or its ID number changed).
    IdNumberMismatch,
    /// A step that the worker's role does not take (docs/merge.md, "Roles").
    StepNotAllowed,
    /// A code from a newer center: treat as a refusal and show the reason.
    #[serde(other)]
    Unknown,
}

impl RejectCode {
    /// Every code, in declaration order.
    pub const ALL: &[RejectCode] = &[
        RejectCode::OutOfScope,
        RejectCode::Invalid,
        RejectCode::MissingDependencies,
        RejectCode::WrongAuthor,
        RejectCode::WrongKind,
        RejectCode::Malformed,
        RejectCode::TooLarge,
        RejectCode::NotFromGenesis,
        RejectCode::Immutable,
        RejectCode::BadShape,
        RejectCode::TimelineRewritten,
        RejectCode::UnknownStep,
        RejectCode::IllegalStep,
        RejectCode::WrongWorker,
        RejectCode::BadRecordId,
        RejectCode::IdNumberMismatch,
        RejectCode::StepNotAllowed,
        RejectCode::Unknown,
    ];

    /// The code as the wire names it (`illegal_step`); a code this build does not know
    /// reads as [`RejectCode::Unknown`].
    pub fn parse(name: &str) -> Self {
        serde_json::from_value(serde_json::Value::String(name.to_owned())).unwrap_or(RejectCode::Unknown)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    pub record_id: String,
    #[serde(with = "bytes")]
    pub hash: Vec<u8>,
    pub code: RejectCode,
    /// For people: names the field and rule, never a value.
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushResponse {
    pub batch_id: String,
    /// Hashes of the changes the center now holds (accepted now or before).
    #[serde(with = "bytes_list")]
    pub accepted: Vec<Vec<u8>>,
    pub rejected: Vec<Rejected>,
}

/// `POST /v1/pull`: the next page of what the center holds in the device's scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequest {
    pub cursor: Cursor,
    /// Page bounds the phone chooses for its link: at most this many items and about
    /// this many bytes (a single large item may exceed it).
    pub max_items: u32,
    pub max_bytes: u32,
}

/// A record's compacted document (automerge `save()` format).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub record_id: String,
    pub kind: Kind,
    #[serde(with = "bytes")]
    pub document: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullResponse {
    pub snapshots: Vec<Snapshot>,
    pub changes: Vec<RemoteChange>,
    /// The cursor after this page; the phone stores it with the page, atomically.
    pub cursor: Cursor,
    /// Whether another page is waiting.
    pub more: bool,
    /// About how many items remain after this page, for progress bars.
    pub remaining: u64,

    /// The device's scope now (it may have changed at the center).
    pub scope: Vec<String>,
}

/// `POST /v1/digest`: a digest of (record id, heads) over the device's scope, whole
/// and in 16 buckets, so phone and center can find the records that differ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestResponse {
    pub records: u64,
    #[serde(with = "bytes")]
    pub total: Vec<u8>,
    #[serde(with = "bytes_list")]
    pub buckets: Vec<Vec<u8>>,
}

/// `POST /v1/heads`: every (record id, heads) in the given buckets of the scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadsRequest {
    #[serde(with = "bucket_list")]
    pub buckets: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordHeads {
    pub record_id: String,
    #[serde(with = "bytes")]
    pub heads: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadsResponse {
    pub records: Vec<RecordHeads>,
}

/// `POST /v1/fetch`: compacted documents of the named records (in scope).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchRequest {
    pub record_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchResponse {
    pub snapshots: Vec<Snapshot>,
}

/// The most blobs one `/v1/blobs/status` request may name.
pub const MAX_BLOBS_PER_STATUS: usize = 100;
/// The most bytes of blob one `/v1/blobs/put` or `/v1/blobs/get` carries.
pub const MAX_BLOB_CHUNK: u32 = 256 << 10;

/// A blob, named by its hash and reached through a record that references it (the
/// center answers only for a record in the device's scope that names the blob).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobName {
    pub record_id: String,
    /// SHA-256 of the blob's bytes, lower-case hex.
    pub hash: String,
}

/// `POST /v1/blobs/status`: how much of each blob the center holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobStatusRequest {
    pub blobs: Vec<BlobName>,
}

/// What the center holds of one blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum BlobState {
    /// Whole and checked: nothing to send.
    Stored,
    /// `received` bytes so far (0: none): the upload goes on from there.
    Partial { received: u64 },
    /// No record in the device's scope names this blob (yet: push the record first).
    Unreferenced,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobStatus {
    pub hash: String,
    #[serde(flatten)]
    pub state: BlobState,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobStatusResponse {
    pub blobs: Vec<BlobStatus>,
}

/// `POST /v1/blobs/put`: the chunk of a blob that starts at `offset`, which must be
/// what the center holds so far. The chunk that reaches `total` completes the blob: the
/// center checks its hash and that it is a photo before keeping it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobPutRequest {
    pub record_id: String,
    pub hash: String,
    pub offset: u64,
    pub total: u64,
    #[serde(with = "bytes")]
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobPutResponse {
    /// Bytes the center holds now.
    pub received: u64,
    /// Whether the blob is whole and kept.
    pub stored: bool,
}

/// `POST /v1/blobs/get`: up to `max_bytes` of a stored blob from `offset`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobGetRequest {
    pub record_id: String,
    pub hash: String,
    pub offset: u64,
    pub max_bytes: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobGetResponse {
    /// The blob's whole size.
    pub total: u64,
    #[serde(with = "bytes")]
    pub bytes: Vec<u8>,
}

/// What an error response's body says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The body is not a valid envelope or message.
    BadRequest,
    UnsupportedVersion,
    TooLarge,
    /// Missing, malformed or wrong signature, or unknown device.
    BadSignature,
    /// The request's counter was used before.
    Replay,
    /// The device was revoked.
    Revoked,
    /// The device was revoked and must erase its data.
    Wipe,
    /// The enrolment code is unknown, used or expired.
    EnrolmentRefused,
    /// Something failed at the center; retry later.
    Internal,
    /// The request names an area outside the device's scope.
    OutOfScope,
    /// Too many requests from this device or address: retry after the `Retry-After`
    /// header's seconds.
    RateLimited,
    /// The center does not hold the blob asked for (its phone has not uploaded it yet).
    NotHeld,
    /// A blob chunk does not start where the center's upload stands: ask its status.
    WrongOffset,
    /// A code from a newer center: treat as a refusal and show the message.
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn sample_push() -> PushRequest {
        PushRequest {
            batch_id: "0190f0c4-7c1e-7000-8000-000000000001".into(),
            changes: vec![RemoteChange {
                record_id: "0190f0c4-7c1e-7000-8000-0000000000aa".into(),
                kind: Kind::Household,
                bytes: vec![0x85, 0x6f, 0x4a, 0x83, 1, 2, 3],
            }],
        }
    }

    /// Snapshot tests: the bytes of each wire type are fixed, so a protocol change is
    /// always deliberate (bump the version, update docs/protocol.md).
    #[test]
    fn wire_types_have_fixed_encodings() {
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("push", encode(&sample_push())),
            ("pull", encode(&PullRequest { cursor: Cursor::Changes { after: 42 }, max_items: 200, max_bytes: 65536 })),
            ("bootstrap", encode(&PullRequest { cursor: Cursor::fresh(), max_items: 200, max_bytes: 65536 })),
            (
                "push_response",
                encode(&PushResponse {
                    batch_id: "b".into(),
                    accepted: vec![vec![1; 32]],
                    rejected: vec![Rejected {
                        record_id: "r".into(),
                        hash: vec![2; 32],
                        code: RejectCode::OutOfScope,
                        reason: "area_code is outside this device's scope".into(),
                    }],
                }),
            ),
            ("error", encode(&ErrorBody { code: ErrorCode::Replay, message: "counter used before".into() })),
            (
                "enrol",
                encode(&EnrolRequest {
                    code: "K7QM-4XPA-9RTD".into(),
                    public_key: vec![3; 32],
                    actor: "00112233445566778899aabbccddeeff".into(),
                    device_name: "phone".into(),
                    app_version: "0.1.0".into(),
                }),
            ),
            (
                "enrol_response",
                encode(&EnrolResponse {
                    device_id: "d".into(),
                    worker_id: "w-0001".into(),
                    scope: vec!["440106012003001".into()],
                    township_key: vec![4; 32],
                    ca_certificate: None,
                    duties: None,
                }),
            ),
            (
                "pull_response",
                encode(&PullResponse {
                    snapshots: vec![Snapshot { record_id: "s".into(), kind: Kind::Person, document: vec![5, 6] }],
                    changes: sample_push().changes,
                    cursor: Cursor::Changes { after: 7 },
                    more: false,
                    remaining: 0,
                    scope: vec!["440106012".into()],
                }),
            ),
            ("digest", encode(&DigestResponse { records: 2, total: vec![6; 32], buckets: vec![vec![7; 32]; 2] })),
            ("heads", encode(&HeadsRequest { buckets: vec![0, 15] })),
            (
                "heads_response",
                encode(&HeadsResponse { records: vec![RecordHeads { record_id: "r".into(), heads: vec![8; 32] }] }),
            ),
            ("fetch", encode(&FetchRequest { record_ids: vec!["r".into()] })),
            ("fetch_response", encode(&FetchResponse { snapshots: vec![] })),
        ];
        let rendered: Vec<String> =
            cases.iter().map(|(name, bytes)| format!("{name}: {}", hex::encode(bytes))).collect();
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/wire-v1.txt");
        if std::env::var_os("GRIDSYNC_WRITE_FIXTURES").is_some() {
            std::fs::write(path, rendered.join("\n") + "\n").unwrap();
        }
        let fixture = std::fs::read_to_string(path).unwrap();
        assert_eq!(rendered.join("\n"), fixture.trim_end(), "wire encoding changed: bump the protocol version");
    }

    #[test]
    fn byte_strings_longer_than_the_decoder_scratch_round_trip() {
        let big = RemoteChange {
            record_id: "r".into(),
            kind: Kind::Person,
            bytes: (0..1_000_000u32).map(|n| n as u8).collect(),
        };
        let push = PushRequest { batch_id: "b".into(), changes: vec![big] };
        assert_eq!(decode::<PushRequest>(&encode(&push)).unwrap(), push);
    }

    #[test]
    fn round_trip_and_version_refusal() {
        let push = sample_push();
        let bytes = encode(&push);
        assert_eq!(decode::<PushRequest>(&bytes).unwrap(), push);
        let mut newer = bytes.clone();
        newer[3] = 2;
        assert_eq!(decode::<PushRequest>(&newer), Err(WireError::UnsupportedVersion { major: 2 }));
        assert_eq!(decode::<PushRequest>(b"GSY"), Err(WireError::Truncated));
        assert_eq!(decode::<PushRequest>(b"HTTP/1.1 200"), Err(WireError::BadMagic));
        // A large batch is compressed as a whole.
        let big = PushRequest { batch_id: "b".into(), changes: vec![push.changes[0].clone(); 200] };
        let encoded = encode(&big);
        assert_eq!(encoded[5], FLAG_ZSTD);
        assert!(encoded.len() < 200 * 40, "{}", encoded.len());
        assert_eq!(decode::<PushRequest>(&encoded).unwrap(), big);
    }

    #[test]
    fn a_zip_bomb_is_refused() {
        let payload = vec![0u8; MAX_PAYLOAD + 10];
        let mut bomb = b"GSY\x01\x00\x01".to_vec();
        bomb.extend(zstd::bulk::compress(&payload, 19).unwrap());
        assert!(bomb.len() < MAX_ENVELOPE);
        assert_eq!(decode::<PushRequest>(&bomb), Err(WireError::TooLarge));
    }

    #[test]
    fn a_declared_huge_byte_string_fails_without_allocating_it() {
        let bytes = encode(&sample_push());
        assert_eq!(bytes[5], 0, "small enough to stay uncompressed");
        // The change bytes `85 6f 4a 83 01 02 03` are a 7-byte string: header 0x47.
        let at = bytes.windows(2).position(|w| w == [0x47, 0x85]).unwrap();
        let mut hostile = bytes[..at].to_vec();
        hostile.extend_from_slice(&[0x5b, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00]); // 4 GiB
        hostile.extend_from_slice(&bytes[at + 1..]);
        assert!(decode::<PushRequest>(&hostile).is_err());
    }

    proptest! {
        /// Untrusted bytes never panic the decoder.
        #[test]
        fn decoding_arbitrary_bytes_never_panics(tail in prop::collection::vec(any::<u8>(), 0..512), flags in 0u8..4) {
            let mut bytes = b"GSY\x01\x00".to_vec();
            bytes.push(flags);
            bytes.extend(tail);
            let _ = decode::<PushRequest>(&bytes);
            let _ = decode::<PullResponse>(&bytes);
            let _ = decode::<EnrolRequest>(&bytes);
        }

        /// Corrupting a valid envelope gives an error or a valid message, never a panic.
        #[test]
        fn corrupted_envelopes_fail_cleanly(position in 0usize..64, value in any::<u8>()) {
            let mut bytes = encode(&PushRequest { batch_id: "b".into(), changes: vec![sample_push().changes[0].clone(); 20] });
            let at = position % bytes.len();
            bytes[at] = value;
            let _ = decode::<PushRequest>(&bytes);
        }
    }
}
