//! What a resident ID number says, for forms that fill in birth date and gender as the
//! worker types the number: the worker types it once, and no app writes GB 11643 again.

use gridsync_core::Gender;

use crate::error::GridsyncError;

/// A valid resident ID number's facts.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct IdNumberInfo {
    /// `YYYY-MM-DD`
    pub birth_date: String,
    pub gender: Gender,
    /// The GB/T 2260 code of the issuing county (its first six digits). That the county
    /// exists is not checked; its province is.
    pub region: String,
    /// The province-level division, e.g. `广东省`.
    pub province: String,
}

/// Reads a resident ID number as typed (full-width digits and spaces around it are
/// fine), or names the rule it breaks (`InvalidInput` on `id_number`: length, check
/// character, province, birth date).
#[uniffi::export]
pub fn parse_id_number(number: String) -> Result<IdNumberInfo, GridsyncError> {
    let facts = gridsync_core::validate::parse_id_number(&number).map_err(gridsync_core::Error::from)?;
    Ok(IdNumberInfo {
        birth_date: facts.birth_date.to_string(),
        gender: facts.gender,
        region: facts.region,
        province: facts.province.to_owned(),
    })
}
