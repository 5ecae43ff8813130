//! Grid workers as the township registers them: a role (网格员, 网格长), an employment
//! (专职, 兼职) and an area scope; and the township's policy for them. What a role may do
//! is in core's merge rules (`gridsync_core::roles`).

use gridsync_core::{Duties, Policy, Role, Scope};

use crate::storage::{StorageError, Tx, WorkerRow};

/// Where the township's policy is kept (JSON of [`Policy`]).
const META_POLICY: &str = "policy";

/// 专职 or 兼职.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Employment {
    FullTime,
    PartTime,
}

impl Employment {
    pub fn as_str(self) -> &'static str {
        match self {
            Employment::FullTime => "full_time",
            Employment::PartTime => "part_time",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        [Employment::FullTime, Employment::PartTime].into_iter().find(|e| e.as_str() == code)
    }

    pub fn zh(self) -> &'static str {
        match self {
            Employment::FullTime => "专职",
            Employment::PartTime => "兼职",
        }
    }
}

/// A grid worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Worker {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub employment: Employment,
    pub scope: Scope,
}

impl Worker {
    /// A worker as stored; `None` when the row holds what this version does not know.
    pub fn from_row(row: WorkerRow) -> Option<Self> {
        Some(Worker {
            role: Role::parse(&row.role).filter(|role| Role::WORKERS.contains(role))?,
            employment: Employment::parse(&row.employment)?,
            scope: Scope::new(row.scope).ok()?,
            id: row.id,
            name: row.name,
        })
    }

    /// Whether all of this worker's area lies within `scope` (a staff member's).
    pub fn within(&self, scope: &Scope) -> bool {
        self.scope.prefixes().iter().all(|prefix| scope.covers(prefix))
    }

    pub fn row(&self) -> WorkerRow {
        WorkerRow {
            id: self.id.clone(),
            name: self.name.clone(),
            role: self.role.as_str().to_owned(),
            employment: self.employment.as_str().to_owned(),
            scope: self.scope.prefixes().to_vec(),
        }
    }
}

/// Parses a worker's role as the command line gives it.
pub fn parse_worker_role(code: &str) -> Result<Role, String> {
    Role::parse(code)
        .filter(|role| Role::WORKERS.contains(role))
        .ok_or_else(|| "a worker's role is grid_worker (网格员) or grid_chief (网格长)".to_owned())
}

/// The township's policy for its grid workers (the default until one is set).
pub fn policy(tx: &mut dyn Tx) -> Result<Policy, StorageError> {
    Ok(tx.meta(META_POLICY)?.and_then(|bytes| serde_json::from_slice(&bytes).ok()).unwrap_or_default())
}

pub fn set_policy(tx: &mut dyn Tx, policy: Policy) -> Result<(), StorageError> {
    let bytes = serde_json::to_vec(&policy).map_err(|e| StorageError::Failed(e.to_string()))?;
    tx.set_meta(META_POLICY, &bytes)
}

/// What worker `role` may do under the township's policy.
pub fn duties(tx: &mut dyn Tx, role: Role) -> Result<Duties, StorageError> {
    Ok(Duties::new(role, policy(tx)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worker(prefixes: &[&str]) -> Worker {
        let scope = Scope::new(prefixes.iter().map(|p| (*p).to_owned())).unwrap_or_default();
        Worker {
            id: "w".into(),
            name: "网格员".into(),
            role: Role::GridWorker,
            employment: Employment::FullTime,
            scope,
        }
    }

    #[test]
    fn a_worker_is_within_a_scope_only_when_all_their_areas_are() {
        let village = Scope::new(["440106012003".to_owned()]).unwrap_or_default();
        assert!(worker(&["440106012003001"]).within(&village));
        assert!(worker(&["440106012003001", "440106012003002"]).within(&village));
        // A worker who also covers another village is not this staff member's to manage.
        assert!(!worker(&["440106012003001", "440106012004001"]).within(&village));
        assert!(!worker(&["440106012"]).within(&village), "a township-wide worker is wider than a village");
    }
}
