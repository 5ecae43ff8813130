//! Sync with the township center: the wire format and request signing (sans I/O, used
//! by phone and center alike) and, with the `client` feature, the phone's HTTP client.

#[cfg(feature = "client")]
pub mod client;
pub mod enrolment_link;
pub mod sign;
pub mod wire;
