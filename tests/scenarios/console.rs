//! The township console over HTTP, as a browser uses it: sign-in with its CSRF token,
//! the session cookie's attributes, the security headers, the incident board in the
//! staff member's scope (a phone's report appears; another township's staff sees
//! nothing of it), and sign-out refused without the session's CSRF token.

use gridsync_center::console::accounts::{self, Account};
use gridsync_core::Role;
use gridsync_core::sample::{Sample, follow_up};
use gridsync_core::{AreaCode, Step};
use gridsync_tests::{GRID_ONE, TOWNSHIP, TestCenter};
use reqwest::blocking::{Client, Response};
use reqwest::header::{CONTENT_SECURITY_POLICY, COOKIE, HOST, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;

const PASSWORD: &str = "综治中心调度2026";

fn client() -> Client {
    // reqwest is built without a crypto provider of its own (ring is the project's).
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder().redirect(Policy::none()).build().unwrap()
}

/// `name=value` of the cookie `name` a response sets, and the whole header.
fn set_cookie(response: &Response, name: &str) -> (String, String) {
    let header = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie"))
        .to_owned();
    (header.split(';').next().unwrap().to_owned(), header)
}

/// Signs `id` in; the session cookie (`gs_session=…`).
fn sign_in(center: &TestCenter, id: &str, password: &str) -> Response {
    let http = client();
    let form = http.get(format!("{}/console/login", center.url())).send().unwrap();
    let (login_cookie, _) = set_cookie(&form, "gs_login");
    let csrf = login_cookie.split_once('=').unwrap().1.to_owned();
    http.post(format!("{}/console/login", center.url()))
        .header(COOKIE, login_cookie)
        .form(&[("id", id), ("password", password), ("csrf", &csrf)])
        .send()
        .unwrap()
}

/// A center with a dispatcher of this township (`s-here`) and one of the next
/// (`s-elsewhere`).
fn center_with_two_dispatchers() -> TestCenter {
    let center = TestCenter::start();
    let (here, elsewhere) = ([TOWNSHIP.to_owned()], ["440106013".to_owned()]);
    center.running.with(|c| {
        let account = |id, scope| Account { id, name: "调度员", role: Role::Dispatcher, scope, password: PASSWORD };
        accounts::add_staff(c, "cli", account("s-here", &here), 1).unwrap();
        accounts::add_staff(c, "cli", account("s-elsewhere", &elsewhere), 1).unwrap();
    });
    center
}

#[test]
fn staff_sign_in_and_see_their_township_s_incidents_only() {
    let center = center_with_two_dispatchers();
    // A grid worker reports an incident.
    let mut phone = center.phone("w-one", &center.url());
    let area = AreaCode::parse("a", &format!("{GRID_ONE}01")).unwrap();
    let mut incident = Sample::new(3).incident(&area, 1, 1_767_225_600_000);
    incident.title = "村口路灯损坏待修".into();
    let id = phone.store.create(incident).unwrap();
    phone.store.append_follow_up(&id, follow_up(Step::Report, "w-one", 1_767_225_600_000)).unwrap();
    phone.sync().unwrap();

    let http = client();
    let board = format!("{}/console/", center.url());
    let away = http.get(&board).send().unwrap();
    assert_eq!(away.status(), 303, "no session: to the sign-in page");
    assert_eq!(away.headers()[LOCATION], "/console/login");

    let form = http.get(format!("{}/console/login", center.url())).send().unwrap();
    let csp = form.headers()[CONTENT_SECURITY_POLICY].to_str().unwrap().to_owned();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    let forged = http
        .post(format!("{}/console/login", center.url()))
        .form(&[("id", "s-here"), ("password", PASSWORD), ("csrf", "guessed")])
        .send()
        .unwrap();
    assert_eq!(forged.status(), 403, "a sign-in without the form's token is refused");
    let wrong = sign_in(&center, "s-here", "错误的密码错误的密码");
    assert_eq!(wrong.status(), 401);
    assert!(wrong.text().unwrap().contains("账号或密码错误"));

    let signed = sign_in(&center, "s-here", PASSWORD);
    assert_eq!(signed.status(), 303);
    let (session, header) = set_cookie(&signed, "gs_session");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console", "Max-Age="] {
        assert!(header.contains(attribute), "{header}");
    }
    let page = http.get(&board).header(COOKIE, &session).send().unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().unwrap();
    assert!(html.contains("村口路灯损坏待修") && html.contains("待受理"), "the report is on the board");
    let csrf = html.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();

    let other = sign_in(&center, "s-elsewhere", PASSWORD);
    let (other_session, _) = set_cookie(&other, "gs_session");
    let theirs = http.get(&board).header(COOKIE, other_session).send().unwrap().text().unwrap();
    assert!(!theirs.contains("村口路灯损坏待修"), "another township's staff sees nothing of it");

    let logout = format!("{}/console/logout", center.url());
    let refused = http.post(&logout).header(COOKIE, &session).form(&[("csrf", "guessed")]).send().unwrap();
    assert_eq!(refused.status(), 403, "a form without the session's token is refused");
    let out = http.post(&logout).header(COOKIE, &session).form(&[("csrf", csrf.as_str())]).send().unwrap();
    assert_eq!(out.status(), 303);
    assert_eq!(http.get(&board).header(COOKIE, &session).send().unwrap().status(), 303, "the session is over");
    let audit = center.running.with(|c| accounts::audit_log(c, 50)).unwrap();
    assert!(audit.iter().any(|row| row.action == "logout" && row.staff_id == "s-here"));
}

/// The closed loop's center half from the console: a dispatcher accepts a phone's report
/// and assigns it with a deadline; the phone pulls both steps, by the dispatcher's own
/// actor, with the deadline. A leader may not accept; another township's staff cannot
/// even see the incident; a step the status does not allow is refused.
#[test]
fn a_dispatcher_takes_the_center_s_steps_and_the_phone_sees_them() {
    let center = TestCenter::start();
    let (here, elsewhere) = (vec![TOWNSHIP.to_owned()], vec!["440106013".to_owned()]);
    center.running.with(|c| {
        for (id, role, scope) in [
            ("s-disp", Role::Dispatcher, &here),
            ("s-lead", Role::Leader, &here),
            ("s-away", Role::Dispatcher, &elsewhere),
        ] {
            let account = Account { id, name: "综治中心", role, scope, password: PASSWORD };
            accounts::add_staff(c, "cli", account, 1).unwrap();
        }
    });
    let mut phone = center.phone("w-one", &center.url());
    let area = AreaCode::parse("a", &format!("{GRID_ONE}01")).unwrap();
    let id = phone.store.create(Sample::new(4).incident(&area, 2, 1_767_225_600_000)).unwrap();
    phone.store.append_follow_up(&id, follow_up(Step::Report, "w-one", 1_767_225_600_000)).unwrap();
    phone.sync().unwrap();

    let http = client();
    let session = |staff| set_cookie(&sign_in(&center, staff, PASSWORD), "gs_session").0;
    let (dispatcher, leader, away) = (session("s-disp"), session("s-lead"), session("s-away"));
    let detail = format!("{}/console/incidents/{id}", center.url());
    let html = http.get(&detail).header(COOKIE, &dispatcher).send().unwrap().text().unwrap();
    assert!(html.contains("受理") && html.contains("上报"), "the timeline and the step a dispatcher may take");
    let csrf_of =
        |html: &str| html.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let csrf = csrf_of(&html);
    let step = |cookie: &str, csrf: &str, fields: &[(&str, &str)]| {
        let mut form = vec![("csrf", csrf)];
        form.extend_from_slice(fields);
        http.post(&detail).header(COOKIE, cookie).form(&form).send().unwrap().status()
    };

    let leader_csrf = csrf_of(&http.get(&detail).header(COOKIE, &leader).send().unwrap().text().unwrap());
    assert_eq!(step(&leader, &leader_csrf, &[("step", "accept")]), 403, "a leader does not accept");
    assert_eq!(http.get(&detail).header(COOKIE, &away).send().unwrap().status(), 404, "not in their scope");
    assert_eq!(step(&dispatcher, "guessed", &[("step", "accept")]), 403, "no step without the session's token");
    assert_eq!(step(&dispatcher, &csrf, &[("step", "close")]), 422, "closing a report is not a legal step");
    assert_eq!(step(&dispatcher, &csrf, &[("step", "accept"), ("note", "已受理")]), 303);
    let assign = [("step", "assign"), ("note", "交城管中队"), ("deadline", "2026-01-03T18:00")];
    assert_eq!(step(&dispatcher, &csrf, &assign), 303);

    phone.sync().unwrap();
    let seen = phone.store.get::<gridsync_core::Incident>(&id).unwrap().record;
    let state = seen.state();
    assert_eq!(state.status, gridsync_core::IncidentStatus::Assigned);
    assert_eq!(state.deadline, gridsync_core::zh::parse_china_time("2026-01-03 18:00"));
    let by: Vec<&str> = seen.timeline.iter().map(|entry| entry.by.as_str()).collect();
    assert_eq!(by, ["w-one", "s-disp", "s-disp"]);
    let history = phone.store.history(&id).unwrap();
    let actor = gridsync_center::console::incidents::staff_actor("s-disp").to_hex_string();
    assert!(
        history.iter().any(|entry| entry.worker == "s-disp" && entry.device == actor),
        "who acted, on every replica"
    );
    let audit = center.running.with(|c| accounts::audit_log(c, 50)).unwrap();
    assert!(audit.iter().any(|row| row.action == "incident.assign" && row.target == id));
}

/// Console requests spend their address's budget like the sync endpoints: past it, a
/// 429 with Retry-After before any session is looked up.
#[test]
fn console_requests_are_rate_limited_by_address() {
    use gridsync_center::limits::{Rate, Rates};
    let rates = Rates { address: Rate { per_second: 0.5, burst: 3.0 }, ..Rates::default() };
    let center = TestCenter::start_with_rates(rates);
    let http = client();
    let statuses: Vec<u16> =
        (0..6).map(|_| http.get(format!("{}/console/login", center.url())).send().unwrap().status().as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 3, "{statuses:?}");
    let limited = http.get(format!("{}/console/", center.url())).send().unwrap();
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key(reqwest::header::RETRY_AFTER));
}

/// An incident's photos on its page: thumbnails that open the whole photo, served
/// byte-identical to what the phone took and only through a record in the staff
/// member's scope; a photo still on its way shows as such.
#[test]
fn an_incident_s_photos_are_shown_to_the_staff_of_its_township_only() {
    let center = center_with_two_dispatchers();
    let mut phone = center.phone("w-one", &center.url());
    let area = AreaCode::parse("a", &format!("{GRID_ONE}01")).unwrap();
    let id = phone.store.create(Sample::new(3).incident(&area, 1, 1_767_225_600_000)).unwrap();
    let photo = phone.store.attach(&id, &Sample::new(4).photo(1200, 900), "排水沟堵塞", None).unwrap();
    phone.sync().unwrap();
    // A second photo whose blobs have not arrived yet (its phone was cut off).
    let waiting = phone.store.attach(&id, &Sample::new(5).photo(900, 1200), "路面塌陷", None).unwrap();
    // Its reference reaches the center, its blobs do not: marked sent by hand, as if
    // the phone had been cut off before its photo phase.
    let pending = phone.store.pending_blobs(10).unwrap();
    for blob in &pending {
        phone.store.blob_uploaded(&blob.hash).unwrap();
    }
    phone.sync().unwrap();

    let http = client();
    let (session, _) = set_cookie(&sign_in(&center, "s-here", PASSWORD), "gs_session");
    let page = http.get(format!("{}/console/incidents/{id}", center.url())).header(COOKIE, &session).send().unwrap();
    let html = page.text().unwrap();
    assert!(html.contains("现场照片") && html.contains("排水沟堵塞") && html.contains("网格员甲"), "{html}");
    assert!(html.contains(&format!("/console/photos/{id}/{}", photo.thumbnail.hash)));
    assert!(html.contains("路面塌陷") && html.contains("照片上传中"), "the photo on its way is said so");
    assert!(!html.contains(&format!("/console/photos/{id}/{}", waiting.thumbnail.hash)));
    let fetch = |session: &str, hash: &str| {
        http.get(format!("{}/console/photos/{id}/{hash}", center.url())).header(COOKIE, session).send().unwrap()
    };
    let whole = fetch(&session, &photo.blob.hash);
    assert_eq!(whole.status(), 200);
    assert_eq!(whole.headers()["content-type"], "image/jpeg");
    assert_eq!(whole.bytes().unwrap().to_vec(), phone.store.blob(&photo.blob.hash).unwrap().unwrap());
    assert_eq!(fetch(&session, &photo.thumbnail.hash).status(), 200);
    // Not through another record, not a hash no record names, not for another township.
    assert_eq!(fetch(&session, &"0".repeat(64)).status(), 404);
    assert_eq!(fetch(&session, "../../center.db").status(), 404);
    let (theirs, _) = set_cookie(&sign_in(&center, "s-elsewhere", PASSWORD), "gs_session");
    assert_eq!(fetch(&theirs, &photo.blob.hash).status(), 404);
    assert_eq!(
        http.get(format!("{}/console/photos/{id}/{}", center.url(), photo.blob.hash)).send().unwrap().status(),
        303
    );
}

#[test]
fn no_enrolment_code_is_issued_for_an_address_a_phone_could_be_fooled_by() {
    let center = TestCenter::start();
    let township = [TOWNSHIP.to_owned()];
    center.running.with(|c| {
        let admin =
            Account { id: "s-admin", name: "管理员", role: Role::Admin, scope: &township, password: PASSWORD };
        accounts::add_staff(c, "cli", admin, 1).unwrap();
    });
    let (session, _) = set_cookie(&sign_in(&center, "s-admin", PASSWORD), "gs_session");
    let http = client();
    let devices = format!("{}/console/devices", center.url());
    let html = http.get(&devices).header(COOKIE, &session).send().unwrap().text().unwrap();
    let csrf = html.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let enrol = |host: &str| {
        http.post(format!("{devices}/enrol"))
            .header(COOKIE, &session)
            .header(HOST, host)
            .form(&[("csrf", csrf.as_str()), ("worker", "w-one")])
            .send()
            .unwrap()
    };
    let issued = |c: &gridsync_center::Center| {
        accounts::audit_log(c, 100).unwrap().iter().filter(|row| row.action == "device.enrol_code").count()
    };
    // A user name before the host would show the worker one center and reach another.
    let fooled = enrol("township.gov.cn@203.0.113.9");
    assert_eq!(fooled.status(), 400);
    assert_eq!(center.running.with(issued), 0, "no code was issued");
    let page = enrol(center.url().trim_start_matches("http://")).text().unwrap();
    assert!(page.contains("gridsync-enrol:v1?center=http://127.0.0.1:"), "{page}");
    assert_eq!(center.running.with(issued), 1);
}
