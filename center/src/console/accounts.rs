//! Staff accounts, sign-in and the audit log, over the center's storage (either
//! backend). What a role may do is decided here and in the merge rules, never by a page.

use gridsync_core::{Duties, Policy, Role, Scope};
use ring::rand::{SecureRandom, SystemRandom};

use super::password;
use crate::center::Center;
use crate::storage::{AuditRow, SessionRow, StaffRow, StorageError, Tx};

/// Failed logins in a row that lock an account, and for how long.
pub const LOCK_AFTER: i64 = 5;
pub const LOCKED_FOR_MS: i64 = 15 * 60 * 1_000;
/// How long a session lasts without signing in again (a working day).
pub const SESSION_MS: i64 = 8 * 60 * 60 * 1_000;

/// Parses a staff member's role as the command line gives it.
pub fn parse_staff_role(code: &str) -> Result<Role, String> {
    Role::parse(code)
        .filter(|role| Role::STAFF.contains(role))
        .ok_or_else(|| "a staff role is admin (管理员), dispatcher (调度员) or leader (领导)".to_owned())
}

/// A signed-in member of staff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staff {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub scope: Scope,
}

impl Staff {
    /// The incident steps their role takes (staff are not bound by the workers' policy).
    pub fn duties(&self) -> Duties {
        Duties::new(self.role, Policy::default())
    }
}

/// A session just opened: the token goes in the cookie (only its hash is stored), the
/// CSRF token in every form of the session.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub token: String,
    pub csrf: String,
    pub staff: Staff,
    pub expires_at: i64,
}

/// Why a sign-in was refused. Unknown accounts and wrong passwords say the same.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginRefusal {
    #[error("wrong account or password")]
    WrongCredentials,
    #[error("the account is locked after too many failed logins; try again later")]
    Locked { until: i64 },
    #[error("the center failed: {0}")]
    Storage(String),
}

impl From<StorageError> for LoginRefusal {
    fn from(err: StorageError) -> Self {
        LoginRefusal::Storage(err.to_string())
    }
}

fn random_token() -> Result<String, StorageError> {
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes).map_err(|_| StorageError::Failed("no system randomness".into()))?;
    Ok(hex::encode(bytes))
}

fn token_hash(token: &str) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref().to_vec()
}

/// Writes one row of the audit log in a transaction of its own (an action whose own
/// write is elsewhere, or that writes nothing: a reveal, a download).
pub fn record(center: &Center, staff: &str, action: &str, target: &str, detail: &str, at: i64) -> Result<(), String> {
    center.write(|tx| audit(tx, at, staff, action, target, detail)).map_err(|e| e.to_string())
}

pub(crate) fn audit(
    tx: &mut dyn Tx,
    at: i64,
    staff: &str,
    action: &str,
    target: &str,
    detail: &str,
) -> Result<(), StorageError> {
    tx.add_audit(&AuditRow {
        at,
        staff_id: staff.to_owned(),
        action: action.to_owned(),
        target: target.to_owned(),
        detail: detail.to_owned(),
    })
}

fn staff_of(row: StaffRow) -> Option<Staff> {
    Some(Staff {
        id: row.id,
        name: row.name,
        role: Role::parse(&row.role).filter(|role| Role::STAFF.contains(role))?,
        scope: Scope::new(row.scope).ok()?,
    })
}

/// An account as an administrator sets it.
#[derive(Debug, Clone, Copy)]
pub struct Account<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub role: Role,
    /// Area-code prefixes: a township code or narrower.
    pub scope: &'a [String],
    pub password: &'a str,
}

/// Adds a member of staff, or replaces their name, role, scope and password (which also
/// lifts a lockout). Audited as done by `by` (`cli` from the command line).
pub fn add_staff(center: &Center, by: &str, account: Account<'_>, now: i64) -> Result<(), String> {
    let Account { id, name, role, scope, password: new_password } = account;
    if id.is_empty() || id.len() > 64 || id.chars().any(|c| c.is_control() || c == ',') {
        return Err("a staff id is 1 to 64 characters, without control characters".into());
    }
    let scope = Scope::new(scope.iter().cloned()).map_err(|e| e.to_string())?;
    let password_hash = password::hash(new_password)?;
    let row = StaffRow {
        id: id.to_owned(),
        name: name.to_owned(),
        role: role.as_str().to_owned(),
        scope: scope.prefixes().to_vec(),
        password_hash,
        failed_logins: 0,
        locked_until: None,
    };
    center
        .write(|tx| {
            tx.put_staff(&row)?;
            audit(tx, now, by, "staff.set", id, &format!("{} {}", role.as_str(), scope.prefixes().join(",")))
        })
        .map_err(|e| e.to_string())
}

/// Signs a member of staff in. Five wrong passwords in a row lock the account for 15
/// minutes; every attempt is audited (never the password).
pub fn login(center: &Center, id: &str, given: &str, now: i64) -> Result<NewSession, LoginRefusal> {
    let row = center.read(|tx| tx.staff(id))?;
    let Some(row) = row else {
        // The same work as for a real account: timing does not tell who exists.
        password::verify(given, password::DECOY);
        return Err(LoginRefusal::WrongCredentials);
    };
    if let Some(until) = row.locked_until.filter(|until| *until > now) {
        center.write(|tx| audit(tx, now, id, "login.locked", id, ""))?;
        return Err(LoginRefusal::Locked { until });
    }
    if !password::verify(given, &row.password_hash) {
        let failed = row.failed_logins + 1;
        let locked_until = (failed >= LOCK_AFTER).then_some(now + LOCKED_FOR_MS);
        center.write(|tx| {
            tx.set_login_failures(id, if locked_until.is_some() { 0 } else { failed }, locked_until)?;
            audit(tx, now, id, "login.failed", id, &format!("{failed} in a row"))
        })?;
        return Err(match locked_until {
            Some(until) => LoginRefusal::Locked { until },
            None => LoginRefusal::WrongCredentials,
        });
    }
    let staff = staff_of(row).ok_or_else(|| LoginRefusal::Storage("the stored account cannot be read".into()))?;
    let (token, csrf) = (random_token()?, random_token()?);
    let expires_at = now + SESSION_MS;
    center.write(|tx| {
        tx.set_login_failures(id, 0, None)?;
        tx.put_session(&token_hash(&token), &SessionRow { staff_id: id.to_owned(), csrf: csrf.clone(), expires_at })?;
        audit(tx, now, id, "login", id, "")
    })?;
    Ok(NewSession { token, csrf, staff, expires_at })
}

/// The member of staff a session token belongs to, with the session's CSRF token, while
/// it has not expired.
pub fn session(center: &Center, token: &str, now: i64) -> Result<Option<(Staff, String)>, StorageError> {
    let hash = token_hash(token);
    let Some(session) = center.read(|tx| tx.session(&hash))? else { return Ok(None) };
    if session.expires_at <= now {
        center.write(|tx| tx.delete_session(&hash))?;
        return Ok(None);
    }
    let staff = center.read(|tx| tx.staff(&session.staff_id))?.and_then(staff_of);
    Ok(staff.map(|staff| (staff, session.csrf)))
}

/// Ends a session.
pub fn logout(center: &Center, token: &str, staff: &str, now: i64) -> Result<(), StorageError> {
    center.write(|tx| {
        tx.delete_session(&token_hash(token))?;
        audit(tx, now, staff, "logout", staff, "")
    })
}

/// The newest lines of the audit log (for the 管理员).
pub fn audit_log(center: &Center, limit: u32) -> Result<Vec<AuditRow>, StorageError> {
    center.read(|tx| tx.audit_log(limit))
}
