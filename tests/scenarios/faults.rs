//! Random network faults between phones and the center, over many seeds: dropped
//! answers, cut requests, delays, and requests delivered again after the phone moved on.
//! Afterwards every replica converges and the center holds every change exactly once.

use gridsync_core::client::ClientConfig;
use gridsync_core::sample::Sample;
use gridsync_core::{AreaCode, Error};
use gridsync_tests::oracle::Oracle;
use gridsync_tests::proxy::{FaultProxy, Schedule};
use gridsync_tests::workload::{Shared, Workload};
use gridsync_tests::{Figures, GRID_ONE, Phone, TestCenter, config, env_count, refusals};

const ROUNDS: u64 = 6;

#[test]
fn random_faults_lose_nothing_and_duplicate_nothing() {
    let mut figures = Figures::new("network faults");
    for seed in 0..env_count("GRIDSYNC_FAULT_SEEDS", 5) {
        one_seed(seed, &mut figures);
    }
    figures.report();
}

fn one_seed(seed: u64, figures: &mut Figures) {
    let center = TestCenter::start();
    let proxy = FaultProxy::start(center.running.addr);
    let area = AreaCode::parse("area_code", &format!("{GRID_ONE}01")).unwrap();
    // One retry only, so that faults also fail whole syncs, which the next one resumes.
    let impatient = ClientConfig { retries: 1, ..config() };
    let mut phones: Vec<Phone> = ["w-one", "w-one-b", "w-town"]
        .iter()
        .map(|w| Phone::enrol(&proxy.url(), &center.code(w), impatient.clone()))
        .collect();
    let shared = Shared::create(&mut phones[0], &area, seed);
    for phone in &mut phones {
        phone.sync().unwrap();
    }
    phones[0].sync().unwrap();
    let mut workloads: Vec<Workload> =
        (0..phones.len() as u64).map(|n| Workload::new(seed * 16 + n, area.clone(), shared.clone())).collect();

    proxy.faults.set_schedule(Some(Schedule::hostile(seed)));
    let mut rng = Sample::new(seed);
    let mut failed_syncs = 0;
    let mut oracle = Oracle::new();
    for _ in 0..ROUNDS {
        for (phone, workload) in phones.iter_mut().zip(&mut workloads) {
            for _ in 0..=rng.below(4) {
                oracle.ack(workload.edit(phone).unwrap());
            }
            match phone.sync() {
                Ok(_) => {}
                Err(Error::Network { retryable: true, .. }) => failed_syncs += 1,
                Err(other) => panic!("seed {seed}: a sync failed with {other}"),
            }
            figures.cases += 1;
        }
    }
    proxy.faults.set_schedule(None);

    // The network heals: two rounds carry everything everywhere.
    for _ in 0..2 {
        for phone in &mut phones {
            phone.sync().unwrap();
        }
    }
    let replica = center.replica();
    let center_heads = replica.heads_in_area(GRID_ONE).unwrap();
    for phone in &mut phones {
        assert_eq!(phone.store.heads_in_area(GRID_ONE).unwrap(), center_heads, "seed {seed}: replicas differ");
        assert!(phone.verify().unwrap().equal_before, "seed {seed}: digests differ");
        let status = phone.store.sync_status().unwrap();
        assert_eq!((status.pending_changes, status.quarantined_changes), (0, 0), "seed {seed}");
    }
    figures.audit(center.audit(), &phones.iter().collect::<Vec<_>>());
    let mut replicas = vec![("center", &replica.store)];
    replicas.extend(phones.iter().map(|p| ("phone", &p.store)));
    figures.check(&oracle, &replicas);
    figures.faults += u64::from(proxy.faults.injected());
    figures.refused += refusals(&center);
    figures.add("failed_syncs", failed_syncs);
    figures.add("redelivered", u64::from(proxy.faults.duplicated.load(std::sync::atomic::Ordering::SeqCst)));
}
