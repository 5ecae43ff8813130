//! TLS: phones pin the township CA handed over with the enrolment code, or named by its
//! hash in the console's enrolment link.

use gridsync_center::RunningCenter;
use gridsync_center::console::devices;
use gridsync_core::client::{self, CancelFlag, NoProgress, SyncClient};
use gridsync_core::sample::Sample;
use gridsync_core::sync::enrolment_link::EnrolmentLink;
use gridsync_core::{AreaCode, DbKey, Error, Store};
use gridsync_tests::{GRID_ONE, config};

#[test]
fn phones_sync_over_tls_pinning_the_township_ca() {
    let township = gridsync_center::tls::generate(&["127.0.0.1".into(), "localhost".into()]).unwrap();
    let tls = gridsync_center::tls::server_config(township.cert_pem.as_bytes(), township.key_pem.as_bytes()).unwrap();
    let dir = tempfile::TempDir::new().unwrap();
    let center =
        RunningCenter::start_with(&dir.path().join("center.db"), "127.0.0.1:0", Some(tls), Default::default()).unwrap();
    center.with(|c| {
        c.set_worker("w-one", "网格员甲", &[GRID_ONE.into()]).unwrap();
        c.set_ca_certificate(&township.ca_pem).unwrap();
    });
    let code = center.with(|c| c.issue_enrolment_code("w-one", 3_600_000)).unwrap();
    let mut store = Store::open(dir.path().join("phone.db"), DbKey::Raw(&[5; 32])).unwrap();

    // Without the CA, or with another township's, the phone trusts nothing: the
    // handshake fails before the code is sent, so the code stays usable.
    let other = gridsync_center::tls::generate(&["127.0.0.1".into()]).unwrap();
    for ca in [None, Some(other.ca_pem.as_str())] {
        let err = client::enrol(&mut store, &center.https_url(), &code, "p", ca, &config()).unwrap_err();
        assert!(matches!(err, Error::Network { .. }), "{err}");
    }
    // Plain HTTP to the TLS port fails too.
    assert!(client::enrol(&mut store, &center.url(), &code, "p", None, &config()).is_err());

    let enrolled =
        client::enrol(&mut store, &center.https_url(), &code, "p", Some(&township.ca_pem), &config()).unwrap();
    assert_eq!(enrolled.ca_certificate.as_deref(), Some(township.ca_pem.as_str()));
    let area = AreaCode::parse("a", &format!("{GRID_ONE}01")).unwrap();
    store.create(Sample::new(1).household(&area, 1)).unwrap();
    let sync = SyncClient::for_store(&store, config()).unwrap();
    let report = sync.sync(&mut store, &NoProgress, &CancelFlag::default()).unwrap();
    assert_eq!(report.pushed, 1);
    assert_eq!(center.with(|c| c.max_seq().unwrap()), 1);
}

#[test]
fn a_phone_enrols_from_the_consoles_link_trusting_the_ca_only_by_its_hash() {
    let township = gridsync_center::tls::generate(&["127.0.0.1".into()]).unwrap();
    let impostor = gridsync_center::tls::generate(&["127.0.0.1".into()]).unwrap();
    let dir = tempfile::TempDir::new().unwrap();
    let start = |name: &str, pki: &gridsync_center::tls::Generated| {
        let tls = gridsync_center::tls::server_config(pki.cert_pem.as_bytes(), pki.key_pem.as_bytes()).unwrap();
        let center =
            RunningCenter::start_with(&dir.path().join(name), "127.0.0.1:0", Some(tls), Default::default()).unwrap();
        center.with(|c| {
            c.set_worker("w-one", "网格员甲", &[GRID_ONE.into()]).unwrap();
            c.set_ca_certificate(&pki.ca_pem).unwrap();
        });
        center
    };
    let (center, fake) = (start("center.db", &township), start("fake.db", &impostor));
    // The impostor hands over the township's CA (it is public) with its own behind it.
    fake.with(|c| c.set_ca_certificate(&format!("{}{}", township.ca_pem, impostor.ca_pem)).unwrap());
    let code = center.with(|c| c.issue_enrolment_code("w-one", 3_600_000)).unwrap();
    let scanned = devices::enrolment_link(&center.https_url(), &code, Some(&township.ca_pem));
    let link = EnrolmentLink::parse(&scanned).unwrap();
    let mut store = Store::open(dir.path().join("phone.db"), DbKey::Raw(&[5; 32])).unwrap();
    let enrol = |store: &mut Store, link: &EnrolmentLink, ca: Option<&str>| {
        client::enrol_from_link(store, link, "p", ca, &config(), &CancelFlag::default())
    };

    // A center answering at the link's address with the township's CA and another
    // behind it, or another CA handed over: refused before the code is sent.
    let redirected = EnrolmentLink { center_url: fake.https_url(), ..link.clone() };
    let both = format!("{}{}", township.ca_pem, impostor.ca_pem);
    for (link, ca) in [(&redirected, None), (&link, Some(impostor.ca_pem.as_str())), (&link, Some(both.as_str()))] {
        let err = enrol(&mut store, link, ca).unwrap_err();
        assert!(err.to_string().contains("not the one the enrolment link names"), "{err}");
    }
    assert_eq!(fake.with(|c| c.refusals().unwrap()), vec![], "the code never reached the impostor");

    let enrolled = enrol(&mut store, &link, None).unwrap();
    assert_eq!(enrolled.ca_certificate.as_deref(), Some(township.ca_pem.as_str()), "the fetched CA is pinned");
    let sync = SyncClient::for_store(&store, config()).unwrap();
    sync.sync(&mut store, &NoProgress, &CancelFlag::default()).unwrap();
}
