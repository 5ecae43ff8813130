//! The township console: the center's own staff (not grid workers) in a browser. This
//! first part holds what every page will stand on: staff accounts with a role and an
//! area scope, Argon2id passwords, sessions with their CSRF token, lockout after failed
//! logins, and the audit log; and the first pages on top of it (`web`): sign-in and the
//! incident board.

pub mod accounts;
pub mod incidents;
pub mod password;
pub mod web;
