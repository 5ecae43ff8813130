//! The township console in a real browser: headless Chromium from Debian driven through
//! WebDriver (chromium-driver), against a real center on either storage backend, with a
//! real phone. The closed loop end to end, the refusals (another township's staff, a form
//! without its CSRF token, a locked account), the masked ID number and its audited
//! reveal; every page saved as a screenshot under `target/console-screenshots/`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use gridsync_center::console::accounts::{self, Account, LOCK_AFTER};
use gridsync_core::client::{self, CancelFlag};
use gridsync_core::sample::{Sample, follow_up};
use gridsync_core::sync::enrolment_link::EnrolmentLink;
use gridsync_core::zh::china_time;
use gridsync_core::{AreaCode, DbKey, Incident, IncidentStatus, Person, Role, Step, Store};
use gridsync_tests::{GRID_ONE, TOWNSHIP, TestCenter, config};

const PASSWORD: &str = "浏览器测试-passw0rd";

/// chromedriver on a free port and one headless Chromium session, driven from this
/// (synchronous) test through a runtime of its own: the phone's calls block, so they run
/// outside it.
struct Browser {
    runtime: tokio::runtime::Runtime,
    client: Option<Client>,
    driver: Child,
    base: String,
    shots: PathBuf,
}

impl Browser {
    fn start(base: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian's chromium-driver; scripts/setup installs it)");
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,900", "--lang=zh-CN"],
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            let attempt =
                runtime.block_on(ClientBuilder::new(connector).capabilities(capabilities.clone()).connect(&url));
            match attempt {
                Ok(client) => break client,
                Err(e) if Instant::now() > deadline => panic!("no WebDriver session: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        };
        let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/console-screenshots");
        std::fs::create_dir_all(&shots).unwrap();
        Self { runtime, client: Some(client), driver, base: base.to_owned(), shots }
    }

    fn client(&self) -> &Client {
        self.client.as_ref().unwrap()
    }

    fn goto(&self, path: &str) {
        self.runtime.block_on(self.client().goto(&format!("{}{path}", self.base))).unwrap();
    }

    /// Clicks what submits a form, and waits for the page it leads to.
    fn click(&self, css: &str) {
        self.run("window.gridsyncOldPage = true;");
        self.runtime
            .block_on(async { self.client().find(Locator::Css(css)).await?.click().await })
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
        let loaded = "return !window.gridsyncOldPage && document.readyState === 'complete' && !!document.body;";
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.runtime.block_on(self.client().execute(loaded, Vec::new())).ok() != Some(true.into()) {
            assert!(Instant::now() < deadline, "no page after clicking {css}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn fill(&self, css: &str, text: &str) {
        self.runtime
            .block_on(async { self.client().find(Locator::Css(css)).await?.send_keys(text).await })
            .unwrap_or_else(|e| panic!("fill {css}: {e}"));
    }

    /// Sets a field's value as a person would pick it (a datetime field's keyboard input
    /// depends on the locale; the value it sends does not).
    fn set_value(&self, css: &str, value: &str) {
        let script = "document.querySelector(arguments[0]).value = arguments[1];";
        self.runtime.block_on(self.client().execute(script, vec![css.into(), value.into()])).unwrap();
    }

    /// Runs a script on the page (the page itself allows none; WebDriver's is the
    /// browser's own).
    fn run(&self, script: &str) -> serde_json::Value {
        self.runtime.block_on(self.client().execute(script, Vec::new())).unwrap()
    }

    /// The text the page shows.
    fn text(&self) -> String {
        self.runtime.block_on(async { self.client().find(Locator::Css("body")).await?.text().await }).unwrap()
    }

    fn shot(&self, name: &str) {
        let png = self.runtime.block_on(self.client().screenshot()).unwrap();
        std::fs::write(self.shots.join(format!("{name}.png")), png).unwrap();
    }

    fn login(&self, id: &str, password: &str) {
        self.goto("/console/login");
        self.fill("#id", id);
        self.fill("#password", password);
        self.click("form.login button");
    }

    fn logout(&self) {
        self.click("header form button");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let _ = self.runtime.block_on(client.close());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn add_staff(center: &TestCenter, id: &str, role: Role, scope: &str) {
    let scope = [scope.to_owned()];
    let account = Account { id, name: id, role, scope: &scope, password: PASSWORD };
    center.running.with(|c| accounts::add_staff(c, "test", account, gridsync_core::store::system_clock())).unwrap();
}

/// A `datetime-local` value `hours` from now, China time.
fn in_hours(hours: i64) -> String {
    china_time(gridsync_core::store::system_clock() + hours * 3_600_000).replace(' ', "T")
}

#[test]
fn a_dispatcher_takes_an_incident_through_the_loop_in_a_browser() {
    let center = TestCenter::start();
    add_staff(&center, "s-disp", Role::Dispatcher, TOWNSHIP);
    add_staff(&center, "s-away", Role::Dispatcher, "440106013");
    add_staff(&center, "s-admin", Role::Admin, TOWNSHIP);
    add_staff(&center, "s-lock", Role::Leader, TOWNSHIP);
    let mut phone = center.phone("w-one", &center.url());
    let area = AreaCode::parse("area_code", &format!("{GRID_ONE}01")).unwrap();
    let mut sample = Sample::new(41);
    let household = phone.store.create(sample.household(&area, 1)).unwrap();
    let mut resident: Person = sample.person(&area, Some((&household, "02")));
    resident.name = "王芳".into();
    let number = resident.id_number.clone().unwrap();
    let person = phone.store.create(resident).unwrap();
    let now = gridsync_core::store::system_clock();
    let report = |phone: &mut gridsync_tests::Phone, n: u32, title: &str| {
        let mut incident = Sample::new(u64::from(n)).incident(&area, n, now);
        incident.title = title.into();
        incident.involved_persons.insert(person.clone());
        let id = phone.store.create(incident).unwrap();
        phone.store.append_follow_up(&id, follow_up(Step::Report, "w-one", now)).unwrap();
        id
    };
    let incident = report(&mut phone, 1, "村口路灯损坏");
    phone.store.attach(&incident, &Sample::new(6).photo(2000, 1500), "灯杆底座锈断", None).unwrap();
    let late = report(&mut phone, 2, "水渠堵塞");
    phone.sync().unwrap();

    let browser = Browser::start(&center.url());
    browser.goto("/console/login");
    browser.shot("login");
    browser.login("s-disp", PASSWORD);
    let board = browser.text();
    assert!(board.contains("待受理 2") && board.contains("村口路灯损坏"), "{board}");
    browser.shot("board");

    // 受理, then 分流 with a deadline tomorrow.
    browser.goto(&format!("/console/incidents/{incident}"));
    assert!(browser.text().contains("灯杆底座锈断"), "{}", browser.text());
    // The thumbnail loaded: the browser decoded it (an image it could not fetch has no width).
    let width = browser.run("return document.querySelector('.photos img').naturalWidth;");
    assert_eq!(width, serde_json::json!(320), "the thumbnail, 320 px on its longest side");
    browser.shot("incident-reported");
    browser.click(r#"form.step input[value="accept"] ~ button"#);
    assert!(browser.text().contains("已受理"), "{}", browser.text());
    let deadline = in_hours(24);
    browser.set_value(r#"form.step input[value="divert"] ~ input[name="deadline"]"#, &deadline);
    browser.fill(r#"form.step input[value="divert"] ~ input[name="note"]"#, "转镇城建办");
    browser.click(r#"form.step input[value="divert"] ~ button"#);
    assert!(browser.text().contains("已分流"), "{}", browser.text());
    browser.shot("incident-diverted");

    // The other one is diverted with a deadline already past: overdue on the board.
    browser.goto(&format!("/console/incidents/{late}"));
    browser.click(r#"form.step input[value="accept"] ~ button"#);
    browser.set_value(r#"form.step input[value="divert"] ~ input[name="deadline"]"#, &in_hours(-2));
    browser.click(r#"form.step input[value="divert"] ~ button"#);
    browser.goto("/console/");
    let board = browser.text();
    assert!(board.contains("已超期"), "{board}");
    browser.goto("/console/?overdue=1");
    let overdue = browser.text();
    assert!(overdue.contains("水渠堵塞") && !overdue.contains("村口路灯损坏"), "{overdue}");
    browser.shot("board-overdue");

    // The phone sees the status, the deadline and who took the steps; it handles the case.
    phone.sync().unwrap();
    let seen = phone.store.get::<Incident>(&incident).unwrap().record;
    assert_eq!(seen.status(), IncidentStatus::Diverted);
    assert_eq!(seen.state().deadline.map(china_time), Some(deadline.replace('T', " ")));
    assert!(seen.timeline.iter().any(|e| e.step == Step::Divert && e.by == "s-disp" && e.note == "转镇城建办"));
    phone.store.append_follow_up(&incident, follow_up(Step::StartHandling, "w-one", now)).unwrap();
    phone.store.append_follow_up(&incident, follow_up(Step::Complete, "w-one", now)).unwrap();
    phone.sync().unwrap();

    // 待回访 on the console: the dispatcher records the call-back and closes.
    browser.goto("/console/");
    assert!(browser.text().contains("待回访 1"), "{}", browser.text());
    browser.goto(&format!("/console/incidents/{incident}"));
    assert!(browser.text().contains("待回访"), "{}", browser.text());
    browser.click(r#"form.step input[value="call_back"] ~ button"#);
    browser.click(r#"form.step input[value="close"] ~ button"#);
    assert!(browser.text().contains("已结案"), "{}", browser.text());
    browser.shot("incident-closed");
    phone.sync().unwrap();
    assert_eq!(phone.store.get::<Incident>(&incident).unwrap().record.status(), IncidentStatus::Closed);

    // A form without its CSRF token is refused, and nothing is taken.
    browser.goto(&format!("/console/incidents/{late}"));
    let _ = browser.run(r#"document.querySelectorAll('input[name="csrf"]').forEach(e => e.remove());"#);
    browser.click(r#"form.step input[value="escalate"] ~ button"#);
    assert!(browser.text().contains("CSRF") && browser.text().contains("没有办理"), "{}", browser.text());
    phone.sync().unwrap();
    assert_eq!(phone.store.get::<Incident>(&late).unwrap().record.status(), IncidentStatus::Diverted);

    // 交办 without a deadline is refused by the center, not only by the form.
    browser.goto(&format!("/console/incidents/{late}"));
    let _ = browser
        .run(r#"document.querySelectorAll('input[name="deadline"]').forEach(e => e.removeAttribute('required'));"#);
    browser.click(r#"form.step input[value="assign"] ~ button"#);
    assert!(browser.text().contains("须有办理期限"), "{}", browser.text());

    // 人口: found by pinyin initials, the ID number masked until an audited reveal.
    browser.goto("/console/people?q=wf");
    let people = browser.text();
    let masked = format!("{}**********{}", &number[..4], &number[14..]);
    assert!(people.contains("王芳") && people.contains(&masked) && !people.contains(&number), "{people}");
    browser.shot("people");
    browser.goto(&format!("/console/people/{person}"));
    assert!(!browser.text().contains(&number));
    browser.click("main form button");
    assert!(browser.text().contains(&number), "revealed");
    browser.shot("person-revealed");
    let audit = center.running.with(|c| accounts::audit_log(c, 100)).unwrap();
    assert!(audit.iter().any(|row| row.action == "person.reveal" && row.target == person && row.staff_id == "s-disp"));
    assert!(audit.iter().any(|row| row.action == "incident.divert" && row.target == incident));
    // 网格: of two incidents with deadlines one went past it (50%), one of two was
    // completed (50%), and it was called back (100%).
    browser.goto("/console/grid");
    let grid = browser.text();
    assert!(grid.contains("2 0.0 小时 50% 50% 100%"), "{grid}");
    for (path, name) in [
        (format!("/console/households/{household}"), "household"),
        ("/console/grid".to_owned(), "grid"),
        ("/console/conflicts".to_owned(), "conflicts"),
        ("/console/exports".to_owned(), "exports"),
    ] {
        browser.goto(&path);
        assert!(!browser.text().contains("没有找到"), "{path}");
        browser.shot(name);
    }
    browser.logout();

    // The administrator enrols a phone by QR code.
    browser.login("s-admin", PASSWORD);
    browser.goto("/console/devices");
    assert!(browser.text().contains("w-one"), "the phone is listed");
    browser.click(r#"form[action="/console/devices/enrol"] button"#);
    assert!(browser.text().contains("注册码"), "{}", browser.text());
    browser.shot("devices-enrol");
    // A phone enrols with what the QR code holds (the page shows it as text too).
    let scanned = browser.run("return document.querySelector('code.link').textContent;");
    let link = EnrolmentLink::parse(scanned.as_str().unwrap()).unwrap();
    let phone_dir = tempfile::TempDir::new().unwrap();
    let mut phone = Store::open(phone_dir.path().join("phone.db"), DbKey::Raw(&[7; 32])).unwrap();
    let enrolled =
        client::enrol_from_link(&mut phone, &link, "扫码的手机", None, &config(), &CancelFlag::default()).unwrap();
    assert!(enrolled.scope.iter().all(|prefix| prefix.starts_with(TOWNSHIP)), "{:?}", enrolled.scope);
    browser.logout();

    // Staff of another township see nothing of this one, however they ask.
    browser.login("s-away", PASSWORD);
    assert!(browser.text().contains("待受理 0"), "{}", browser.text());
    for path in [
        format!("/console/incidents/{incident}"),
        format!("/console/people/{person}"),
        format!("/console/households/{household}"),
        "/console/people?q=wf".to_owned(),
        format!("/console/?area={GRID_ONE}"),
        format!("/console/conflicts/{household}"),
    ] {
        browser.goto(&path);
        let text = browser.text();
        assert!(!text.contains("王芳") && !text.contains("村口路灯损坏") && !text.contains(&masked), "{path}: {text}");
    }
    browser.logout();

    // Wrong passwords lock the account, even against the right one.
    for _ in 0..LOCK_AFTER {
        browser.login("s-lock", "wrong");
    }
    browser.login("s-lock", PASSWORD);
    let locked = browser.text();
    assert!(
        locked.contains("账号或密码错误") && !locked.contains("事件看板"),
        "the right password is refused: {locked}"
    );
    browser.shot("locked");
}
