//! The systemd unit a township installs (`center/deploy/gridsync-center.service`):
//! systemd itself checks it, with its command pointed at the binary just built, and the
//! promises docs/security.md makes of it are in it.

use std::process::Command;

const UNIT: &str = include_str!("../deploy/gridsync-center.service");

#[test]
fn the_unit_restarts_the_center_caps_its_memory_and_passes_systemd_analyze() {
    for line in ["Restart=always", "MemoryMax=1G", "NoNewPrivileges=yes", "ProtectSystem=strict", "UMask=0077"] {
        assert!(UNIT.lines().any(|l| l == line), "the unit lacks {line}");
    }
    let dir = tempfile::TempDir::new().expect("a temporary folder");
    let binary = env!("CARGO_BIN_EXE_gridsync-center");
    let unit: String = UNIT
        .lines()
        .map(|line| match line.strip_prefix("ExecStart=/usr/local/bin/gridsync-center") {
            Some(args) => format!("ExecStart={binary}{args}\n"),
            None => format!("{line}\n"),
        })
        .collect();
    let path = dir.path().join("gridsync-center.service");
    std::fs::write(&path, unit).expect("write the unit");
    let output = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze (Debian package systemd, installed by scripts/setup)");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success() && stderr.trim().is_empty(), "systemd-analyze verify: {stderr}");
}
