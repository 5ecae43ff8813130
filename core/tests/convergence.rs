//! Property test: replicas that edit concurrently and exchange changes through any
//! schedule (partial, duplicated, reordered deliveries) end identical once everything
//! has been delivered: same heads, same records, same projections, same conflicts,
//! same incident states, and no timeline entry lost.
//!
//! `PROPTEST_CASES=2000 cargo test -p gridsync-core --test convergence --release` runs
//! the long version.

#![allow(clippy::unwrap_used)] // a failure here is a test failure

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{Replica, grid};
use gridsync_core::sample::{Sample, follow_up, with_check_character};
use gridsync_core::store::{IncidentFilter, RemoteChange};
use gridsync_core::{AreaCode, Date, Error, Gender, Household, Incident, Kind, Page, Person, Step, Visit, VisitTarget};
use proptest::prelude::*;

/// Four people any replica may register: the same ID number on two phones must
/// become one record.
fn pool_person(index: usize, household: Option<&str>) -> Person {
    let (name, first17, gender, birth) = [
        ("王芳", "44010619900307002", Gender::Female, (1990, 3, 7)),
        ("单田芳", "44010619340612001", Gender::Male, (1934, 6, 12)),
        ("欧阳娜", "44010620010101004", Gender::Female, (2001, 1, 1)),
        ("李强", "44010619751130003", Gender::Male, (1975, 11, 30)),
    ][index];
    let mut person = Sample::new(index as u64).person(&grid(), household.map(|h| (h, "02")));
    person.name = name.into();
    person.gender = gender;
    person.birth_date = Date::new("d", birth.0, birth.1, birth.2).unwrap();
    person.id_number = Some(with_check_character(first17));
    person
}

#[derive(Debug, Clone)]
enum Delivery {
    All,
    /// Only the changes whose index has this bit pattern (a random subset).
    Subset(u64),
    Reordered(u64),
    Duplicated,
}

#[derive(Debug, Clone)]
enum Op {
    CreateHousehold {
        replica: usize,
        seed: u64,
    },
    /// A household and a member registered together in one batch.
    CreateFamily {
        replica: usize,
        seed: u64,
        who: usize,
    },
    RegisterPerson {
        replica: usize,
        who: usize,
        household: usize,
    },
    EditAddress {
        replica: usize,
        record: usize,
        value: u8,
    },
    EditNotes {
        replica: usize,
        record: usize,
        value: u8,
    },
    ToggleTag {
        replica: usize,
        record: usize,
        tag: usize,
    },
    Delete {
        replica: usize,
        record: usize,
    },
    Restore {
        replica: usize,
        record: usize,
    },
    MovePerson {
        replica: usize,
        record: usize,
        household: usize,
    },
    EditPersonPhone {
        replica: usize,
        record: usize,
        value: u8,
    },
    CreateIncident {
        replica: usize,
        seed: u64,
    },
    IncidentStep {
        replica: usize,
        record: usize,
        choice: usize,
    },
    Visit {
        replica: usize,
        household: usize,
        finding: bool,
    },
    Deliver {
        from: usize,
        to: usize,
        how: Delivery,
    },
}

fn op(replicas: usize) -> impl Strategy<Value = Op> {
    let r = 0..replicas;
    let n = 0..8usize;
    prop_oneof![
        2 => (r.clone(), any::<u64>()).prop_map(|(replica, seed)| Op::CreateHousehold { replica, seed }),
        1 => (r.clone(), any::<u64>(), 0..4usize).prop_map(|(replica, seed, who)| Op::CreateFamily { replica, seed, who }),
        2 => (r.clone(), 0..4usize, n.clone()).prop_map(|(replica, who, household)| Op::RegisterPerson { replica, who, household }),
        3 => (r.clone(), n.clone(), 0..3u8).prop_map(|(replica, record, value)| Op::EditAddress { replica, record, value }),
        2 => (r.clone(), n.clone(), any::<u8>()).prop_map(|(replica, record, value)| Op::EditNotes { replica, record, value }),
        2 => (r.clone(), n.clone(), 0..3usize).prop_map(|(replica, record, tag)| Op::ToggleTag { replica, record, tag }),
        1 => (r.clone(), n.clone()).prop_map(|(replica, record)| Op::Delete { replica, record }),
        1 => (r.clone(), n.clone()).prop_map(|(replica, record)| Op::Restore { replica, record }),
        2 => (r.clone(), n.clone(), n.clone()).prop_map(|(replica, record, household)| Op::MovePerson { replica, record, household }),
        2 => (r.clone(), n.clone(), 0..3u8).prop_map(|(replica, record, value)| Op::EditPersonPhone { replica, record, value }),
        1 => (r.clone(), any::<u64>()).prop_map(|(replica, seed)| Op::CreateIncident { replica, seed }),
        4 => (r.clone(), n.clone(), 0..8usize).prop_map(|(replica, record, choice)| Op::IncidentStep { replica, record, choice }),
        1 => (r.clone(), n.clone(), any::<bool>()).prop_map(|(replica, household, finding)| Op::Visit { replica, household, finding }),
        4 => (r.clone(), r, prop_oneof![
            Just(Delivery::All),
            any::<u64>().prop_map(Delivery::Subset),
            any::<u64>().prop_map(Delivery::Reordered),
            Just(Delivery::Duplicated),
        ]).prop_map(|(from, to, how)| Op::Deliver { from, to, how }),
    ]
}

fn scenario() -> impl Strategy<Value = (usize, Vec<Op>)> {
    (3..=5usize).prop_flat_map(|replicas| (Just(replicas), prop::collection::vec(op(replicas), 10..60)))
}

/// The ids of `kind` a replica holds, in a stable order.
fn known(replica: &Replica, kind: Kind) -> Vec<String> {
    let ids: BTreeSet<String> = replica
        .store
        .changes_after(0, u32::MAX)
        .unwrap()
        .into_iter()
        .filter(|(_, c)| c.kind == kind)
        .map(|(_, c)| c.record_id)
        .collect();
    ids.into_iter().collect()
}

fn pick(ids: &[String], index: usize) -> Option<&String> {
    (!ids.is_empty()).then(|| &ids[index % ids.len()])
}

/// Errors an operation may meet because of where the schedule left its replica: the
/// record's first change has not arrived yet, the step no longer fits, the person is
/// already registered here.
fn tolerated(result: Result<(), Error>) {
    match result {
        Ok(())
        | Err(Error::Document(_) | Error::IllegalStep { .. } | Error::AlreadyExists { .. } | Error::NotFound { .. }) => {
        }
        Err(other) => panic!("unexpected error: {other}"),
    }
}

fn deliver(from: &Replica, to: &mut Replica, how: &Delivery) {
    let mut changes: Vec<RemoteChange> =
        from.store.changes_after(0, u32::MAX).unwrap().into_iter().map(|(_, c)| c).collect();
    match how {
        Delivery::All => {}
        Delivery::Subset(bits) => {
            changes =
                changes.into_iter().enumerate().filter(|(i, _)| bits >> (i % 64) & 1 == 1).map(|(_, c)| c).collect()
        }
        Delivery::Reordered(seed) => {
            let mut sample = Sample::new(*seed);
            for i in (1..changes.len()).rev() {
                changes.swap(i, sample.below(i as u64 + 1) as usize);
            }
        }
        Delivery::Duplicated => changes.extend(changes.clone()),
    }
    // Several requests rather than one.
    for batch in changes.chunks(7) {
        to.store.apply_remote(batch).unwrap();
    }
}

fn run(replica_count: usize, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut replicas: Vec<Replica> = (0..replica_count).map(|i| Replica::new(&format!("w-{i}"))).collect();
    // Timeline entries each incident was given, by any replica.
    let mut appended: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let second_grid = AreaCode::parse("a", "44010601200300201").unwrap();
    for op in ops {
        match op {
            Op::CreateHousehold { replica, seed } => {
                let area = if seed % 2 == 0 { grid() } else { second_grid.clone() };
                replicas[*replica].store.create(Sample::new(*seed).household(&area, *seed as u32 % 1000)).unwrap();
            }
            Op::CreateFamily { replica, seed, who } => {
                // The member may be registered already on this replica: then the whole
                // batch fails and neither record is written.
                let store = &mut replicas[*replica].store;
                let before = store.heads_in_area("").unwrap();
                let family = store.batch(|batch| {
                    let household = batch.create(Sample::new(*seed).household(&grid(), *seed as u32 % 1000))?;
                    batch.create(pool_person(*who, Some(&household)))
                });
                if family.is_err() {
                    assert_eq!(store.heads_in_area("").unwrap(), before, "a failed batch wrote something");
                }
                tolerated(family.map(drop));
            }
            Op::RegisterPerson { replica, who, household } => {
                let r = &mut replicas[*replica];
                let households = known(r, Kind::Household);
                let person = pool_person(*who, pick(&households, *household).map(String::as_str));
                tolerated(r.store.create(person).map(drop));
            }
            Op::EditAddress { replica, record, value } => {
                let r = &mut replicas[*replica];
                if let Some(id) = pick(&known(r, Kind::Household), *record).cloned() {
                    tolerated(r.store.get::<Household>(&id).map(|s| s.record).and_then(|mut h| {
                        h.address = format!("幸福路{value}号");
                        r.store.replace(&id, h)
                    }));
                }
            }
            Op::EditNotes { replica, record, value } => {
                let r = &mut replicas[*replica];
                if let Some(id) = pick(&known(r, Kind::Household), *record).cloned() {
                    tolerated(r.store.get::<Household>(&id).map(|s| s.record).and_then(|mut h| {
                        h.notes.push_str(&format!("第{value}次走访。"));
                        r.store.replace(&id, h)
                    }));
                }
            }
            Op::ToggleTag { replica, record, tag } => {
                let r = &mut replicas[*replica];
                if let Some(id) = pick(&known(r, Kind::Household), *record).cloned() {
                    tolerated(r.store.get::<Household>(&id).map(|s| s.record).and_then(|mut h| {
                        let tag = ["低保户", "五保户", "出租屋"][*tag].to_owned();
                        if !h.tags.remove(&tag) {
                            h.tags.insert(tag);
                        }
                        r.store.replace(&id, h)
                    }));
                }
            }
            Op::Delete { replica, record } | Op::Restore { replica, record } => {
                let r = &mut replicas[*replica];
                let mut ids = known(r, Kind::Household);
                ids.extend(known(r, Kind::Person));
                if let Some(id) = pick(&ids, *record).cloned() {
                    let result =
                        if matches!(op, Op::Delete { .. }) { r.store.delete(&id) } else { r.store.restore(&id) };
                    tolerated(result);
                }
            }
            Op::MovePerson { replica, record, household } => {
                let r = &mut replicas[*replica];
                let households = known(r, Kind::Household);
                if let (Some(id), Some(to)) =
                    (pick(&known(r, Kind::Person), *record).cloned(), pick(&households, *household))
                {
                    let to = to.clone();
                    tolerated(r.store.get::<Person>(&id).map(|s| s.record).and_then(|mut p| {
                        p.household_id = Some(to);
                        r.store.replace(&id, p)
                    }));
                }
            }
            Op::EditPersonPhone { replica, record, value } => {
                let r = &mut replicas[*replica];
                if let Some(id) = pick(&known(r, Kind::Person), *record).cloned() {
                    tolerated(r.store.get::<Person>(&id).map(|s| s.record).and_then(|mut p| {
                        p.phone = Some(format!("1380013800{value}"));
                        r.store.replace(&id, p)
                    }));
                }
            }
            Op::CreateIncident { replica, seed } => {
                replicas[*replica]
                    .store
                    .create(Sample::new(*seed).incident(&grid(), *seed as u32 % 1000, 1_000))
                    .unwrap();
            }
            Op::IncidentStep { replica, record, choice } => {
                let r = &mut replicas[*replica];
                if let Some(id) = pick(&known(r, Kind::Incident), *record).cloned() {
                    let Ok(stored) = r.store.get::<Incident>(&id) else { continue };
                    let steps: Vec<Step> =
                        stored.record.status().next_steps().into_iter().filter(|s| *s != Step::Supervise).collect();
                    let mut entry = follow_up(steps[choice % steps.len()], "w-x", 2_000);
                    entry.deadline = Some(5_000);
                    let entry_id = r.store.append_follow_up(&id, entry).unwrap();
                    appended.entry(id).or_default().insert(entry_id);
                }
            }
            Op::Visit { replica, household, finding } => {
                let r = &mut replicas[*replica];
                if let Some(id) = pick(&known(r, Kind::Household), *household).cloned() {
                    let visit = Sample::new(1).visit(&grid(), VisitTarget::Household(id), 1_000, "w-x");
                    let visit_id = r.store.create(visit).unwrap();
                    if *finding {
                        let finding = gridsync_core::Finding { at: 1_001, by: "w-x".into(), text: "正常".into() };
                        r.store.append_finding(&visit_id, finding).unwrap();
                    }
                }
            }
            Op::Deliver { from, to, how } => {
                if from != to {
                    let (from, to) = two(&mut replicas, *from, *to);
                    deliver(from, to, how);
                }
            }
        }
    }
    // Full exchange: twice round the ring reaches everyone.
    for _ in 0..2 {
        for i in 0..replica_count {
            let (from, to) = two(&mut replicas, i, (i + 1) % replica_count);
            deliver(from, to, &Delivery::All);
        }
    }

    let reference = observe(&replicas[0]);
    for replica in &replicas[1..] {
        let observed = observe(replica);
        prop_assert_eq!(&observed.heads, &reference.heads);
        prop_assert_eq!(&observed.records, &reference.records);
        prop_assert_eq!(&observed.lists, &reference.lists);
        prop_assert_eq!(&observed.conflicts, &reference.conflicts);
    }
    for (incident, entries) in appended {
        let timeline = replicas[0].store.get::<Incident>(&incident).unwrap().record.timeline;
        let present: BTreeSet<String> = timeline.into_iter().map(|e| e.id).collect();
        prop_assert!(entries.is_subset(&present), "a timeline entry was lost");
    }
    Ok(())
}

fn two(replicas: &mut [Replica], from: usize, to: usize) -> (&Replica, &mut Replica) {
    if from < to {
        let (left, right) = replicas.split_at_mut(to);
        (&left[from], &mut right[0])
    } else {
        let (left, right) = replicas.split_at_mut(from);
        (&right[0], &mut left[to])
    }
}

/// What a replica shows: every record as read, projections through the public lists,
/// conflict lists, heads.
#[derive(Debug, PartialEq)]
struct Observed {
    heads: Vec<(String, Vec<u8>)>,
    records: Vec<String>,
    lists: Vec<String>,
    conflicts: Vec<String>,
}

fn observe(replica: &Replica) -> Observed {
    let store = &replica.store;
    let heads = store.heads_in_area("").unwrap();
    let mut records = Vec::new();
    let mut conflicts = Vec::new();
    for (id, _) in &heads {
        let kind =
            store.changes_after(0, u32::MAX).unwrap().into_iter().find(|(_, c)| &c.record_id == id).unwrap().1.kind;
        let shown = match kind {
            Kind::Household => store.get::<Household>(id).map(|s| format!("{:?}", (s.record, s.deleted, s.heads))),
            Kind::Person => store.get::<Person>(id).map(|s| format!("{:?}", (s.record, s.deleted, s.heads))),
            Kind::Visit => store.get::<Visit>(id).map(|s| format!("{:?}", (s.record, s.deleted, s.heads))),
            Kind::Incident => {
                store.get::<Incident>(id).map(|s| format!("{:?}", (s.record.state(), s.record, s.deleted, s.heads)))
            }
        };
        records.push(shown.unwrap());
        conflicts.push(format!("{id}: {:?}", store.conflicts(id).unwrap()));
    }
    let page = Page::first(500);
    let lists = vec![
        format!("{:?}", store.list_households("", &page).unwrap()),
        format!("{:?}", store.list_persons("", &page).unwrap()),
        format!("{:?}", store.list_visits("", &page).unwrap()),
        format!("{:?}", store.list_incidents("", IncidentFilter::All, &page).unwrap()),
        format!("{:?}", store.list_conflicted("", &page).unwrap()),
        format!("{:?}", store.search_persons("f", "", 500).unwrap()),
    ];
    Observed { heads, records, lists, conflicts }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(24)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), max_shrink_iters: 200, ..ProptestConfig::default() })]

    #[test]
    fn replicas_converge_whatever_the_schedule((replicas, ops) in scenario()) {
        run(replicas, &ops)?;
    }
}
