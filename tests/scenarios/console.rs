//! The township console over HTTP, as a browser uses it: sign-in with its CSRF token,
//! the session cookie's attributes, the security headers, the incident board in the
//! staff member's scope (a phone's report appears; another township's staff sees
//! nothing of it), and sign-out refused without the session's CSRF token.

use gridsync_center::console::accounts::{self, Account, Role};
use gridsync_core::sample::{Sample, follow_up};
use gridsync_core::{AreaCode, Step};
use gridsync_tests::{GRID_ONE, TOWNSHIP, TestCenter};
use reqwest::blocking::{Client, Response};
use reqwest::header::{CONTENT_SECURITY_POLICY, COOKIE, LOCATION, SET_COOKIE};
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

#[test]
fn staff_sign_in_and_see_their_township_s_incidents_only() {
    let center = TestCenter::start();
    let scope = |prefix: &str| vec![prefix.to_owned()];
    let (here, elsewhere) = (scope(TOWNSHIP), scope("440106013"));
    center.running.with(|c| {
        let account = |id, scope| Account { id, name: "调度员", role: Role::Dispatcher, scope, password: PASSWORD };
        accounts::add_staff(c, "cli", account("s-here", &here), 1).unwrap();
        accounts::add_staff(c, "cli", account("s-elsewhere", &elsewhere), 1).unwrap();
    });
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
