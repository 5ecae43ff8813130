//! A PostgreSQL cluster of a test's own, for tests that stop and start the database
//! (which a cluster shared by parallel tests cannot do): `scripts/with-postgres` runs as a
//! child process, prints the cluster's address, and holds the cluster until the test
//! drops it.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};

#[derive(Debug)]
pub struct PrivateCluster {
    child: Child,
    stdin: Option<ChildStdin>,
    /// The cluster's URL (its `postgres` database).
    pub url: String,
    data: String,
    ctl: String,
}

impl PrivateCluster {
    pub fn start() -> Self {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/with-postgres");
        let mut child = Command::new(script)
            .args(["sh", "-c", r#"echo "$GRIDSYNC_PG_URL $GRIDSYNC_PG_DATA $GRIDSYNC_PG_CTL"; read _"#])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("scripts/with-postgres runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let mut parts = line.trim().splitn(3, ' ');
        let (url, data, ctl) = (parts.next(), parts.next(), parts.next());
        let (Some(url), Some(data), Some(ctl)) = (url, data, ctl) else { panic!("with-postgres said {line:?}") };
        let (url, data, ctl) = (url.to_owned(), data.to_owned(), ctl.to_owned());
        Self { stdin: child.stdin.take(), child, url, data, ctl }
    }

    /// Stops the database at once, as a crash or an operator would.
    pub fn stop(&self) {
        self.pg_ctl(&format!("-D {} -m fast -w stop", self.data));
    }

    /// Starts it again on the same port.
    pub fn start_again(&self) {
        self.pg_ctl(&format!("-D {} -l {}/../server.log -w -t 60 start", self.data, self.data));
    }

    fn pg_ctl(&self, args: &str) {
        let status = Command::new("sh").args(["-c", &format!("{} {args} >/dev/null", self.ctl)]).status().unwrap();
        assert!(status.success(), "pg_ctl {args}");
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        // A line on its standard input ends the script, which stops the cluster.
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"\n");
        }
        let _ = self.child.wait();
    }
}
