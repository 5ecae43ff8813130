//! The genesis change of each record kind.
//!
//! Every record of a kind starts from the same change: a fixed actor and timestamp that
//! create `kind`, the schema version `v` and every nested object of the schema. Its bytes
//! are fixture files the binary carries, so every device and every release starts a
//! record from a byte-identical change: two phones creating the same person offline
//! share its nested objects instead of creating them twice concurrently (automerge would
//! then show only one of them). A test rebuilds each change and compares it with its
//! fixture, so a change of schema or of automerge's encoding cannot slip in unnoticed:
//! a schema change means a new version and a new fixture file, never an edited one.

use automerge::{ActorId, Automerge, ObjType, ROOT, transaction::CommitOptions, transaction::Transactable};

use crate::model::{FieldKind, Kind};

/// The actor of every genesis change. Never used by a device.
pub const GENESIS_ACTOR: [u8; 16] = *b"gridsync-genesis";

/// The document schema version this build writes into new records.
pub const SCHEMA_VERSION: u64 = 1;

/// The genesis change bytes of `kind` at [`SCHEMA_VERSION`], as carried in the binary.
pub fn genesis_change(kind: Kind) -> &'static [u8] {
    match kind {
        Kind::Household => include_bytes!("../../genesis/household-v1.amc"),
        Kind::Person => include_bytes!("../../genesis/person-v1.amc"),
        Kind::Visit => include_bytes!("../../genesis/visit-v1.amc"),
        Kind::Incident => include_bytes!("../../genesis/incident-v1.amc"),
    }
}

/// Builds the genesis change of `kind` from its schema. Only tests call this: records
/// start from the carried bytes.
pub fn build_genesis_change(kind: Kind) -> Vec<u8> {
    let mut doc = Automerge::new().with_actor(ActorId::from(GENESIS_ACTOR));
    let mut tx = doc.transaction();
    let built = (|| {
        tx.put(ROOT, "kind", kind.as_str())?;
        tx.put(ROOT, "v", SCHEMA_VERSION)?;
        for field in kind.schema().object_fields() {
            let obj_type = match field.kind {
                FieldKind::Text => ObjType::Text,
                FieldKind::Timeline => ObjType::List,
                _ => ObjType::Map,
            };
            tx.put_object(ROOT, field.name, obj_type)?;
        }
        Ok::<_, automerge::AutomergeError>(())
    })();
    built.expect("genesis ops on a fresh document cannot fail");
    tx.commit_with(CommitOptions::default().with_time(0));
    doc.get_last_local_change().expect("the genesis transaction made a change").raw_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails when the schema or automerge's encoding changed the genesis bytes. Run with
    /// `GRIDSYNC_WRITE_GENESIS=1` only when adding a new schema version's fixtures.
    #[test]
    fn carried_genesis_matches_the_schema() {
        for kind in Kind::ALL {
            let built = build_genesis_change(kind);
            if std::env::var_os("GRIDSYNC_WRITE_GENESIS").is_some() {
                let path = format!("{}/genesis/{}-v{SCHEMA_VERSION}.amc", env!("CARGO_MANIFEST_DIR"), kind.as_str());
                std::fs::write(path, &built).unwrap();
                continue;
            }
            assert_eq!(built, genesis_change(kind), "genesis of {kind} changed: add a new schema version");
        }
    }
}
