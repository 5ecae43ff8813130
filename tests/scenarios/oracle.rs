//! The oracle can fail: a write acknowledged but never made is counted lost, a record
//! created twice and a timeline entry appended twice are counted duplicated, and an
//! honest run counts neither.

use gridsync_core::sample::{Sample, follow_up};
use gridsync_core::{AreaCode, Step};
use gridsync_tests::oracle::{Ack, Oracle};
use gridsync_tests::workload::{Shared, Workload};
use gridsync_tests::{GRID_ONE, TestCenter};

#[test]
fn the_oracle_counts_an_injected_loss_and_duplicate() {
    let center = TestCenter::start();
    let mut phone = center.phone("w-one", &center.url());
    let area = AreaCode::parse("area_code", &format!("{GRID_ONE}01")).unwrap();
    let shared = Shared::create(&mut phone, &area, 7);
    let mut work = Workload::new(11, area.clone(), shared.clone());
    let mut oracle = Oracle::new();
    for _ in 0..20 {
        oracle.ack(work.edit(&mut phone).unwrap());
    }
    phone.sync().unwrap();
    let replica = center.replica();
    let honest = oracle.check(&[("center", &replica.store), ("phone", &phone.store)]);
    assert_eq!((honest.lost, honest.duplicates), (0, 0), "{:?}", honest.findings);

    // A field value acknowledged but never written (on a household no one else edits),
    // and a follow-up never appended.
    let household = phone.store.create(Sample::new(98).household(&area, 78)).unwrap();
    oracle.ack(Ack::Field {
        phone: phone.store.device_actor(),
        id: household.clone(),
        field: "address".into(),
        value: "从未写过".into(),
    });
    oracle
        .ack(Ack::FollowUp { incident: shared.incident.clone(), entry: "0190f0f0-0000-7000-8000-0000000000e1".into() });
    // The same household registered twice (a retried create that made a second record).
    let mut sample = Sample::new(99);
    let twice = sample.household(&area, 77);
    let first = phone.store.create(twice.clone()).unwrap();
    phone.store.create(twice.clone()).unwrap();
    oracle.ack(Ack::Household { id: first, area_code: twice.area_code.to_string(), household_no: twice.household_no });
    // A follow-up appended twice under one id.
    let mut entry = follow_up(Step::Comment, "w-one", 1_700_000_000_000);
    entry.id = "0190f0f0-0000-7000-8000-0000000000e2".into();
    phone.store.append_follow_up(&shared.incident, entry.clone()).unwrap();
    phone.store.append_follow_up(&shared.incident, entry.clone()).unwrap();
    oracle.ack(Ack::FollowUp { incident: shared.incident.clone(), entry: entry.id });

    let verdict = oracle.check(&[("phone", &phone.store)]);
    assert_eq!((verdict.lost, verdict.duplicates), (2, 2), "{:?}", verdict.findings);
}
