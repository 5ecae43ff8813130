//! A grid worker's day in random steps: records of the phone's own, and edits to records
//! every phone of the grid shares (the same households and one incident), so concurrent
//! edits meet at the center. Used by the fault, crash and soak suites.

use gridsync_core::sample::{Sample, follow_up};
use gridsync_core::{AreaCode, Error, Household, Result, Step, Store};

use crate::Phone;
use crate::oracle::Ack;

/// The records every phone of a grid edits.
#[derive(Debug, Clone)]
pub struct Shared {
    pub households: Vec<String>,
    pub incident: String,
}

impl Shared {
    /// Creates the shared records on `phone` (not synced yet).
    pub fn create(phone: &mut Phone, area: &AreaCode, seed: u64) -> Self {
        let store = &mut phone.store;
        let mut sample = Sample::new(seed);
        let households = (0..3).map(|n| store.create(sample.household(area, n)).expect("shared household")).collect();
        let incident = store.create(sample.incident(area, 1, 1_700_000_000_000)).expect("shared incident");
        let report = follow_up(Step::Report, store.worker(), 1_700_000_000_000);
        store.append_follow_up(&incident, report).expect("report the incident");
        Self { households, incident }
    }
}

/// Two phones of grid one (workers `w-one` and `w-one-b`) sharing records created on
/// the first and synced to both: the start of the kill trials.
pub fn two_phones_sharing(center: &crate::TestCenter, area: &AreaCode) -> (Phone, Phone, Shared) {
    let mut phone = center.phone("w-one", &center.url());
    let shared = Shared::create(&mut phone, area, 1);
    phone.sync().expect("the first phone syncs");
    let mut other = center.phone("w-one-b", &center.url());
    other.sync().expect("the second phone syncs");
    (phone, other, shared)
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
    /// Workloads with different seeds never write the same value (each draws its numbers
    /// from its own range of 10,000), so every edit makes exactly one change; their
    /// household numbers (from 1,000 up) never meet the shared households' (0 to 2) or
    /// each other's, so a household number seen twice is a duplicate the oracle counts.
    pub fn new(seed: u64, area: AreaCode, shared: Shared) -> Self {
        let number = u32::try_from(seed).ok().and_then(|s| s.checked_mul(10_000)).expect("a seed below 400,000");
        Self { rng: Sample::new(seed), area, shared, number: number + 1_000 }
    }

    /// One committed edit on `phone`, chosen at random; returns what it acknowledged.
    pub fn edit(&mut self, phone: &mut Phone) -> Result<Ack> {
        self.edit_store(&mut phone.store)
    }

    /// One committed edit on `store`.
    pub fn edit_store(&mut self, store: &mut Store) -> Result<Ack> {
        self.number += 1;
        match self.rng.below(5) {
            0 => {
                let household = self.rng.household(&self.area, self.number);
                let (area_code, household_no) = (household.area_code.to_string(), household.household_no.clone());
                let id = store.create(household)?;
                Ok(Ack::Household { id, area_code, household_no })
            }
            1 => {
                let household = self.rng.pick(&self.shared.households).clone();
                let person = self.rng.person(&self.area, Some((&household, "10")));
                let id_number = person.id_number.clone();
                match store.create(person) {
                    // The same ID number drawn twice: the person exists already.
                    Err(Error::AlreadyExists { .. }) => self.edit_store(store),
                    Ok(id) => Ok(Ack::Person { id, id_number }),
                    Err(other) => Err(other),
                }
            }
            2 | 3 => {
                let id = self.rng.pick(&self.shared.households).clone();
                let read = store.get::<Household>(&id)?;
                let mut household = read.record.clone();
                let (field, value) = match self.rng.below(3) {
                    0 => {
                        household.notes = format!("走访记录{}", self.number);
                        store.edit(&id, &read.heads, household)?;
                        return Ok(Ack::Text { id });
                    }
                    1 => {
                        household.address = format!("幸福路{}号", self.number);
                        ("address", serde_json::Value::String(household.address.clone()))
                    }
                    _ => {
                        household.phone = Some(format!("139{:08}", self.number));
                        ("phone", serde_json::Value::String(household.phone.clone().unwrap_or_default()))
                    }
                };
                store.edit(&id, &read.heads, household)?;
                Ok(Ack::Field { phone: store.device_actor(), id, field: field.into(), value })
            }
            _ => {
                let mut comment = follow_up(Step::Comment, store.worker(), 1_700_000_000_000);
                comment.note = format!("跟进{}", self.number);
                let entry = store.append_follow_up(&self.shared.incident, comment)?;
                Ok(Ack::FollowUp { incident: self.shared.incident.clone(), entry })
            }
        }
    }
}
