//! C: gridsync's store, through its public API, as an app uses it.

use gridsync_core::store::IncidentFilter;
use gridsync_core::{Household, IncidentStatus, Page, Store, VisitTarget};

use super::Arm;
use crate::data::{Dataset, TOWNSHIP};

#[derive(Debug)]
pub struct Gridsync {
    pub store: Store,
    pub households: Vec<String>,
}

impl Gridsync {
    pub fn new(store: Store) -> Self {
        Self { store, households: Vec::new() }
    }
}

impl Arm for Gridsync {
    fn create_all(&mut self, data: &Dataset) {
        for h in &data.households {
            self.households.push(self.store.create(h.clone()).expect("create household"));
        }
        for (household, p) in &data.persons {
            let mut p = p.clone();
            p.household_id = Some(self.households[*household].clone());
            self.store.create(p).expect("create person");
        }
        for (household, v) in &data.visits {
            let mut v = v.clone();
            v.target = VisitTarget::Household(self.households[*household].clone());
            self.store.create(v).expect("create visit");
        }
        for (incident, timeline) in &data.incidents {
            let id = self.store.create(incident.clone()).expect("create incident");
            for step in timeline {
                self.store.append_follow_up(&id, step.clone()).expect("follow up");
            }
        }
    }

    fn import_register(&mut self, data: &Dataset) {
        let households = self
            .store
            .batch(|batch| {
                let households = data
                    .households
                    .iter()
                    .map(|h| batch.create(h.clone()))
                    .collect::<gridsync_core::Result<Vec<_>>>()?;
                for (household, p) in &data.persons {
                    let mut p = p.clone();
                    p.household_id = Some(households[*household].clone());
                    batch.create(p)?;
                }
                Ok(households)
            })
            .expect("import");
        self.households = households;
    }

    fn edit_address(&mut self, data: &Dataset, index: usize, address: &str) {
        let household = Household { address: address.to_owned(), ..data.households[index].clone() };
        self.store.replace(&self.households[index], household).expect("edit");
    }

    fn list_grid(&mut self, grid: &str) -> usize {
        self.store.list_households(grid, &Page::first(100)).expect("list").items.len()
    }

    fn members(&mut self, index: usize) -> usize {
        self.store.household_members(&self.households[index]).expect("members").len()
    }

    fn incidents_with_status(&mut self, status: IncidentStatus) -> usize {
        let filter = IncidentFilter::Status(status);
        self.store.list_incidents(TOWNSHIP, filter, &Page::first(100)).expect("incidents").items.len()
    }

    fn search(&mut self, query: &str) -> usize {
        self.store.search_persons(query, TOWNSHIP, 20).expect("search").len()
    }
}
