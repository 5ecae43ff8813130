//! Record ids: UUIDv7 for new records, and for a person with an identity document an
//! id derived from the document with HMAC-SHA256 under the township key, so two phones
//! that register the same person offline create the same record.

use ring::hmac;
use uuid::Uuid;

use crate::model::IdType;

/// A fresh, time-ordered record id.
pub fn new_record_id() -> String {
    Uuid::now_v7().to_string()
}

/// The township's secret for deriving person ids. Without it an id number cannot be
/// guessed from a record id.
#[derive(Clone)]
pub struct TownshipKey(hmac::Key);

impl TownshipKey {
    pub fn new(secret: &[u8]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }

    /// The id of the person holding document `number` of type `id_type`: the first 16
    /// bytes of HMAC-SHA256 over a versioned, unambiguous encoding, as a UUIDv8.
    pub fn person_id(&self, id_type: IdType, number: &str) -> String {
        let mut message = Vec::with_capacity(64);
        message.extend_from_slice(b"gridsync/person-id/v1\0");
        message.extend_from_slice(id_type.as_str().as_bytes());
        message.push(0);
        message.extend_from_slice(number.as_bytes());
        let tag = hmac::sign(&self.0, &message);
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&tag.as_ref()[..16]);
        Uuid::new_v8(bytes).to_string()
    }
}

impl std::fmt::Debug for TownshipKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TownshipKey(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_stable_and_keyed() {
        let a = TownshipKey::new(b"township-a");
        let b = TownshipKey::new(b"township-b");
        let id = a.person_id(IdType::ResidentId, "11010519491231002X");
        assert_eq!(id, a.person_id(IdType::ResidentId, "11010519491231002X"));
        assert_ne!(id, b.person_id(IdType::ResidentId, "11010519491231002X"));
        assert_ne!(id, a.person_id(IdType::Passport, "11010519491231002X"));
        assert_eq!(Uuid::parse_str(&id).unwrap().get_version_num(), 8);
        assert_eq!(Uuid::parse_str(&new_record_id()).unwrap().get_version_num(), 7);
    }
}
