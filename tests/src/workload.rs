//! A grid worker's day in random steps: records of the phone's own, and edits to records
//! every phone of the grid shares (the same households and one incident), so concurrent
//! edits meet at the center. Used by the fault, crash and soak suites.

use gridsync_core::sample::{Sample, follow_up};
use gridsync_core::{AreaCode, Household, Result, Step};

use crate::Phone;

/// The records every phone of a grid edits.
#[derive(Debug, Clone)]
pub struct Shared {
    pub households: Vec<String>,
    pub incident: String,
}

impl Shared {
    /// Creates the shared records on `phone` (not synced yet).
    pub fn create(phone: &mut Phone, area: &AreaCode, seed: u64) -> Self {
        let mut sample = Sample::new(seed);
        let households =
            (0..3).map(|n| phone.store.create(sample.household(area, n)).expect("shared household")).collect();
        let incident = phone.store.create(sample.incident(area, 1, 1_700_000_000_000)).expect("shared incident");
        phone
            .store
            .append_follow_up(&incident, follow_up(Step::Report, phone.store.worker(), 1_700_000_000_000))
            .expect("report the incident");
        Self { households, incident }
    }
}

/// Random edits on one phone.
#[derive(Debug)]
pub struct Workload {
    rng: Sample,
    area: AreaCode,
    shared: Shared,
    number: u32,
}

impl Workload {
    pub fn new(seed: u64, area: AreaCode, shared: Shared) -> Self {
        Self { rng: Sample::new(seed), area, shared, number: 1_000 }
    }

    /// One committed edit, chosen at random; returns the record it wrote.
    pub fn edit(&mut self, phone: &mut Phone) -> Result<String> {
        self.number += 1;
        match self.rng.below(5) {
            0 => phone.store.create(self.rng.household(&self.area, self.number)),
            1 => {
                let household = self.rng.pick(&self.shared.households).clone();
                let person = self.rng.person(&self.area, Some((&household, "10")));
                phone.store.create(person)
            }
            2 | 3 => {
                let id = self.rng.pick(&self.shared.households).clone();
                let mut household: Household = phone.store.get(&id)?.record;
                match self.rng.below(3) {
                    0 => household.notes = format!("走访记录{}", self.number),
                    1 => household.address = format!("幸福路{}号", self.rng.below(500)),
                    _ => household.phone = Some(self.rng.mobile()),
                }
                phone.store.update(&id, household)?;
                Ok(id)
            }
            _ => {
                let mut comment = follow_up(Step::Comment, phone.store.worker(), 1_700_000_000_000);
                comment.note = format!("跟进{}", self.number);
                phone.store.append_follow_up(&self.shared.incident, comment)?;
                Ok(self.shared.incident.clone())
            }
        }
    }
}
