//! The township console: the center's own staff (not grid workers) in a browser. This
//! first part holds what every page will stand on: staff accounts with a role and an
//! area scope, Argon2id passwords, sessions with their CSRF token, lockout after failed
//! logins, and the audit log. The pages come on top of it (issue 12).

pub mod accounts;
pub mod password;
