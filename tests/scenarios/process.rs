//! Child processes of the scenarios: `gridsync-proc` as a phone or a center, killed
//! with SIGKILL, optionally under a memory limit.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A child process whose stdout lines are collected as they come.
pub struct Process {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    reader: std::thread::JoinHandle<()>,
}

impl Process {
    /// Starts `gridsync-proc` with `args`, its logs appended to `log`.
    pub fn spawn(args: &[&str], log: &Path) -> Self {
        Self::spawn_with(Command::new(env!("CARGO_BIN_EXE_gridsync-proc")), args, log)
    }

    /// Starts `gridsync-proc` with `args` and the environment variables `env` (a crash
    /// point: `GRIDSYNC_STOP_AT`, `GRIDSYNC_PANIC_AT`).
    pub fn spawn_env(args: &[&str], env: &[(&str, &str)], log: &Path) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_gridsync-proc"));
        command.envs(env.iter().copied());
        Self::spawn_with(command, args, log)
    }

    /// Starts `gridsync-proc` with `args` under an address-space limit of `bytes`
    /// (`prlimit --as`, from util-linux): what it allocates past that fails.
    pub fn spawn_limited(bytes: u64, args: &[&str], log: &Path) -> Self {
        let mut prlimit = Command::new("prlimit");
        prlimit.arg(format!("--as={bytes}")).arg("--").arg(env!("CARGO_BIN_EXE_gridsync-proc"));
        Self::spawn_with(prlimit, args, log)
    }

    fn spawn_with(mut command: Command, args: &[&str], log: &Path) -> Self {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
        let mut child = command.args(args).stdout(Stdio::piped()).stderr(log).spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Self { child, lines, reader }
    }

    pub fn wait_for(&self, line: &str) {
        for _ in 0..600 {
            if self.lines.lock().unwrap().iter().any(|l| l == line) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the process never said {line:?}");
    }

    /// The process id (prlimit runs the command in its own process).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// SIGKILL, then every line the process wrote before it died.
    pub fn kill(mut self) -> Vec<String> {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.reader.join().unwrap();
        std::mem::take(&mut self.lines.lock().unwrap())
    }
}

/// A center database for a center process (in `dir`, or on PostgreSQL: see
/// `gridsync_tests::center_db`): workers `w-one` and `w-one-b` on grid one, and an
/// enrolment code for each worker named in `codes_for`. Returns the database (a path or
/// a URL), the codes, and a free loopback address to serve on.
pub fn center_db(dir: &tempfile::TempDir, codes_for: &[&str]) -> (String, Vec<String>, String) {
    let db = gridsync_tests::center_db(dir);
    let codes = set_up_center(&db, codes_for);
    (db, codes, free_address())
}

/// Workers `w-one` and `w-one-b` on grid one in the center database `db`, and an
/// enrolment code for each worker named in `codes_for`.
pub fn set_up_center(db: &str, codes_for: &[&str]) -> Vec<String> {
    let center = gridsync_center::Center::open_url(db).unwrap();
    center.set_worker("w-one", "网格员甲", &[gridsync_tests::GRID_ONE.into()]).unwrap();
    center.set_worker("w-one-b", "网格员乙", &[gridsync_tests::GRID_ONE.into()]).unwrap();
    codes_for.iter().map(|worker| center.issue_enrolment_code(worker, 3_600_000).unwrap()).collect()
}

/// A loopback address nobody listens on, for a center process to serve on.
pub fn free_address() -> String {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string()
}

/// After a phone process was killed: opens its database, checks that what it reported
/// written is there and nothing twice (counted in `figures`), adds its writes to
/// `oracle`, and returns them with the changes it made since `made_before`.
pub fn check_killed_phone(
    db: &str,
    key: &[u8; 32],
    lines: &[String],
    made_before: u64,
    figures: &mut gridsync_tests::Figures,
    oracle: &mut gridsync_tests::oracle::Oracle,
) -> (Vec<gridsync_tests::oracle::Ack>, u64, u64) {
    let wrote = gridsync_tests::oracle::acks_in(lines);
    let store =
        gridsync_core::Store::open(db, gridsync_core::DbKey::Raw(key)).expect("the database opens after kill -9");
    let mine = gridsync_tests::oracle::Oracle::from(wrote.clone()).durable();
    figures.check_again(&mine, &[("killed phone", &store)]);
    let audit = store.change_audit().unwrap();
    figures.count_loss(0, audit.duplicated);
    oracle.extend(wrote.iter().cloned());
    (wrote, audit.made_here - made_before, audit.made_here)
}
