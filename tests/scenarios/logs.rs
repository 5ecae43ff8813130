//! Personal data never reaches a log, and never rests unencrypted on the phone: with
//! every log level on, a day of registrations, syncs, refusals and errors is scanned for
//! every name, ID number and phone number it handled; the phone's files are scanned for
//! them and for the database key.

use std::io::Write;
use std::sync::{Arc, Mutex};

use gridsync_core::sample::{Sample, with_check_character};
use gridsync_core::{AreaCode, Error, Person, Scope};
use gridsync_tests::{Figures, GRID_ONE, GRID_TWO, TestCenter, assert_no_personal_data, personal_data};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn no_personal_data_in_any_log_line_or_unencrypted_file() {
    let captured = Captured::default();
    let sink = captured.clone();
    // Global, so the center's threads log here too (and so do the other scenarios running
    // beside this one, which is welcome).
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .try_init()
        .expect("the only test that installs a subscriber");
    let mut figures = Figures::new("personal data");

    let center = TestCenter::start();
    let mut phone = center.phone("w-one", &center.url());
    let mut other = center.phone("w-one-b", &center.url());
    let area = AreaCode::parse("area_code", &format!("{GRID_ONE}01")).unwrap();
    let mut sample = Sample::new(77);
    for n in 0..10 {
        let household = phone.store.create(sample.household(&area, n)).unwrap();
        for relationship in ["02", "10"] {
            phone.store.create(sample.person(&area, Some((&household, relationship)))).unwrap();
        }
    }
    phone.sync().unwrap();
    other.sync().unwrap();

    // Errors that carry personal data in what was typed: an ID number with a wrong check
    // character, a phone number with letters.
    let mut bad = sample.person(&area, None);
    let id_number = bad.id_number.clone().unwrap();
    let wrong = format!("{}{}", &id_number[..17], if id_number.ends_with('0') { '1' } else { '0' });
    bad.id_number = Some(wrong.clone());
    let err = phone.store.create(bad.clone()).unwrap_err();
    assert!(matches!(err, Error::Invalid(_)) && !err.to_string().contains(&wrong), "{err}");
    bad.id_number = Some(with_check_character(&id_number[..17]));
    bad.phone = Some("1380013800x".into());
    let err = phone.store.create(bad.clone()).unwrap_err();
    assert!(!err.to_string().contains("1380013800x"), "{err}");
    figures.cases += 2;

    // A person registered outside the scope: refused by the center, logged, quarantined.
    phone.store.set_scope(Scope::new([GRID_ONE, GRID_TWO]).unwrap()).unwrap();
    let outside = AreaCode::parse("area_code", &format!("{GRID_TWO}01")).unwrap();
    let stray: Person = sample.person(&outside, None);
    phone.store.create(stray.clone()).unwrap();
    assert_eq!(phone.sync().unwrap().quarantined, 1);
    figures.refused += 1;

    // Requests no client should send, refused and logged.
    let (status, _) = gridsync_tests::raw::post(center.running.addr, "/v1/push", &[], b"GSY\x01\x00\x00junk");
    assert_eq!(status, 401);
    figures.refused += 1;

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("request refused") && logs.contains("change refused"), "refusals are logged");
    let mut personal = personal_data(&phone.store);
    personal.extend([wrong, "1380013800x".into(), stray.name.clone()]);
    personal.extend(stray.id_number.clone());
    assert_no_personal_data(&logs, &personal);
    figures.cases += logs.lines().count() as u64;
    figures.note("values_checked", personal.len());

    // At rest: the database, its WAL and whatever else the phone wrote hold none of it
    // in the clear, nor the key.
    let key = phone.key;
    let dir = phone.path.parent().unwrap().to_owned();
    let mut needles: Vec<Vec<u8>> = personal.iter().map(|p| p.as_bytes().to_vec()).collect();
    needles.extend([key.to_vec(), hex::encode(key).into_bytes(), hex::encode_upper(key).into_bytes()]);
    let check_files = |when: &str| {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            for needle in &needles {
                assert!(!bytes.windows(needle.len()).any(|w| w == needle.as_slice()), "{when}: plaintext in {path:?}");
            }
        }
    };
    check_files("while open");
    let closed = phone.close();
    check_files("after closing");
    drop(closed);
    figures.report();
}
