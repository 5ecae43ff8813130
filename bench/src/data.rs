//! The seeded, realistic data every arm stores: households of 1 to 6 persons with Chinese
//! names and valid ID numbers, visits and incidents, in grids of about 300 households,
//! the size of a real 网格.

use std::collections::BTreeSet;

use gridsync_core::sample::{Sample, follow_up};
use gridsync_core::{AreaCode, FollowUp, Household, Incident, Person, Step, Visit};

pub const TOWNSHIP: &str = "440106012";
const HOUSEHOLDS_PER_GRID: usize = 300;

#[derive(Debug)]
pub struct Dataset {
    pub households: Vec<Household>,
    /// Each person with the index of their household.
    pub persons: Vec<(usize, Person)>,
    /// Each visit with the index of the household visited.
    pub visits: Vec<(usize, Visit)>,
    /// Incidents with the follow-ups that bring them to their status.
    pub incidents: Vec<(Incident, Vec<FollowUp>)>,
    /// Grid codes (15 digits), in order.
    pub grids: Vec<String>,
}

impl Dataset {
    /// About `records` records (households, persons, visits and incidents together).
    pub fn generate(records: usize, seed: u64) -> Self {
        let mut sample = Sample::new(seed);
        let mut data =
            Dataset { households: vec![], persons: vec![], visits: vec![], incidents: vec![], grids: vec![] };
        let mut id_numbers = BTreeSet::new();
        while data.len() < records {
            let n = data.households.len();
            if n.is_multiple_of(HOUSEHOLDS_PER_GRID) {
                data.grids.push(format!(
                    "{TOWNSHIP}{:03}{:03}",
                    3 + n / (HOUSEHOLDS_PER_GRID * 20),
                    1 + n / HOUSEHOLDS_PER_GRID % 20
                ));
            }
            let area = micro_grid(data.grids.last().expect("a grid"));
            data.households.push(sample.household(&area, n as u32));
            for member in 0..1 + sample.below(6) {
                let relationship = if member == 0 { "02" } else { *sample.pick(&["10", "20", "30", "50"]) };
                let person = sample.person(&area, Some(("", relationship)));
                // An ID number drawn twice would be the same person (same record id).
                if id_numbers.insert(person.id_number.clone()) {
                    data.persons.push((n, person));
                }
            }
            if n.is_multiple_of(2) {
                let visit = sample.visit(
                    &area,
                    gridsync_core::VisitTarget::Household(String::new()),
                    1_760_000_000_000,
                    "w-bench",
                );
                data.visits.push((n, visit));
            }
            if n.is_multiple_of(10) {
                let at = 1_760_000_000_000 + n as i64;
                // A grid worker's own steps: the phone that registers them takes no
                // step of the center's (docs/merge.md, "Roles").
                let steps: &[Step] = match sample.below(3) {
                    0 => &[Step::Report],
                    1 => &[Step::Report, Step::MarkUrgent],
                    _ => &[Step::Report, Step::ResolveOnSite],
                };
                let timeline = steps.iter().map(|s| follow_up(*s, "w-bench", at)).collect();
                data.incidents.push((sample.incident(&area, n as u32, at), timeline));
            }
        }
        data
    }

    pub fn len(&self) -> usize {
        self.households.len() + self.persons.len() + self.visits.len() + self.incidents.len()
    }
}

/// The micro-grid (17 digits) where a grid's records live.
pub fn micro_grid(grid: &str) -> AreaCode {
    AreaCode::parse("area_code", &format!("{grid}01")).expect("a valid micro-grid")
}

/// Pinyin initials of a name (王芳 → wf), first reading of each character: what an app
/// without gridsync's search keys would compute.
pub fn initials(name: &str) -> String {
    use pinyin::ToPinyin;
    name.to_pinyin().flatten().filter_map(|p| p.plain().chars().next()).collect()
}

/// The searches a grid worker types, drawn from the data: two-character names, pinyin
/// initials and the last four digits of ID numbers.
pub fn queries(data: &Dataset, count: usize, seed: u64) -> Vec<(&'static str, String)> {
    let mut sample = Sample::new(seed);
    let two_char: Vec<&Person> = data.persons.iter().map(|(_, p)| p).filter(|p| p.name.chars().count() == 2).collect();
    (0..count)
        .map(|n| {
            let person = &data.persons[sample.below(data.persons.len() as u64) as usize].1;
            match n % 3 {
                0 => ("汉字 name", two_char[sample.below(two_char.len() as u64) as usize].name.clone()),
                1 => ("initials", initials(&person.name)),
                _ => {
                    let id = person.id_number.as_deref().expect("sample persons have ID numbers");
                    ("ID tail", id[id.len() - 4..].to_owned())
                }
            }
        })
        .collect()
}
