//! Soak: hundreds of phones with random connectivity against one center, each editing
//! records of its own and records its whole grid shares. At the end every replica's
//! digest equals the center's, every change is there once, and the center counted no
//! error of its own. Prints the throughput and latencies it saw.
//! `GRIDSYNC_SOAK_PHONES` / `GRIDSYNC_SOAK_ROUNDS` (or `GRIDSYNC_LONG=1`) run it longer.

use std::time::{Duration, Instant};

use gridsync_core::AreaCode;
use gridsync_core::client::ClientConfig;
use gridsync_core::sample::Sample;
use gridsync_tests::oracle::Oracle;
use gridsync_tests::proxy::{FaultProxy, Schedule};
use gridsync_tests::workload::{Shared, Workload};
use gridsync_tests::{Figures, Phone, TestCenter, config, env_count, refusals};

const GRIDS: u64 = 10;

fn grid(n: u64) -> String {
    format!("440106012005{:03}", n % GRIDS)
}

/// The `q`-quantile of sorted `values`.
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    sorted.get(((sorted.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or_default()
}

#[test]
fn hundreds_of_phones_with_random_connectivity_converge() {
    let phones_count = env_count("GRIDSYNC_SOAK_PHONES", 220);
    let rounds = env_count("GRIDSYNC_SOAK_ROUNDS", 3);
    let mut figures = Figures::new("soak");
    let center = TestCenter::start();
    // The phones of each grid reach the center through their own flaky link.
    let proxies: Vec<FaultProxy> = (0..GRIDS).map(|_| FaultProxy::start(center.running.addr)).collect();
    center.running.with(|c| {
        for g in 0..GRIDS {
            c.set_worker(&format!("w-grid{g}"), "网格员", &[grid(g)]).unwrap();
        }
    });
    let patient = ClientConfig { retries: 2, ..config() };
    let mut phones: Vec<Phone> = (0..phones_count)
        .map(|n| {
            let code = center.code(&format!("w-grid{}", n % GRIDS));
            Phone::enrol(&proxies[(n % GRIDS) as usize].url(), &code, patient.clone())
        })
        .collect();
    let area = |n: u64| AreaCode::parse("area_code", &format!("{}01", grid(n))).unwrap();
    let shared: Vec<Shared> = (0..GRIDS).map(|g| Shared::create(&mut phones[g as usize], &area(g), g)).collect();
    for phone in phones.iter_mut().take(GRIDS as usize) {
        phone.sync().unwrap();
    }
    for phone in &mut phones {
        phone.sync().unwrap();
    }
    for (g, proxy) in proxies.iter().enumerate() {
        let link = Schedule { seed: g as u64, drop_response: 3, cut_request: 3, delay: 10, duplicate: 3 };
        proxy.faults.set_schedule(Some(link));
    }

    let started = Instant::now();
    let workers: Vec<_> = phones
        .into_iter()
        .enumerate()
        .map(|(n, mut phone)| {
            let n = n as u64;
            let mut work = Workload::new(n, area(n), shared[(n % GRIDS) as usize].clone());
            std::thread::spawn(move || {
                let mut rng = Sample::new(n);
                let (mut latencies, mut failed, mut acks) = (Vec::new(), 0u64, Vec::new());
                for _ in 0..rounds {
                    for _ in 0..=rng.below(3) {
                        acks.push(work.edit(&mut phone).unwrap());
                    }
                    // Out of coverage about one round in four.
                    if rng.below(4) == 0 {
                        continue;
                    }
                    // A failed sync waited as long as the worker saw: its time counts too.
                    let begun = Instant::now();
                    failed += u64::from(phone.sync().is_err());
                    latencies.push(begun.elapsed());
                }
                (phone, latencies, failed, acks)
            })
        })
        .collect();
    let mut phones = Vec::new();
    let mut latencies = Vec::new();
    // The writes acknowledged during the timed span, all and per grid.
    let mut oracle = Oracle::new();
    let mut per_grid: Vec<Oracle> = (0..GRIDS).map(|_| Oracle::new()).collect();
    for (n, worker) in workers.into_iter().enumerate() {
        let (phone, seen, failed, acks) = worker.join().expect("a phone's thread");
        phones.push(phone);
        latencies.extend(seen);
        figures.add("failed_syncs", failed);
        per_grid[n % GRIDS as usize].extend(acks.iter().cloned());
        oracle.extend(acks);
    }
    let elapsed = started.elapsed();
    latencies.sort();

    // Coverage returns everywhere: everything reaches everyone.
    for proxy in &proxies {
        proxy.faults.set_schedule(None);
        figures.faults += u64::from(proxy.faults.injected());
    }
    for _ in 0..2 {
        for phone in &mut phones {
            phone.sync().unwrap();
        }
    }
    for phone in &mut phones {
        assert!(phone.verify().unwrap().equal_before, "a replica's digest differs from the center's");
    }
    figures.audit(center.audit(), &phones.iter().collect::<Vec<_>>());
    // Every acknowledged write on the center, and on a phone of its grid.
    figures.check(&oracle, &[("center", &center.replica().store)]);
    for (grid, writes) in per_grid.iter().enumerate() {
        figures.check_again(writes, &[("a phone of the grid", &phones[grid].store)]);
    }
    let center_errors = center.internal_errors();
    assert_eq!(center_errors, 0, "the center failed requests itself");
    figures.cases = latencies.len() as u64;
    figures.refused = refusals(&center);
    figures.note("phones", phones.len());
    figures.note("changes", center.changes());
    // Rates over the span they measure: the syncs and writes of the timed rounds only.
    figures.note("syncs_per_s", format!("{:.1}", latencies.len() as f64 / elapsed.as_secs_f64()));
    figures.note("writes_per_s", format!("{:.1}", oracle.len() as f64 / elapsed.as_secs_f64()));
    for (name, q) in [("p50_ms", 0.5), ("p90_ms", 0.9), ("p99_ms", 0.99), ("max_ms", 1.0)] {
        figures.note(name, quantile(&latencies, q).as_millis());
    }
    figures.note("center_errors", center_errors);
    figures.report();
}
