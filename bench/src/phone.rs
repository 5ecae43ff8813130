//! The phone-side scenarios, run the same way on every arm: bulk create, single-field
//! edits, listings, search, and applying incoming changes.

use std::time::{Duration, Instant};

use gridsync_core::IncidentStatus;
use gridsync_core::sample::Sample;

use crate::arms::Arm;
use crate::data::{Dataset, queries};
use crate::measure::{Latencies, timed};

/// What one arm measured at one size.
#[derive(Debug, Default, Clone)]
pub struct PhoneFigures {
    pub create_per_s: f64,
    pub edit: Latencies,
    pub list_grid: Latencies,
    pub members: Latencies,
    pub incidents: Latencies,
    /// Every query, and by kind (汉字 name, initials, ID tail).
    pub search: Latencies,
    pub search_by_kind: Vec<(&'static str, Latencies)>,
}

/// How long each query scenario may run, and how many times at most and at least: the
/// naive arm takes seconds per query at 50k records.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub per_scenario: Duration,
    pub max_runs: usize,
    pub min_runs: usize,
}

fn repeat(budget: Budget, latencies: &mut Latencies, mut run: impl FnMut(usize)) {
    let start = Instant::now();
    let mut n = 0;
    while n < budget.max_runs && (n < budget.min_runs || start.elapsed() < budget.per_scenario) {
        latencies.record(|| run(n));
        n += 1;
    }
}

/// Checks an arm's answers against what the data holds, before any of its times are
/// reported: a broken listing or search must not look fast.
fn check_answers(arm: &mut dyn Arm, data: &Dataset) {
    for grid in data.grids.iter().take(5) {
        let expected = data.households.iter().filter(|h| h.area_code.as_str().starts_with(grid.as_str())).count();
        assert_eq!(arm.list_grid(grid), expected.min(100), "households of grid {grid}");
    }
    for index in (0..data.households.len()).step_by(data.households.len().div_ceil(5).max(1)) {
        let expected = data.persons.iter().filter(|(h, _)| *h == index).count();
        assert_eq!(arm.members(index), expected, "members of household {index}");
    }
    for status in [IncidentStatus::Reported, IncidentStatus::Completed] {
        let expected = data.incidents.iter().filter(|(incident, steps)| {
            let mut incident = incident.clone();
            incident.timeline = steps.clone();
            incident.status() == status
        });
        assert_eq!(arm.incidents_with_status(status), expected.count().min(100), "incidents {status:?}");
    }
    // Each query is drawn from a person of the data, who must be found.
    for (kind, query) in queries(data, 30, 13) {
        let found = arm.search(&query);
        assert!((1..=20).contains(&found), "{kind} query found {found}");
    }
}

pub fn run(arm: &mut dyn Arm, data: &Dataset, budget: Budget) -> PhoneFigures {
    let mut figures = PhoneFigures::default();
    let ((), took) = timed(|| arm.create_all(data));
    figures.create_per_s = data.len() as f64 / took.as_secs_f64();
    check_answers(arm, data);

    let mut sample = Sample::new(99);
    let households = data.households.len() as u64;
    let edits: Vec<usize> = (0..budget.max_runs).map(|_| sample.below(households) as usize).collect();
    repeat(budget, &mut figures.edit, |n| arm.edit_address(data, edits[n], &format!("幸福路{n}号")));
    let grids = &data.grids;
    repeat(budget, &mut figures.list_grid, |n| {
        arm.list_grid(&grids[n % grids.len()]);
    });
    repeat(budget, &mut figures.members, |n| {
        arm.members(edits[n]);
    });
    let statuses = [IncidentStatus::Reported, IncidentStatus::Completed];
    repeat(budget, &mut figures.incidents, |n| {
        arm.incidents_with_status(statuses[n % statuses.len()]);
    });
    let typed = queries(data, budget.max_runs, 7);
    let mut by_kind: Vec<(&'static str, Latencies)> = Vec::new();
    let start = Instant::now();
    for (n, (kind, query)) in typed.iter().enumerate() {
        if n >= budget.min_runs && start.elapsed() > budget.per_scenario {
            break;
        }
        let (_, took) = timed(|| arm.search(query));
        figures.search.push(took);
        match by_kind.iter_mut().find(|(k, _)| k == kind) {
            Some((_, latencies)) => latencies.push(took),
            None => {
                let mut latencies = Latencies::default();
                latencies.push(took);
                by_kind.push((kind, latencies));
            }
        }
    }
    figures.search_by_kind = by_kind;
    figures
}

/// Changes per second applying `count` incoming changes with `apply`.
pub fn apply_rate(count: usize, apply: impl FnOnce()) -> f64 {
    let ((), took) = timed(apply);
    count as f64 / took.as_secs_f64()
}
