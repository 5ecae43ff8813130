//! One operation alone, for a profiler or a before/after figure (hidden flags, see
//! bench/README.md): `perf record --call-graph dwarf -- gridsync-bench --apply-only`.

use gridsync_core::sample::Sample;
use gridsync_core::store::RemoteChange;
use gridsync_core::sync::wire::Snapshot;
use tempfile::TempDir;

use crate::arms::Arm;
use crate::arms::gridsync::Gridsync;
use crate::data::Dataset;
use crate::measure::{Latencies, timed};
use crate::phone::apply_rate;
use crate::{PHONE_SLOWDOWN, gridsync_store, on_a_phone, scope_of_persons, sync};

/// A phone that imported `size` records' households and persons, in its own folder.
fn imported(size: usize) -> (TempDir, Dataset, Gridsync) {
    let data = Dataset::generate(size, size as u64);
    let dir = TempDir::new().expect("a temporary folder");
    let mut phone = Gridsync::new(gridsync_store(&dir.path().join("phone.db")));
    let ((), took) = timed(|| phone.import_register(&data));
    println!("imported {} records in {:.2} s", data.households.len() + data.persons.len(), took.as_secs_f64());
    (dir, data, phone)
}

pub fn import(size: usize) {
    imported(size);
}

/// The imported records' changes applied on another phone in pages of 500, then the
/// same records as snapshots, as a fresh phone's first sync receives them.
pub fn apply(size: usize) {
    let (dir, _, source) = imported(size);
    let changes: Vec<RemoteChange> =
        source.store.changes_after(0, u32::MAX).expect("changes").into_iter().map(|(_, c)| c).collect();
    let mut fresh = gridsync_store(&dir.path().join("fresh.db"));
    let rate = in_pages(&changes, |page| fresh.apply_remote(page).map(drop));
    println!("applied {} changes at {rate:.0} changes/s", changes.len());
    let snapshots: Vec<Snapshot> = changes
        .iter()
        .map(|c| Snapshot {
            record_id: c.record_id.clone(),
            kind: c.kind,
            document: source.store.export_document(&c.record_id).expect("a document"),
        })
        .collect();
    let mut fresh = gridsync_store(&dir.path().join("fresh-snapshots.db"));
    let rate = in_pages(&snapshots, |page| fresh.apply_snapshots(page).map(drop));
    println!("applied {} snapshots at {rate:.0} records/s", snapshots.len());
}

/// Items per second, `apply` given pages of 500.
fn in_pages<T>(items: &[T], mut apply: impl FnMut(&[T]) -> gridsync_core::Result<()>) -> f64 {
    apply_rate(items.len(), || {
        for page in items.chunks(500) {
            apply(page).expect("apply a page");
        }
    })
}

/// 2,000 committed single-field edits of households after the import.
pub fn edit(size: usize) {
    let (_dir, data, mut phone) = imported(size);
    let mut edits = Latencies::default();
    let mut sample = Sample::new(99);
    for n in 0..2_000 {
        let index = sample.below(data.households.len() as u64) as usize;
        edits.record(|| phone.edit_address(&data, index, &format!("幸福路{n}号")));
    }
    println!("edit p50 {:.3} ms, p99 {:.3} ms", edits.quantile_ms(0.5), edits.quantile_ms(0.99));
}

/// A fresh phone's first sync of a scope of `persons` persons, as in the full run.
pub fn first_sync(persons: usize) {
    let data = scope_of_persons(persons);
    let (transfer, wall, cpu) = sync::first_sync(&data);
    println!(
        "first sync of a fresh phone: {} persons, {} records, {:.2} s on loopback, phone CPU {cpu:.2} s, \
         {:.0} s on a phone {PHONE_SLOWDOWN}x slower on Regular 2G",
        data.persons.len(),
        data.len(),
        wall.as_secs_f64(),
        on_a_phone(transfer, cpu),
    );
}

/// Five syncs with nothing new once `size` records reached the center.
pub fn idle_sync(size: usize) {
    let data = Dataset::generate(size, size as u64);
    let walls = sync::idle_sync_walls(&data, 5);
    let shown: Vec<String> = walls.iter().map(|w| format!("{:.1} ms", w.as_secs_f64() * 1e3)).collect();
    println!("idle sync at {} records: {}", data.len(), shown.join(", "));
}
