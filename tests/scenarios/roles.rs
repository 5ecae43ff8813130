//! Roles in the merge rules (docs/merge.md, "Roles"): a phone takes only its worker's
//! steps; the center refuses any other, from a tampered app or a worker whose role
//! changed while offline, and the phone keeps the refused change in its quarantine,
//! visible; the center's steps come from the console by a staff member's own actor.

use gridsync_center::workers::{Employment, Worker};
use gridsync_core::sample::{Sample, follow_up};
use gridsync_core::{AreaCode, Duties, Error, Incident, IncidentStatus, Policy, Role, Scope, Step};
use gridsync_tests::{GRID_ONE, Phone, TestCenter};

fn micro() -> AreaCode {
    AreaCode::parse("area_code", &format!("{GRID_ONE}01")).unwrap()
}

fn status(phone: &Phone, incident: &str) -> IncidentStatus {
    phone.store.get::<Incident>(incident).unwrap().record.status()
}

fn center_status(center: &TestCenter, incident: &str) -> IncidentStatus {
    center.replica().get::<Incident>(incident).unwrap().record.status()
}

/// A reported incident, synced.
fn reported(phone: &mut Phone, worker: &str, seed: u64) -> String {
    let incident = phone.store.create(Sample::new(seed).incident(&micro(), 1, 1_767_000_000_000)).unwrap();
    phone.store.append_follow_up(&incident, follow_up(Step::Report, worker, 1_767_000_001_000)).unwrap();
    phone.sync().unwrap();
    incident
}

fn put_worker(center: &TestCenter, id: &str, role: Role) {
    let scope = Scope::new([GRID_ONE.to_owned()]).unwrap();
    let worker = Worker { id: id.into(), name: "网格长".into(), role, employment: Employment::PartTime, scope };
    center.running.with(|c| c.put_worker(&worker)).unwrap();
}

#[test]
fn a_phone_takes_only_its_workers_steps_and_the_center_refuses_the_rest() {
    let center = TestCenter::start();
    let mut phone = center.phone("w-one", &center.url());
    assert_eq!(phone.store.duties(), Some(Duties::new(Role::GridWorker, Policy::default())), "told at enrolment");
    let incident = reported(&mut phone, "w-one", 1);

    // The phone refuses the center's step itself, with a typed error.
    let refused = phone.store.append_follow_up(&incident, follow_up(Step::Accept, "w-one", 1_767_000_002_000));
    assert!(matches!(refused, Err(Error::StepNotYours { step: Step::Accept, role: Role::GridWorker })), "{refused:?}");
    assert_eq!(refused.unwrap_err().zh(), "“受理”不由网格员办理");

    // A tampered app that believes itself a dispatcher: its step travels, the center
    // refuses it, and the phone keeps it in quarantine where the worker sees it.
    phone.store.set_duties(Duties::new(Role::Dispatcher, Policy::default())).unwrap();
    phone.store.append_follow_up(&incident, follow_up(Step::Accept, "w-one", 1_767_000_002_000)).unwrap();
    let report = phone.sync().unwrap();
    assert_eq!(report.quarantined, 1);
    let quarantined = phone.store.quarantined().unwrap();
    assert_eq!(quarantined.len(), 1);
    assert_eq!(
        (quarantined[0].record_id.as_str(), quarantined[0].code.as_str()),
        (incident.as_str(), "step_not_allowed")
    );
    let reason_zh = gridsync_core::zh::refusal_zh(&quarantined[0].code, &quarantined[0].reason);
    assert_eq!(reason_zh, "这一步不由本岗位办理", "what the worker reads");
    assert!(quarantined[0].reason.contains("accept"), "{}", quarantined[0].reason);
    assert_eq!(center_status(&center, &incident), IncidentStatus::Reported, "nothing of it is stored");

    // The dispatcher accepts on the console; every phone of the grid sees who did.
    center.dispatch(&incident, Step::Accept, None, 1_767_000_003_000);
    let mut colleague = center.phone("w-one-b", &center.url());
    colleague.sync().unwrap();
    let record = colleague.store.get::<Incident>(&incident).unwrap().record;
    assert_eq!(record.status(), IncidentStatus::Accepted);
    assert_eq!(record.timeline.last().map(|e| e.by.as_str()), Some("s-disp"));
    let history = colleague.store.history(&incident).unwrap();
    assert!(history.iter().any(|h| h.worker == "s-disp"), "the console's change names its staff member");
}

#[test]
fn a_chief_demoted_while_offline_has_the_verification_refused_and_quarantined() {
    let center = TestCenter::start();
    put_worker(&center, "w-chief", Role::GridChief);
    let mut chief = center.phone("w-chief", &center.url());
    let incident = reported(&mut chief, "w-chief", 2);
    chief.store.append_follow_up(&incident, follow_up(Step::ResolveOnSite, "w-chief", 1_767_000_002_000)).unwrap();
    chief.sync().unwrap();

    // Offline, the chief verifies; meanwhile the township makes them a grid worker.
    chief.store.append_follow_up(&incident, follow_up(Step::Verify, "w-chief", 1_767_000_003_000)).unwrap();
    put_worker(&center, "w-chief", Role::GridWorker);
    let report = chief.sync().unwrap();
    assert_eq!(report.quarantined, 1);
    assert_eq!(chief.store.quarantined().unwrap()[0].code, "step_not_allowed");
    assert_eq!(center_status(&center, &incident), IncidentStatus::Completed);
    // The phone still shows its own step (kept, not erased); the center's record does not.
    assert_eq!(status(&chief, &incident), IncidentStatus::Verified);
}

#[test]
fn grid_workers_call_back_only_where_the_township_allows_it() {
    let center = TestCenter::start();
    let mut before = center.phone("w-one", &center.url());
    let incident = reported(&mut before, "w-one", 3);
    before.store.append_follow_up(&incident, follow_up(Step::ResolveOnSite, "w-one", 1_767_000_002_000)).unwrap();
    before.sync().unwrap();
    let refused = before.store.append_follow_up(&incident, follow_up(Step::CallBack, "w-one", 1_767_000_003_000));
    assert!(matches!(refused, Err(Error::StepNotYours { step: Step::CallBack, .. })), "{refused:?}");

    center.running.with(|c| c.set_policy(Policy { workers_call_back: true })).unwrap();
    let mut after = center.phone("w-one-b", &center.url());
    after.sync().unwrap();
    after.store.append_follow_up(&incident, follow_up(Step::CallBack, "w-one-b", 1_767_000_004_000)).unwrap();
    let report = after.sync().unwrap();
    assert_eq!(report.quarantined, 0);
    assert_eq!(center_status(&center, &incident), IncidentStatus::Verified);
}
