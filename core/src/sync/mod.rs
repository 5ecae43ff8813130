//! Sync with the township center, sans I/O: the wire format, request signing and the
//! enrolment link, used by phone and center alike. The phone's HTTP client is
//! [`crate::client`] (with the `client` feature), a layer above the store.

pub mod enrolment_link;
pub mod sign;
pub mod wire;
