//! What the console's enrolment QR code says, for a screen that shows the worker where
//! the phone is about to enrol before it does (`GridStore.enrolFromLink` enrols).

use gridsync_core::sync::enrolment_link::EnrolmentLink;

use crate::error::GridsyncError;

/// A scanned enrolment link, read.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct EnrolmentLinkInfo {
    /// The center's address, as the console's browser reached it.
    pub center_url: String,
    /// The one-time enrolment code (`XXXX-XXXX-XXXX`).
    pub code: String,
    /// Whether the link names the township CA: enrolment then trusts the center only
    /// with that CA.
    pub pins_certificate: bool,
}

/// Reads a scanned or pasted `gridsync-enrol:v1?…` link, or refuses it as
/// `InvalidInput` on `enrolment_link` (code `enrolment_link.format`, a Chinese message
/// asking for the console's QR code), never quoting what was scanned.
#[uniffi::export]
pub fn parse_enrolment_link(link: String) -> Result<EnrolmentLinkInfo, GridsyncError> {
    let link = EnrolmentLink::parse(&link).map_err(gridsync_core::Error::from)?;
    Ok(EnrolmentLinkInfo { center_url: link.center_url, code: link.code, pins_certificate: link.ca_sha256.is_some() })
}
