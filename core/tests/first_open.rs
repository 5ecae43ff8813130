//! The process's first opens of keyed databases, made by many threads at once.
//!
//! SQLite marks itself initialised before SQLCipher's initialisation has run, so an
//! unguarded open racing the first one failed to key its database (`Store::open` →
//! a bare storage error; seen in CI). The race only exists once per process, so the
//! test runs it in fresh child processes of this same test binary.

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Barrier};

use gridsync_core::{DbKey, Store};

const CHILD: &str = "GRIDSYNC_FIRST_OPEN_CHILD";
const THREADS: usize = 16;
const PROCESSES: usize = 200;

#[test]
fn many_threads_opening_first_all_get_a_keyed_store() {
    if let Some(dir) = std::env::var_os(CHILD) {
        open_all_at_once(Path::new(&dir));
        return;
    }
    let exe = std::env::current_exe().expect("the test binary");
    for trial in 0..PROCESSES {
        let dir = tempfile::TempDir::new().expect("a temporary folder");
        let out = Command::new(&exe)
            .args(["--exact", "many_threads_opening_first_all_get_a_keyed_store", "--nocapture"])
            .env(CHILD, dir.path())
            .output()
            .expect("the child runs");
        assert!(out.status.success(), "trial {trial}: {}", String::from_utf8_lossy(&out.stdout));
    }
}

fn open_all_at_once(dir: &Path) {
    let start = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|n| {
            let (start, path) = (start.clone(), dir.join(format!("{n}.db")));
            std::thread::spawn(move || {
                start.wait();
                Store::open(&path, DbKey::Raw(&[7; 32])).map(drop).map_err(|e| format!("thread {n}: {e:?}"))
            })
        })
        .collect();
    let failures: Vec<String> = threads.into_iter().filter_map(|t| t.join().expect("no panic").err()).collect();
    assert!(failures.is_empty(), "{failures:?}");
}
