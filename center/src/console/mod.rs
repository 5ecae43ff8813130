//! The township console: the center's own staff (not grid workers) in a browser. Staff
//! accounts with a role and an area scope, Argon2id passwords, sessions with their CSRF
//! token, lockout after failed logins, and the audit log (`accounts`); the center's
//! incident steps (`incidents`); what the pages read (`read_model`); and the pages
//! (`web` with the board and incident details, `people`, `grid`, `devices`, `exports`,
//! `conflicts`).

pub mod accounts;
pub mod conflicts;
pub mod devices;
pub mod exports;
pub mod grid;
pub mod incidents;
pub mod password;
pub mod people;
pub mod web;
