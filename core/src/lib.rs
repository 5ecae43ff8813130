//! gridsync-core: the offline-first core that grid workers (网格员) carry on their phones.
//!
//! Records (households, persons, visits, incidents) are automerge documents kept in an
//! encrypted SQLite store with typed projections for queries. This crate knows nothing
//! of FFI, HTTP servers or async runtimes; see `ARCHITECTURE.md`.

pub mod area;
pub mod chunk;
#[cfg(feature = "client")]
pub mod client;
pub mod codes;
pub mod doc;
pub mod error;
pub mod ids;
pub mod invalid;
pub mod model;
pub mod photo;
pub mod roles;
pub mod rules;
pub mod sample;
pub mod store;
pub mod sync;
pub mod time;
pub mod validate;
pub mod zh;

pub use area::{AreaCode, AreaLevel, Scope};
pub use error::{Error, Result, Rule, ValidationError};
pub use model::*;
pub use roles::{Duties, Policy, Role, StaffAction};
pub use store::{DbKey, Page, Paged, Store, Stored};
pub use validate::{Date, Gender};
