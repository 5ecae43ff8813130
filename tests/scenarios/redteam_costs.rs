//! A stolen phone, round 2: changes that cost the center more than they weigh. Each is
//! refused by what it declares or would cost, before automerge walks it, with its
//! typed code; nothing it sent is stored; an honest phone of the same grid syncs after
//! each, and the time of that sync is printed beside the attack (docs/security.md,
//! "A stolen phone").

use std::time::Instant;

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, Automerge, ObjType, ROOT, ReadDoc, Value};
use gridsync_core::chunk;
use gridsync_core::rules::{MAX_BATCH_OPS, MAX_CHANGE_OPS, MAX_RECORD_OPS};
use gridsync_core::sample::{Sample, follow_up};
use gridsync_core::store::RemoteChange;
use gridsync_core::sync::wire::{self, ErrorBody, ErrorCode, HeadsRequest, RejectCode};
use gridsync_core::{IdType, Kind, Step};
use gridsync_tests::raw::{RawDevice, forged_change, raw_device};
use gridsync_tests::{Figures, Phone, TestCenter};

use crate::redteam::{micro, push};

/// The attacker, the honest phone beside it and the figures of the run.
struct Run {
    center: TestCenter,
    honest: Phone,
    household: String,
    attacker: RawDevice,
    actor: String,
    figures: Figures,
}

impl Run {
    fn start() -> Self {
        let center = TestCenter::start();
        let mut honest = center.phone("w-one", &center.url());
        let household = honest.store.create(Sample::new(70).household(&micro(), 1)).unwrap();
        honest.sync().unwrap();
        let actor = hex::encode([0x6au8; 16]);
        let attacker = raw_device(&center, "w-one", &actor);
        Self { center, honest, household, attacker, actor, figures: Figures::new("costs bounded") }
    }

    /// Pushes `changes`, which must be refused with `status` and `code` and store
    /// nothing; then the honest phone edits and syncs, and its sync's time is noted.
    fn refused(&mut self, what: &'static str, changes: Vec<RemoteChange>, status: u16, code: Option<RejectCode>) {
        let stored = self.center.changes();
        let started = Instant::now();
        let (answered, codes, message) = push(&self.center, &mut self.attacker, changes);
        let refused_in = started.elapsed();
        assert_eq!(answered, status, "{what}: {codes:?} {message}");
        if let Some(code) = code {
            assert!(!codes.is_empty() && codes.iter().all(|c| *c == code), "{what}: {codes:?}, expected {code:?}");
        }
        assert_eq!(self.center.changes(), stored, "{what}: nothing stored");
        self.figures.cases += 1;
        self.figures.refused += 1;
        self.honest_syncs(what, refused_in);
    }

    fn honest_syncs(&mut self, what: &'static str, refused_in: std::time::Duration) {
        let number = 100 + self.figures.cases as u32;
        self.honest.store.create(Sample::new(73).household(&micro(), number)).unwrap();
        let started = Instant::now();
        assert_eq!(self.honest.sync().unwrap().pushed, 1, "{what}: the honest phone syncs after it");
        self.figures.note(
            what,
            format!("the attack took {} ms, honest sync {} ms", refused_in.as_millis(), started.elapsed().as_millis()),
        );
    }

    /// One change of the household by the attacker, writing `text` into its notes.
    fn notes_written(&self, text: &str) -> RemoteChange {
        forged_change(&self.center, &self.household, Kind::Household, &self.actor, "w-one", |tx| {
            let notes = match tx.get(ROOT, "notes")? {
                Some((Value::Object(ObjType::Text), notes)) => notes,
                other => panic!("{other:?}"),
            };
            tx.splice_text(&notes, 0, 0, text)
        })
    }

    /// `count` changes of the household, one after another, each inserting `ops / 2`
    /// characters into its notes and deleting them again: honest ops, within every
    /// limit a change has, and notes that stay valid.
    fn chained(&self, count: usize, ops: usize) -> Vec<RemoteChange> {
        let held = self.center.running.with(|c| c.record_doc(&self.household)).unwrap().unwrap();
        let mut doc = Automerge::load(&held.save()).unwrap();
        doc.set_actor(ActorId::from(hex::decode(&self.actor).unwrap()));
        let notes = match doc.get(ROOT, "notes").unwrap() {
            Some((Value::Object(ObjType::Text), notes)) => notes,
            other => panic!("{other:?}"),
        };
        (0..count)
            .map(|_| {
                let mut tx = doc.transaction();
                tx.splice_text(&notes, 0, 0, &"a".repeat(ops / 2)).unwrap();
                tx.splice_text(&notes, 0, (ops / 2) as isize, "").unwrap();
                tx.commit_with(CommitOptions::default().with_message("w-one").with_time(1_767_000_000_000));
                let bytes = doc.get_last_local_change().unwrap().raw_bytes().to_vec();
                RemoteChange { record_id: self.household.clone(), kind: Kind::Household, bytes }
            })
            .collect()
    }
}

#[test]
fn changes_are_bounded_by_what_they_cost_before_they_are_walked() {
    let mut run = Run::start();

    // 170 bytes that declare 10⁹ ops: read from the header, never parsed.
    let small = run.notes_written(&"长".repeat(50));
    let billion = RemoteChange { bytes: chunk::lengthen_runs(&small.bytes, 50, 1_000_000_000).unwrap(), ..small };
    assert!(billion.bytes.len() < 400, "{} bytes", billion.bytes.len());
    run.refused("a change declaring 10^9 ops", vec![billion], 413, None);

    // Changes each within its bound, too many ops together for one batch.
    let per_change = MAX_CHANGE_OPS - 1;
    let over_batch = run.chained((MAX_BATCH_OPS as usize) / per_change + 1, per_change);
    run.refused("a batch over its ops", over_batch, 413, None);

    // Batches each within their bound, growing one record past its ops (a deleted
    // character is still held: half of each change's ops stay in the document).
    let all = run.chained(2 * (MAX_RECORD_OPS as usize) / per_change + 2, per_change);
    let per_batch = (MAX_BATCH_OPS as usize) / per_change;
    let mut chunks = all.chunks(per_batch);
    let mut accepted = 0;
    let mut refused = false;
    let mut refused_in = std::time::Duration::ZERO;
    for batch in chunks.by_ref() {
        let started = Instant::now();
        let (status, codes, _) = push(&run.center, &mut run.attacker, batch.to_vec());
        refused_in = started.elapsed();
        if status == 200 {
            accepted += batch.len();
            continue;
        }
        assert_eq!((status, codes.first()), (422, Some(&RejectCode::TooLarge)), "{codes:?}");
        refused = true;
        break;
    }
    assert!(refused, "the record grew to {accepted} changes of {per_change} ops");
    assert!((accepted * (per_change / 2)) as u64 <= MAX_RECORD_OPS);
    run.figures.cases += 1;
    run.figures.refused += 1;
    run.honest_syncs("a record grown past its ops", refused_in);
    run.figures.report();
}

#[test]
fn a_change_that_would_brick_its_record_is_refused() {
    let mut run = Run::start();
    let honest = run.notes_written("屋顶漏水屋顶漏水");
    let split = RemoteChange { bytes: chunk::split_action_run(&honest.bytes).unwrap(), ..honest };
    run.refused("ops encoded as automerge never would", vec![split], 422, Some(RejectCode::Malformed));
    // A new phone's first sync still loads every record of the grid.
    let mut fresh = run.center.phone("w-one-b", &run.center.url());
    fresh.sync().unwrap();
    assert!(fresh.verify().unwrap().equal_before);
    run.figures.report();
}

#[test]
fn a_follow_up_is_read_one_way_everywhere() {
    let mut run = Run::start();
    let incident = run.honest.store.create(Sample::new(71).incident(&micro(), 1, 1_767_000_000_000)).unwrap();
    run.honest.store.append_follow_up(&incident, follow_up(Step::Report, "w-one", 1_767_000_000_001)).unwrap();
    run.honest.sync().unwrap();
    // 受理 in a comment's clothing: the role check read `comment`, the fold `accept`.
    let twice = forged_change(&run.center, &incident, Kind::Incident, &run.actor, "w-one", |tx| {
        let timeline = match tx.get(ROOT, "timeline")? {
            Some((Value::Object(ObjType::List), list)) => list,
            other => panic!("{other:?}"),
        };
        let length = tx.length(&timeline);
        tx.insert(
            &timeline,
            length,
            r#"{"id":"0190f0f0-0000-7000-8000-0000000000c1","at":2,"by":"w-one","step":"comment","note":"","step":"accept"}"#,
        )
    });
    run.refused("a follow-up with `step` twice", vec![twice], 422, Some(RejectCode::Invalid));
    let state = run.honest.store.get::<gridsync_core::Incident>(&incident).unwrap().record.state();
    assert_eq!(state.status, gridsync_core::IncidentStatus::Reported);
    run.figures.report();
}

#[test]
fn a_person_refused_answers_alike_whether_the_number_is_registered_or_not() {
    let mut run = Run::start();
    let area_two = gridsync_core::AreaCode::parse("area_code", &format!("{}01", gridsync_tests::GRID_TWO)).unwrap();
    let mut elsewhere = run.center.phone("w-two", &run.center.url());
    let mut sample = Sample::new(72);
    let registered = sample.person(&area_two, None);
    let unregistered = sample.person(&area_two, None);
    elsewhere.store.create(registered.clone()).unwrap();
    elsewhere.sync().unwrap();
    let key = gridsync_core::ids::TownshipKey::new(&run.center.running.with(|c| c.township_key()));
    let answers: Vec<_> = [registered, unregistered]
        .iter()
        .map(|person| {
            let id = key.person_id(IdType::ResidentId, person.id_number.as_deref().unwrap());
            // A person of the attacker's own grid, from its genesis, with a phone number
            // and no name: invalid. (Written on no record, then sent under the id.)
            let unheld = "0190f0f0-0000-7000-8000-0000000000c2";
            let mut probe = forged_change(&run.center, unheld, Kind::Person, &run.actor, "w-one", |tx| {
                tx.put(ROOT, "area_code", micro().as_str())?;
                tx.put(ROOT, "phone", "1")
            });
            probe.record_id = id;
            let stored = run.center.changes();
            let started = Instant::now();
            let (status, codes, _) = push(&run.center, &mut run.attacker, vec![probe]);
            assert_eq!(run.center.changes(), stored);
            (status, codes, started.elapsed())
        })
        .collect();
    let refused_in = answers.iter().map(|(_, _, took)| *took).max().unwrap_or_default();
    let answers: Vec<_> = answers.into_iter().map(|(status, codes, _)| (status, codes)).collect();
    assert_eq!(answers[0], answers[1], "the answer tells nothing of the register");
    assert_eq!(answers[0], (422, vec![RejectCode::Invalid]));
    run.figures.cases += 2;
    run.figures.refused += 2;
    run.honest_syncs("an ID-number probe", refused_in);
    run.figures.report();
}

#[test]
fn a_heads_request_names_each_bucket_once_at_most() {
    let mut run = Run::start();
    for buckets in [vec![0u8; 3_000_000], vec![16], (0..17).map(|b| b % 16).collect()] {
        let body = wire::encode(&HeadsRequest { buckets });
        assert!(body.len() < 20_000, "{} bytes", body.len());
        let started = Instant::now();
        let (status, answer) = run.attacker.post(&run.center, "/v1/heads", &body);
        assert_eq!(status, 400);
        assert_eq!(wire::decode::<ErrorBody>(&answer).unwrap().code, ErrorCode::BadRequest);
        run.figures.cases += 1;
        run.figures.refused += 1;
        run.honest_syncs("a heads request of 3M buckets", started.elapsed());
    }
    let (status, _) =
        run.attacker.post(&run.center, "/v1/heads", &wire::encode(&HeadsRequest { buckets: (0..16).collect() }));
    assert_eq!(status, 200, "every bucket once is a request an honest phone makes");
    run.figures.report();
}

#[test]
fn a_change_valid_only_once_merged_is_refused_as_the_phones_refuse_it() {
    let mut run = Run::start();
    // Written on the household's genesis alone: as its author left it, a household
    // with a phone number and nothing else (invalid); merged with the record, valid.
    let unheld = "0190f0f0-0000-7000-8000-0000000000c3";
    let mut alone = forged_change(&run.center, unheld, Kind::Household, &run.actor, "w-one", |tx| {
        tx.put(ROOT, "phone", "13800138000")
    });
    alone.record_id = run.household.clone();
    run.refused("a change valid only merged", vec![alone], 422, Some(RejectCode::Invalid));
    let mut fresh = run.center.phone("w-one-b", &run.center.url());
    fresh.sync().unwrap();
    assert!(fresh.verify().unwrap().equal_before, "the phones and the center hold the same");
    run.figures.report();
}

#[test]
fn one_address_holds_its_share_of_connections_and_no_more() {
    use std::io::Write;
    let mut run = Run::start();
    let from: std::net::IpAddr = [127, 0, 0, 2].into();
    // More slow sockets than the center serves at once, all from one address (no
    // phone needed): each sends half a request line and stops.
    let started = Instant::now();
    let slow: Vec<std::net::TcpStream> = (0..gridsync_center::serve::MAX_CONNECTIONS + 100)
        .filter_map(|_| {
            let mut stream = gridsync_tests::raw::connect_from(from, run.center.running.addr);
            stream.write_all(b"POST /v1/pull HTTP/1.1\r\nHost: x\r\n").ok().map(|()| stream)
        })
        .collect();
    assert!(slow.len() > gridsync_center::serve::MAX_CONNECTIONS, "{} sockets", slow.len());
    // Well before their headers are overdue (15 s), a phone on new connections (the
    // honest phone's kept-alive one was taken before the flood) enrols and syncs.
    let flood = started.elapsed();
    let synced = Instant::now();
    let mut fresh = run.center.phone("w-one-b", &run.center.url());
    fresh.sync().unwrap();
    assert!(started.elapsed() < gridsync_center::serve::HEADER_TIMEOUT, "the slow sockets were still open");
    run.figures.cases += 1;
    run.figures.refused += 1;
    let taken = format!(
        "the attack took {} ms, a new phone enrolled and synced in {} ms",
        flood.as_millis(),
        synced.elapsed().as_millis()
    );
    run.figures.note("slow sockets from one address, more than the center serves", taken);
    drop(slow);
    run.figures.report();
}

#[test]
fn a_device_writes_within_its_budget_for_the_day() {
    use gridsync_center::push::MAX_NEW_RECORDS_PER_DAY;
    use gridsync_core::time::china_day;
    let mut run = Run::start();
    // The attacker has registered all but one of its new records for today (set here
    // instead of sending 4,999 junk records, which the test would spend minutes on).
    let day = china_day(gridsync_core::store::system_clock());
    run.center.running.with(|c| {
        let mut tx = c.storage().write().unwrap();
        tx.add_device_writes(&run.attacker.id, day, MAX_NEW_RECORDS_PER_DAY - 1, 0).unwrap();
        tx.commit().unwrap();
    });
    let actor = ActorId::from(hex::decode(&run.actor).unwrap());
    let junk = |n: u32| {
        let mut doc = gridsync_core::doc::RecordDoc::new(Kind::Household, &actor).unwrap();
        let genesis = doc.heads();
        let author = gridsync_core::doc::Author { worker: "w-one", at: 1_767_000_000_000 };
        doc.write(&Sample::new(74).household(&micro(), n), &author).unwrap();
        let bytes = doc.changes_since(&genesis).pop().unwrap().raw_bytes().to_vec();
        RemoteChange { record_id: uuid::Uuid::now_v7().to_string(), kind: Kind::Household, bytes }
    };
    run.refused("two new records past the day's budget", vec![junk(1), junk(2)], 429, None);
    let (status, codes, message) = push(&run.center, &mut run.attacker, vec![junk(3)]);
    assert_eq!((status, codes.as_slice()), (200, [].as_slice()), "the last record of the budget: {message}");
    let (records, _) = run.center.running.with(|c| c.device_writes_today(&run.attacker.id)).unwrap();
    assert_eq!(records, MAX_NEW_RECORDS_PER_DAY, "what the township sees in `admin devices`");
    run.figures.report();
}
