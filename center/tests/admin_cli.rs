//! Every command a township runs, as the township runs it (README, "Running a center"):
//! the `gridsync-center` binary as a process for each admin subcommand and for `serve`
//! over TLS, with a phone enrolling and syncing in between. What each prints and writes
//! is checked, exports down to the cells Excel will show.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use gridsync_core::client::{self, CancelFlag, ClientConfig, NoProgress, SyncClient};
use gridsync_core::sample::{Sample, follow_up};
use gridsync_core::sync::enrolment_link::EnrolmentLink;
use gridsync_core::{AreaCode, DbKey, Step, Store};

const GRID: &str = "440106012003001";

fn center(args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_gridsync-center")).args(args).output().expect("run gridsync-center");
    assert!(output.status.success(), "gridsync-center {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    output
}

fn admin(db: &Path, args: &[&str]) -> String {
    let mut all = vec!["admin", "--db", db.to_str().expect("a UTF-8 path")];
    all.extend_from_slice(args);
    String::from_utf8(center(&all).stdout).expect("UTF-8 output")
}

/// `serve` as a process, killed when dropped.
struct Serving(Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(db: &Path, listen: &str, tls: &Path) -> Serving {
    let child = Command::new(env!("CARGO_BIN_EXE_gridsync-center"))
        .args(["serve", "--db", db.to_str().expect("UTF-8"), "--listen", listen])
        .arg("--tls-cert")
        .arg(tls.join("server.pem"))
        .arg("--tls-key")
        .arg(tls.join("server.key"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start serve");
    let started = Instant::now();
    while std::net::TcpStream::connect(listen).is_err() {
        assert!(started.elapsed() < Duration::from_secs(20), "serve did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    Serving(child)
}

#[test]
fn a_township_runs_every_admin_command_in_order() {
    let dir = tempfile::TempDir::new().expect("a folder");
    let db = dir.path().join("center.db");
    let tls = dir.path().join("tls");

    // 1. The area register.
    let areas = dir.path().join("areas.csv");
    std::fs::write(&areas, format!("code,name\n440106012003,龙潭村\n{GRID},龙潭村第一网格\n")).expect("areas");
    assert!(admin(&db, &["import-areas", areas.to_str().expect("UTF-8")]).contains("imported 2 areas"));
    // 2. TLS for loopback.
    assert!(admin(&db, &["init-tls", "--host", "127.0.0.1", "--out", tls.to_str().expect("UTF-8")]).contains("ca.pem"));
    for file in ["ca.pem", "server.pem", "server.key"] {
        assert!(tls.join(file).exists(), "{file}");
    }
    // Console staff: the password comes on standard input, never as an argument.
    let mut staff = Command::new(env!("CARGO_BIN_EXE_gridsync-center"))
        .args(["admin", "--db", db.to_str().expect("UTF-8"), "add-staff", "--id", "s-0001", "--name", "周调度"])
        .args(["--role", "dispatcher", "--scope", "440106012"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run");
    std::io::Write::write_all(&mut staff.stdin.take().expect("stdin"), "综治中心调度2026\n".as_bytes())
        .expect("password");
    let added = staff.wait_with_output().expect("add-staff");
    assert!(added.status.success() && String::from_utf8_lossy(&added.stdout).contains("调度员"));
    let opened = gridsync_center::Center::open(&db).expect("the center");
    let login = |password: &str| gridsync_center::console::accounts::login(&opened, "s-0001", password, 1);
    assert!(login("综治中心调度2026").is_ok(), "the password read from standard input signs in");
    assert!(login("综治中心调度2025").is_err());
    drop(opened);

    // 3. A worker, 4. a code.
    assert!(admin(&db, &["add-worker", "--id", "w-0001", "--name", "李网格", "--scope", GRID]).contains(GRID));
    let code = admin(&db, &["enrol-code", "--worker", "w-0001"]).trim().to_owned();
    assert_eq!(code.len(), 14, "XXXX-XXXX-XXXX: {code}");

    // 5. Serve over TLS; a phone enrols with the CA and syncs its day's work.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a port").local_addr().expect("addr").port();
    let listen = format!("127.0.0.1:{port}");
    let serving = serve(&db, &listen, &tls);
    let ca = std::fs::read_to_string(tls.join("ca.pem")).expect("ca.pem");
    let mut phone = Store::open(dir.path().join("phone.db"), DbKey::Raw(&[5; 32])).expect("a phone");
    let config = ClientConfig { allow_insecure_loopback: false, retries: 1, ..ClientConfig::default() };
    let url = format!("https://{listen}");
    let enrolled =
        client::enrol(&mut phone, &url, &code.to_lowercase(), "测试手机", Some(&ca), &config).expect("enrol");
    let area = AreaCode::parse("area_code", &format!("{GRID}01")).expect("area");
    let mut sample = Sample::new(8);
    let household = phone.create(sample.household(&area, 1)).expect("household");
    let mut person = sample.person(&area, Some((&household, "02")));
    person.id_number = Some(gridsync_core::sample::with_check_character("44010619900307002"));
    person.gender = gridsync_core::Gender::Female;
    person.birth_date = gridsync_core::Date::new("d", 1990, 3, 7).expect("date");
    phone.create(person).expect("person");
    let incident = phone.create(sample.incident(&area, 1, 1_767_225_600_000)).expect("incident");
    phone.append_follow_up(&incident, follow_up(Step::Report, "w-0001", 1_767_225_600_000)).expect("report");
    let sync = SyncClient::for_store(&phone, config.clone()).expect("client");
    sync.sync(&mut phone, &NoProgress, &CancelFlag::default()).expect("sync over TLS");

    // A second phone enrols from the link the CLI prints with its QR code (no CA handed
    // over: it is fetched and checked against the link's hash).
    let printed = admin(&db, &["enrol-code", "--worker", "w-0001", "--center", &url]);
    let mut lines = printed.lines();
    let (second_code, scanned) = (lines.next().expect("the code"), lines.next().expect("the link"));
    assert!(lines.any(|line| line.contains('█') || line.contains('▀')), "a QR code for the terminal: {printed}");
    let link = EnrolmentLink::parse(scanned).expect("a link the phone reads");
    assert!(link.code == second_code && link.ca_sha256.is_some(), "{scanned}");
    let mut second = Store::open(dir.path().join("second.db"), DbKey::Raw(&[6; 32])).expect("a phone");
    client::enrol_from_link(&mut second, &link, "扫码的手机", None, &config, &CancelFlag::default())
        .expect("enrol from the printed link");
    let refused = Command::new(env!("CARGO_BIN_EXE_gridsync-center"))
        .args(["admin", "--db", db.to_str().expect("UTF-8"), "enrol-code", "--worker", "w-0001"])
        .args(["--center", "https://township.gov.cn@203.0.113.9"])
        .output()
        .expect("run");
    assert!(!refused.status.success(), "an address that is more than an origin is refused");

    // Every day: stats and devices, read while the center serves.
    let stats = admin(&db, &["stats"]);
    assert!(stats.contains("records: 3") && stats.contains("devices: 2"), "{stats}");
    let devices = admin(&db, &["devices"]);
    assert!(devices.contains(&enrolled.device_id) && devices.contains("测试手机"), "{devices}");
    assert!(devices.contains("扫码的手机"), "{devices}");

    // Exports: CSV with a byte-order mark and Chinese, and a workbook of text cells.
    let csv = dir.path().join("persons.csv");
    admin(&db, &["export", "--kind", "persons", "--area", "440106012", "--out", csv.to_str().expect("UTF-8")]);
    let text = std::fs::read_to_string(&csv).expect("csv");
    assert!(text.starts_with('\u{feff}'), "a byte-order mark for Excel");
    assert!(text.contains("姓名,性别,出生日期,公民身份号码"), "{text}");
    assert!(text.contains("440106199003070028") && text.contains(",女,") && text.contains("龙潭村第一网格"), "{text}");
    let xlsx = dir.path().join("incidents.xlsx");
    admin(&db, &["export", "--kind", "incidents", "--out", xlsx.to_str().expect("UTF-8")]);
    let strings = xlsx_part(&xlsx, "xl/sharedStrings.xml");
    for expected in ["事件编号", "状态", "待受理", "2026-01-01 08:00", "龙潭村第一网格"] {
        assert!(strings.contains(expected), "{expected} in the workbook");
    }
    let persons = dir.path().join("persons.xlsx");
    admin(&db, &["export", "--kind", "persons", "--out", persons.to_str().expect("UTF-8")]);
    assert!(
        xlsx_part(&persons, "xl/sharedStrings.xml").contains("440106199003070028"),
        "the ID number is a text cell, never a number"
    );

    // Each household's automerge document, for tools of the township's own.
    let documents = dir.path().join("documents");
    admin(
        &db,
        &["export", "--kind", "households", "--format", "automerge", "--out", documents.to_str().expect("UTF-8")],
    );
    let exported = std::fs::read(documents.join(format!("{household}.automerge"))).expect("the household's document");
    assert_eq!(exported, phone.export_document(&household).expect("the phone's copy"), "the same document");

    // A lost phone: revoked with a wipe, which its next sync carries out.
    let revoked = admin(&db, &["revoke", "--device", &enrolled.device_id, "--wipe"]);
    assert!(revoked.contains("wipe ordered"), "{revoked}");
    let result = sync.sync(&mut phone, &NoProgress, &CancelFlag::default());
    assert!(matches!(result, Err(gridsync_core::Error::Revoked { wipe: true })), "{result:?}");
    assert!(phone.heads_in_area("").expect("heads").is_empty(), "the phone erased its data");
    drop(serving);

    // Refusals the CLI itself makes: plain HTTP off loopback, a code for nobody.
    let refused = Command::new(env!("CARGO_BIN_EXE_gridsync-center"))
        .args(["serve", "--db", db.to_str().expect("UTF-8"), "--listen", "0.0.0.0:0"])
        .output()
        .expect("run");
    assert!(
        !refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("refusing to serve plain HTTP")
    );
    let nobody = Command::new(env!("CARGO_BIN_EXE_gridsync-center"))
        .args(["admin", "--db", db.to_str().expect("UTF-8"), "enrol-code", "--worker", "w-9999"])
        .output()
        .expect("run");
    assert!(!nobody.status.success() && String::from_utf8_lossy(&nobody.stderr).contains("no worker w-9999"));
}

/// `admin photos`: what the folder beside the database holds, and abandoned uploads
/// removed by age while a fresh one stays.
#[test]
fn admin_photos_shows_the_folder_and_prunes_abandoned_uploads() {
    let dir = tempfile::TempDir::new().expect("a folder");
    let db = dir.path().join("center.db");
    let shown = admin(&db, &["photos"]);
    assert!(shown.contains("stored: 0 blobs") && shown.contains("uploads under way: 0"), "{shown}");
    let uploads = dir.path().join("center.db.blobs/uploads");
    let old = uploads.join("a".repeat(64));
    std::fs::write(&old, b"half a photo").expect("an upload");
    let week_ago = std::time::SystemTime::now() - Duration::from_secs(8 * 86_400);
    std::fs::File::options().write(true).open(&old).expect("open").set_modified(week_ago).expect("mtime");
    let fresh = uploads.join("b".repeat(64));
    std::fs::write(&fresh, b"a photo on its way").expect("an upload");
    assert!(admin(&db, &["photos"]).contains("uploads under way: 2, 30 bytes"));
    let pruned = admin(&db, &["photos", "--prune-uploads-older-than-days", "7"]);
    assert!(pruned.contains("removed 1 abandoned uploads") && pruned.contains("uploads under way: 1"), "{pruned}");
    assert!(!old.exists() && fresh.exists());
}

/// One part of an .xlsx (a zip of XML files).
fn xlsx_part(path: &Path, name: &str) -> String {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(path).expect("the workbook")).expect("a zip");
    let mut part = String::new();
    archive.by_name(name).expect("the part").read_to_string(&mut part).expect("UTF-8 XML");
    part
}
