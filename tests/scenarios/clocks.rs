//! Phones whose clocks are wrong by years, in either direction: merging, ordering and
//! sync do not depend on device clocks; the display flags times that cannot be true.

use gridsync_core::sample::{Sample, follow_up};
use gridsync_core::store::system_clock;
use gridsync_core::{AreaCode, Household, Incident, IncidentStatus, Millis, Step};
use gridsync_tests::{Figures, GRID_ONE, TestCenter};

const TEN_YEARS: Millis = 10 * 365 * 86_400_000;

fn ten_years_ahead() -> Millis {
    system_clock() + TEN_YEARS
}

fn ten_years_behind() -> Millis {
    system_clock() - TEN_YEARS
}

#[test]
fn clocks_wrong_by_years_change_nothing_but_the_flags() {
    let mut figures = Figures::new("wrong clocks");
    let center = TestCenter::start();
    let mut ahead = center.phone("w-one", &center.url());
    let mut behind = center.phone("w-one-b", &center.url());
    let mut right = center.phone("w-town", &center.url());
    ahead.store.set_clock(ten_years_ahead);
    behind.store.set_clock(ten_years_behind);
    let area = AreaCode::parse("area_code", &format!("{GRID_ONE}01")).unwrap();

    // The phone in the future registers; the phone in the past edits after seeing it:
    // the later edit wins although its clock says it came ten years earlier.
    let id = ahead.store.create(Sample::new(1).household(&area, 1)).unwrap();
    let incident = ahead.store.create(Sample::new(1).incident(&area, 1, ten_years_ahead())).unwrap();
    ahead.store.append_follow_up(&incident, follow_up(Step::Report, "w-one", ten_years_ahead())).unwrap();
    ahead.sync().unwrap();
    behind.sync().unwrap();
    let mut household: Household = behind.store.get(&id).unwrap().record;
    household.address = "后改的地址1号".into();
    behind.store.replace(&id, household).unwrap();
    behind.store.append_follow_up(&incident, follow_up(Step::ResolveOnSite, "w-one-b", ten_years_behind())).unwrap();
    behind.sync().unwrap();
    ahead.sync().unwrap();
    right.sync().unwrap();
    for phone in [&ahead, &behind, &right] {
        assert_eq!(phone.store.get::<Household>(&id).unwrap().record.address, "后改的地址1号");
        let status = phone.store.get::<Incident>(&incident).unwrap().record.status();
        assert_eq!(status, IncidentStatus::Completed, "the closed loop follows causality, not clocks");
        figures.cases += 1;
    }

    // Concurrent edits of one field: every replica picks the same value and shows the
    // conflict, with the impossible times flagged.
    for (phone, value) in [(&mut ahead, "13900000001"), (&mut behind, "13900000002")] {
        let mut household: Household = phone.store.get(&id).unwrap().record;
        household.phone = Some(value.into());
        phone.store.replace(&id, household).unwrap();
    }
    for _ in 0..2 {
        for phone in [&mut ahead, &mut behind, &mut right] {
            phone.sync().unwrap();
        }
    }
    let heads = right.store.heads_in_area("").unwrap();
    let winner = right.store.get::<Household>(&id).unwrap().record.phone;
    for phone in [&mut ahead, &mut behind] {
        assert_eq!(phone.store.heads_in_area("").unwrap(), heads);
        assert_eq!(phone.store.get::<Household>(&id).unwrap().record.phone, winner);
        assert!(phone.verify().unwrap().equal_before);
    }
    let conflicts = right.store.conflicts(&id).unwrap();
    let phone_conflict = conflicts.iter().find(|c| c.field == "phone").expect("the phone conflict");
    assert_eq!(phone_conflict.values.len(), 2);
    assert!(phone_conflict.values.iter().all(|v| v.time_doubtful), "{phone_conflict:?}");

    // History runs in causal order on every replica, whatever the clocks said, and only
    // the wrong clocks' entries are flagged.
    let history = right.store.history(&id).unwrap();
    assert_eq!(history.len(), 4);
    assert_eq!(history[0].device, ahead.store.device_actor(), "the registration comes first");
    assert_eq!(history[1].device, behind.store.device_actor());
    assert!(history[1].at < history[0].at, "the later change carries the earlier clock");
    assert!(history.iter().all(|h| h.time_doubtful));
    let order =
        |entries: Vec<gridsync_core::doc::HistoryEntry>| entries.into_iter().map(|h| h.hash).collect::<Vec<_>>();
    for phone in [&ahead, &behind] {
        assert_eq!(order(phone.store.history(&id).unwrap()), order(history.clone()), "the same order everywhere");
    }
    let mut right_edit: Household = right.store.get(&id).unwrap().record;
    right_edit.notes = "时钟正常".into();
    right.store.replace(&id, right_edit).unwrap();
    let last = right.store.history(&id).unwrap().pop().unwrap();
    assert!(!last.time_doubtful, "a right clock after wrong ones is not flagged");
    figures.cases += 3;
    figures.refused = gridsync_tests::refusals(&center);
    figures.report();
}
