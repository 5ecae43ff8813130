//! A phone or a center as a process of its own, for the kill -9 trials in
//! `scenarios/crash.rs`. It reports on stdout, one line per durable step, so the test
//! knows exactly what was committed before it killed the process:
//!
//! - `gridsync-proc phone DB KEY_HEX SEED HOUSEHOLDS INCIDENT`: edits at random, printing
//!   `wrote ACK` (the acknowledged write as JSON, see `oracle::Ack`) after each committed
//!   write and `synced` after each completed sync.
//! - `gridsync-proc center DB ADDR`: serves the center on loopback, printing `listening`.
//! - `gridsync-proc import DB KEY_HEX ROWS`: imports batches of ROWS households, one
//!   transaction each, printing `imported N` (households in the store) after each commit.
//!
//! - `gridsync-proc upload DB KEY_HEX`: syncs (4 KiB photo chunks) until no photo waits,
//!   then prints `uploaded`.
//!
//! Logs (every level) go to stderr, for the test to check they hold no personal data.
//!
//! Crash points (`scenarios/crash_points.rs`): with `GRIDSYNC_STOP_AT=NAME` the process
//! prints `stopped at NAME` when it reaches that crash point and waits there to be
//! killed; with `GRIDSYNC_PANIC_AT=NAME` it panics there instead.

#![allow(clippy::unwrap_used)] // a failure here is a failed trial, seen by the test

use std::time::Duration;

use gridsync_core::client::{CancelFlag, NoProgress, SyncClient};
use gridsync_core::{AreaCode, DbKey, Store};
use gridsync_tests::workload::{Shared, Workload};

fn main() {
    tracing_subscriber::fmt().with_writer(std::io::stderr).with_max_level(tracing::Level::TRACE).init();
    if let Ok(name) = std::env::var("GRIDSYNC_STOP_AT") {
        let at = name.clone();
        fail::cfg_callback(name, move || {
            println!("stopped at {at}");
            loop {
                std::thread::park();
            }
        })
        .unwrap();
    }
    if let Ok(name) = std::env::var("GRIDSYNC_PANIC_AT") {
        fail::cfg(name, "panic").unwrap();
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("phone") => phone(&args[1..]),
        Some("center") => center(&args[1..]),
        Some("import") => import(&args[1..]),
        Some("upload") => upload(&args[1..]),
        _ => panic!("usage: gridsync-proc phone|center|import|upload …"),
    }
}

fn phone(args: &[String]) {
    let [db, key, seed, households, incident] = args else { panic!("phone DB KEY SEED HOUSEHOLDS INCIDENT") };
    let key: [u8; 32] = hex::decode(key).unwrap().try_into().unwrap();
    let mut store = Store::open(db, DbKey::Raw(&key)).unwrap();
    let client = SyncClient::for_store(&store, gridsync_tests::config()).unwrap();
    let shared = Shared { households: households.split(',').map(str::to_owned).collect(), incident: incident.clone() };
    let area = AreaCode::parse("area_code", &format!("{}01", gridsync_tests::GRID_ONE)).unwrap();
    let mut workload = Workload::new(seed.parse().unwrap(), area, shared);
    loop {
        for _ in 0..3 {
            let ack = workload.edit_store(&mut store).unwrap();
            println!("wrote {}", serde_json::to_string(&ack).unwrap());
        }
        // A failed sync (the center may be down too) is retried on the next round.
        if client.sync(&mut store, &NoProgress, &CancelFlag::default()).is_ok() {
            println!("synced");
        }
    }
}

fn import(args: &[String]) {
    let [db, key, rows] = args else { panic!("import DB KEY ROWS") };
    let key: [u8; 32] = hex::decode(key).unwrap().try_into().unwrap();
    let rows: u32 = rows.parse().unwrap();
    let mut store = Store::open(db, DbKey::Raw(&key)).unwrap();
    let area = AreaCode::parse("area_code", &format!("{}01", gridsync_tests::GRID_ONE)).unwrap();
    // Rows differ from every earlier process's: the same values written by one device in
    // the same second make byte-identical changes, which the change-log audit counts.
    let mut total = store.heads_in_area("").unwrap().len() as u32;
    let mut sample = gridsync_core::sample::Sample::new(u64::from(total));
    loop {
        let batch: Vec<_> = (0..rows).map(|n| sample.household(&area, total + n)).collect();
        store.batch(|b| batch.into_iter().try_for_each(|household| b.create(household).map(drop))).unwrap();
        total += rows;
        println!("imported {total}");
    }
}

fn upload(args: &[String]) {
    let [db, key] = args else { panic!("upload DB KEY") };
    let key: [u8; 32] = hex::decode(key).unwrap().try_into().unwrap();
    let mut store = Store::open(db, DbKey::Raw(&key)).unwrap();
    let config = gridsync_core::client::ClientConfig { blob_chunk_bytes: 4 << 10, ..gridsync_tests::config() };
    let client = SyncClient::for_store(&store, config).unwrap();
    loop {
        // A failed sync (the center may be down too) is tried again.
        let synced = client.sync(&mut store, &NoProgress, &CancelFlag::default()).is_ok();
        if synced && store.pending_blobs(1).unwrap().is_empty() {
            println!("uploaded");
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn center(args: &[String]) {
    let [db, addr] = args else { panic!("center DB ADDR") };
    // The port may still be held for a moment by the process this one replaces.
    let mut attempts = 0;
    let _running = loop {
        let center = gridsync_center::Center::open_url(db).unwrap();
        let rates = gridsync_center::limits::Rates::default();
        match gridsync_center::RunningCenter::serve(center, addr, None, rates) {
            Ok(running) => break running,
            Err(err) if attempts < 100 => {
                attempts += 1;
                tracing::debug!(%err, "retrying to listen");
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(err) => panic!("{err}"),
        }
    };
    println!("listening");
    loop {
        std::thread::park();
    }
}
