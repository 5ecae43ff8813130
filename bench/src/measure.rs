//! Timing, percentiles, peak memory and the time a transfer takes on a rural link.

use std::time::{Duration, Instant};

/// Runs `f` and returns its result and how long it took.
pub fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let out = f();
    (out, start.elapsed())
}

/// Latencies of repeated calls.
#[derive(Debug, Default, Clone)]
pub struct Latencies(Vec<Duration>);

impl Latencies {
    pub fn record<T>(&mut self, f: impl FnOnce() -> T) -> T {
        let (out, took) = timed(f);
        self.0.push(took);
        out
    }

    pub fn push(&mut self, took: Duration) {
        self.0.push(took);
    }

    /// The `q`-quantile in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        let mut sorted = self.0.clone();
        sorted.sort();
        let index = ((sorted.len().max(1) - 1) as f64 * q).round() as usize;
        sorted.get(index).map_or(0.0, |d| d.as_secs_f64() * 1e3)
    }
}

/// The process's peak resident memory (VmHWM) in MB, where Linux tells it.
pub fn peak_memory_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// A rural mobile link: bandwidths in kbit/s and round-trip time.
#[derive(Debug, Clone, Copy)]
pub struct Link {
    pub name: &'static str,
    pub down_kbit: f64,
    pub up_kbit: f64,
    pub rtt_ms: f64,
}

pub const LINKS: [Link; 3] = [
    Link { name: "GPRS", down_kbit: 50.0, up_kbit: 20.0, rtt_ms: 500.0 },
    Link { name: "Regular 2G", down_kbit: 250.0, up_kbit: 50.0, rtt_ms: 300.0 },
    Link { name: "Regular 3G", down_kbit: 750.0, up_kbit: 250.0, rtt_ms: 100.0 },
];

/// What went over the wire in one sync.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Transfer {
    pub bytes_up: u64,
    pub bytes_down: u64,
    pub round_trips: u64,
}

impl Transfer {
    pub fn bytes(&self) -> u64 {
        self.bytes_up + self.bytes_down
    }

    /// Seconds on `link`: a round-trip time per round trip plus each direction's bytes
    /// at its bandwidth.
    pub fn seconds_on(&self, link: &Link) -> f64 {
        self.round_trips as f64 * link.rtt_ms / 1e3
            + self.bytes_up as f64 * 8.0 / (link.up_kbit * 1e3)
            + self.bytes_down as f64 * 8.0 / (link.down_kbit * 1e3)
    }
}

/// CPU seconds of each thread or process named `prefix…`, by id, at one moment (Linux).
/// The difference of two snapshots counts only what was spent between them: a thread
/// that ended in between takes its earlier CPU with it instead of making the figure
/// fall (what a difference of totals would do).
#[derive(Debug, Clone, Default)]
pub struct CpuSnapshot(std::collections::HashMap<String, f64>);

impl CpuSnapshot {
    /// This process's threads named `prefix…` (the center's runtime threads).
    pub fn threads(prefix: &str) -> Self {
        Self::under("/proc/self/task", prefix)
    }

    /// The machine's processes named `prefix…` (the PostgreSQL server's backends).
    pub fn processes(prefix: &str) -> Self {
        Self::under("/proc", prefix)
    }

    /// CPU seconds spent since `earlier` by the threads or processes alive now.
    pub fn seconds_since(&self, earlier: &CpuSnapshot) -> f64 {
        self.0.iter().map(|(id, now)| now - earlier.0.get(id).copied().unwrap_or(0.0)).sum()
    }

    fn under(dir: &str, prefix: &str) -> Self {
        let Ok(entries) = std::fs::read_dir(dir) else { return Self::default() };
        Self(
            entries
                .filter_map(|entry| {
                    let path = entry.ok()?.path();
                    let name = std::fs::read_to_string(path.join("comm")).ok()?;
                    if !name.starts_with(prefix) {
                        return None;
                    }
                    let seconds = stat_seconds(&std::fs::read_to_string(path.join("stat")).ok()?)?;
                    Some((path.file_name()?.to_string_lossy().into_owned(), seconds))
                })
                .collect(),
        )
    }
}

/// CPU seconds of this whole process so far, threads that already ended included.
pub fn process_cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat").ok().as_deref().and_then(stat_seconds).expect("/proc/self/stat")
}

/// User plus system time from a `/proc/…/stat` line, in seconds.
fn stat_seconds(stat: &str) -> Option<f64> {
    const TICKS_PER_SECOND: f64 = 100.0; // USER_HZ, 100 on every Linux we ship to
    // Fields after the parenthesised name: state is 3rd, utime 14th, stime 15th.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SECOND)
}
