//! A second client, written in JavaScript from docs/ alone (`tests/js-client`), syncing
//! with a real center beside a Rust phone: its records reach the phone intact, the
//! phone's edit reaches it, and both agree with the center's digest. Photos travel both
//! ways: the JS client's (uploaded in small chunks, cut and resumed) reaches the phone
//! byte for byte, and the phone's reaches the JS client.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gridsync_core::client::CancelFlag;
use gridsync_core::sample::Sample;
use gridsync_core::{AreaCode, Household, Incident, IncidentStatus, Person, Step};
use gridsync_tests::{GRID_ONE, TestCenter};
use serde_json::Value;

/// Each `node` phase's limit; the whole scenario stays well under a minute.
const PHASE_LIMIT: Duration = Duration::from_secs(45);
/// `npm ci` on a fresh clone fetches three small packages from the npm registry.
const INSTALL_LIMIT: Duration = Duration::from_secs(180);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Runs `command` to its end within `limit` (killing it past that) and returns its
/// stdout; fails the test with its stderr if it fails.
fn run(command: &mut Command, what: &str, limit: Duration) -> String {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e} (Node.js 20 and npm must be on PATH)"));
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).unwrap();
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        stderr.read_to_string(&mut s).unwrap();
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("{what} did not finish within {limit:?}; stderr:\n{}", err.join().unwrap());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    eprint!("{err}{out}");
    assert!(status.success(), "{what} failed ({status}):\n{err}\nstdout:\n{out}");
    out
}

/// `node tests/js-client/scenario.mjs <args>`, its stdout as one JSON object per line.
/// Its pulls ask for pages of two items, so that a bootstrap walks several pages.
fn js(args: &[&str]) -> Vec<Value> {
    let root = workspace();
    let out = run(
        Command::new("node")
            .arg(root.join("tests/js-client/scenario.mjs"))
            .args(args)
            .env("GRIDSYNC_JS_PAGE_ITEMS", "2")
            .current_dir(&root),
        &format!("node scenario.mjs {}", args[0]),
        PHASE_LIMIT,
    );
    out.lines().map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))).collect()
}

/// Installs the client's packages from its lock file on a fresh clone.
fn install_js_client() {
    let dir = workspace().join("tests/js-client");
    if !dir.join("node_modules").is_dir() {
        run(
            Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(&dir),
            "npm ci in tests/js-client",
            INSTALL_LIMIT,
        );
    }
}

fn field<'a>(lines: &'a [Value], name: &str) -> &'a Value {
    lines.iter().find_map(|l| l.get(name)).unwrap_or_else(|| panic!("no {name} in {lines:?}"))
}

#[test]
fn a_client_written_from_the_docs_syncs_with_the_center_and_a_rust_phone() {
    install_js_client();
    let center = TestCenter::start();
    let mut phone = center.phone("w-one", &center.url());
    let state = center.dir.path().join("js-phone.json");
    let state = state.to_str().unwrap();
    let area = AreaCode::parse("area_code", &format!("{GRID_ONE}01")).unwrap();
    let mut sample = Sample::new(21);
    for n in 0..5 {
        phone.store.create(sample.household(&area, n)).unwrap();
    }
    phone.sync().unwrap();

    // Enrol (after checking every test vector) and bootstrap the Rust phone's records.
    let enrolled = js(&["enrol", state, &center.url(), &center.code("w-one-b")]);
    assert_eq!(field(&enrolled, "worker_id"), "w-one-b");
    let bootstrap = field(&enrolled, "bootstrap");
    assert_eq!(bootstrap["snapshots"], 5, "{bootstrap}");
    assert!(bootstrap["pages"].as_u64().unwrap() >= 3, "{bootstrap}");

    // The JS phone registers a household, a person living in it (with an id derived
    // from the ID number under the township key) and reports an incident with a photo,
    // whose upload it cuts and resumes.
    let created = js(&["work", state]);
    let id = |name: &str| field(&created, name).as_str().unwrap().to_owned();
    let (household, person, incident) = (id("household"), id("person"), id("incident"));

    // The Rust phone receives them as its own store reads them.
    phone.sync().unwrap();
    let h = phone.store.get::<Household>(&household).unwrap();
    assert_eq!(h.record.address, "幸福村js路1号");
    assert_eq!(h.record.notes, "由JS客户端登记");
    let p = phone.store.get::<Person>(&person).unwrap().record;
    assert_eq!(p.name, "陈js");
    assert_eq!(p.household_id.as_deref(), Some(household.as_str()));
    assert_eq!(phone.store.household_members(&household).unwrap().len(), 1);
    let i = phone.store.get::<Incident>(&incident).unwrap().record;
    assert_eq!(i.status(), IncidentStatus::Reported);
    assert_eq!(i.title, "村口路灯损坏");
    for id in [&household, &person, &incident] {
        assert!(phone.store.conflicts(id).unwrap().is_empty(), "{id} shows conflicts");
    }
    let at_center = center.replica().get::<Incident>(&incident).unwrap().record;
    assert_eq!(at_center.status(), IncidentStatus::Reported);

    // The JS photo: its reference reads on the phone, its bytes come from the center
    // byte for byte, and the resumed upload sent only what the center lacked.
    let photo = field(&created, "photo");
    assert_eq!(photo["incident"], incident.as_str(), "{photo}");
    let js_hash = photo["hash"].as_str().unwrap().to_owned();
    let jpeg = std::fs::read(workspace().join("tests/js-client/fixtures/photo.jpg")).unwrap();
    assert_eq!(photo["size"], jpeg.len(), "{photo}");
    let (cut, resumed) = (photo["cut"]["sent_bytes"].as_u64().unwrap(), &photo["resumed"]);
    assert!(cut > 0 && photo["cut"]["chunks"].as_u64().unwrap() > 1, "{photo}");
    assert_eq!(resumed["first_offset"], cut, "the resumed upload starts where the center stands: {photo}");
    assert_eq!(resumed["sent_bytes"].as_u64().unwrap() + cut, jpeg.len() as u64, "nothing sent twice: {photo}");
    assert!(resumed["chunks"].as_u64().unwrap() > 1, "{photo}");
    assert_eq!(photo["again_sent_bytes"], 0, "{photo}");
    assert_eq!(photo["thumbnail"]["refusals"], 1, "{photo}");
    let attachments = phone.store.attachments(&incident).unwrap();
    let seen = attachments
        .iter()
        .find(|a| a.attachment.blob.hash == js_hash)
        .unwrap_or_else(|| panic!("the phone does not see the JS photo {js_hash}"));
    assert_eq!(seen.attachment.caption, "村口路灯灯罩破裂");
    let fetched = phone.client.fetch_blob(&mut phone.store, &incident, &js_hash, &CancelFlag::default()).unwrap();
    assert!(fetched == jpeg, "the JS photo reached the phone changed ({} bytes, {} sent)", fetched.len(), jpeg.len());

    // The Rust phone corrects the household's address and the center accepts the
    // incident; the JS phone catches up.
    let mut edited = h.record.clone();
    edited.address = "幸福村js路2号".into();
    phone.store.edit(&household, &h.heads, edited).unwrap();
    phone.sync().unwrap();

    // The Rust phone attaches a photo of its own to the incident and uploads it.
    phone.store.attach(&incident, &Sample::new(5).photo(640, 480), "说明", None).unwrap();
    phone.sync().unwrap();
    let rust_hash = phone
        .store
        .attachments(&incident)
        .unwrap()
        .iter()
        .find(|a| a.attachment.caption == "说明")
        .map(|a| a.attachment.blob.hash.to_string())
        .expect("the phone's photo on its incident");
    let rust_jpeg = phone.client.fetch_blob(&mut phone.store, &incident, &rust_hash, &CancelFlag::default()).unwrap();
    center.dispatch(&incident, Step::Accept, None, 1_767_000_012_000);
    phone.sync().unwrap();

    let caught_up = js(&["catchup", state, &household, &incident, &rust_hash]);
    let seen = field(&caught_up, "household");
    assert_eq!(seen["address"], "幸福村js路2号", "{seen}");
    assert_eq!(seen["notes"], "由JS客户端登记", "{seen}");
    assert_eq!(seen["tags"], serde_json::json!(["出租屋"]), "{seen}");
    let seen = field(&caught_up, "incident");
    assert_eq!(seen["status"], "accepted", "{seen}");
    assert_eq!(seen["needs_review"], false, "{seen}");
    let idle = field(&caught_up, "idle_sync");
    assert_eq!(idle["round_trips"], 1, "{idle}");
    let (up, down) = (idle["body_bytes_up"].as_u64().unwrap(), idle["body_bytes_down"].as_u64().unwrap());
    assert!(up + down < 1_000, "an idle sync is a few hundred bytes: {idle}");
    assert_eq!(field(&caught_up, "digest_equal"), true, "{caught_up:?}");
    assert_eq!(field(&caught_up, "records"), 8, "{caught_up:?}");
    assert_eq!(field(&caught_up, "heads_equal"), true, "{caught_up:?}");
    assert_eq!(field(&caught_up, "fetched"), 1, "repeated ids are answered once: {caught_up:?}");
    assert_eq!(field(&caught_up, "fetch_changed_nothing"), true, "{caught_up:?}");
    let theirs = field(&caught_up, "rust_photo");
    assert_eq!(theirs["sha256"], rust_hash.as_str(), "{theirs}");
    assert_eq!(theirs["size"], rust_jpeg.len(), "{theirs}");
    assert_eq!(theirs["stated_size"], rust_jpeg.len(), "{theirs}");
    assert_eq!(theirs["starts_ffd8"], true, "{theirs}");
    assert_eq!(theirs["thumbnail_ok"], true, "{theirs}");
    assert_eq!(theirs["reference"]["caption"], "说明", "{theirs}");
    assert_eq!(theirs["reference"]["added_by"], "w-one", "{theirs}");
    assert_eq!(
        (theirs["width"].clone(), theirs["height"].clone()),
        (theirs["reference"]["width"].clone(), theirs["reference"]["height"].clone()),
        "{theirs}"
    );
    println!(
        "figures js client: idle_sync_round_trips=1 idle_sync_body_bytes_up={up} idle_sync_body_bytes_down={down}"
    );

    assert!(phone.verify().unwrap().equal_before);
}

/// A record exported as its automerge document loads in another implementation (the
/// stock `@automerge/automerge`, not our client) with the same field values; a change
/// made there and imported back is checked and merged, and one that sets an invalid
/// value is refused with nothing stored.
#[test]
fn another_automerge_implementation_reads_an_export_and_its_change_merges() {
    install_js_client();
    let center = TestCenter::start();
    let mut phone = center.phone("w-one", &center.url());
    let area = AreaCode::parse("area_code", &format!("{GRID_ONE}01")).unwrap();
    let mut household = Sample::new(8).household(&area, 3);
    household.notes = "户主在外务工".into();
    household.phone = Some("13800138000".into());
    let id = phone.store.create(household.clone()).unwrap();
    let exported = center.dir.path().join("record.automerge");
    std::fs::write(&exported, phone.store.export_document(&id).unwrap()).unwrap();

    let root = workspace();
    let out = run(
        Command::new("node")
            .arg(root.join("tests/js-client/interop.mjs"))
            .arg(&exported)
            .arg(center.dir.path())
            .current_dir(&root),
        "node interop.mjs",
        PHASE_LIMIT,
    );
    let read: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(read["kind"], "household");
    assert_eq!(read["address"], household.address.as_str());
    assert_eq!(read["household_no"], household.household_no.as_str());
    assert_eq!(read["phone"], "13800138000");
    assert_eq!(read["notes"], "户主在外务工");
    let tags: Vec<String> = household.tags.iter().cloned().collect();
    assert_eq!(read["tags"], serde_json::json!(tags));

    let change = |name: &str| std::fs::read(center.dir.path().join(name)).unwrap();
    let before = phone.store.record_meta(&id).unwrap();
    let refused = phone.store.import_changes(&id, &[change("bad.change")]).unwrap();
    assert_eq!((refused.refused, refused.new_changes), (1, 0), "an invalid phone number is refused");
    assert_eq!(phone.store.record_meta(&id).unwrap(), before, "nothing of it stored");
    let merged = phone.store.import_changes(&id, &[change("good.change")]).unwrap();
    assert_eq!((merged.refused, merged.new_changes), (0, 1));
    let now = phone.store.get::<Household>(&id).unwrap().record;
    assert_eq!(now.address, "幸福村外部工具路9号");
    assert_eq!(now.notes, "外部工具核对。户主在外务工");
    let history = phone.store.history(&id).unwrap();
    let tool = history.iter().find(|entry| entry.worker == "w-tool").unwrap();
    assert!(!tool.time_doubtful, "the other implementation's time, in seconds, reads as now");
}
