//! Cross-crate scenarios, one test binary: phones and a real center on loopback.

#![allow(clippy::unwrap_used)] // a failure here is a test failure

mod browser;
mod clocks;
mod console;
mod crash;
mod crash_points;
mod faults;
mod hostile;
mod js_client;
mod logs;
mod oracle;
mod photos;
mod process;
mod redteam;
mod redteam_costs;
mod roles;
mod security;
mod soak;
mod storage;
mod sync;
mod tls;
