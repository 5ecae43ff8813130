//! How long the center takes to answer, from a request's last byte to its answer (the
//! phone's network and its own CPU left out): a histogram in fixed buckets, lock-free,
//! served on /metrics and read by the benchmark.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Bucket upper bounds in milliseconds; one more bucket counts everything slower.
pub const BUCKETS_MS: [u64; 26] = [
    1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100, 150, 200, 300, 500, 700, 1_000, 1_500, 2_000, 3_000, 5_000, 7_000,
    10_000, 20_000, 60_000,
];

#[derive(Debug, Default)]
pub struct Latency {
    counts: [AtomicU64; BUCKETS_MS.len() + 1],
    total_us: AtomicU64,
}

impl Latency {
    pub fn record(&self, took: Duration) {
        let ms = took.as_millis() as u64;
        let bucket = BUCKETS_MS.iter().position(|bound| ms < *bound).unwrap_or(BUCKETS_MS.len());
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        self.total_us.fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// The counts per bucket now; the difference of two is a window's requests.
    pub fn snapshot(&self) -> Counts {
        Counts(self.counts.iter().map(|c| c.load(Ordering::Relaxed)).collect())
    }

    /// See [`Counts::quantile_ms`].
    pub fn quantile_ms(&self, q: f64) -> Option<u64> {
        self.snapshot().quantile_ms(q)
    }

    /// The histogram in Prometheus' text format.
    pub fn prometheus(&self, name: &str) -> String {
        let mut out = format!("# TYPE {name} histogram\n");
        let mut cumulative = 0;
        for (bound, count) in BUCKETS_MS.iter().zip(&self.counts) {
            cumulative += count.load(Ordering::Relaxed);
            out.push_str(&format!("{name}_bucket{{le=\"{}\"}} {cumulative}\n", *bound as f64 / 1e3));
        }
        out.push_str(&format!("{name}_bucket{{le=\"+Inf\"}} {}\n", self.count()));
        out.push_str(&format!("{name}_sum {}\n", self.total_us.load(Ordering::Relaxed) as f64 / 1e6));
        out.push_str(&format!("{name}_count {}\n", self.count()));
        out
    }
}

/// Requests per bucket, at one moment or over a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counts(Vec<u64>);

impl Counts {
    /// What was recorded between `earlier` and this snapshot.
    pub fn since(&self, earlier: &Counts) -> Counts {
        Counts(self.0.iter().zip(&earlier.0).map(|(now, then)| now - then).collect())
    }

    /// Both windows together (two center processes).
    pub fn plus(&self, other: &Counts) -> Counts {
        Counts(self.0.iter().zip(&other.0).map(|(a, b)| a + b).collect())
    }

    /// The upper bound (ms) of the bucket holding the `q`-quantile: the answer is "at
    /// most this". `None` before any request, or when it lies past the last bound.
    pub fn quantile_ms(&self, q: f64) -> Option<u64> {
        let total: u64 = self.0.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (bucket, count) in self.0.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return BUCKETS_MS.get(bucket).copied();
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_bucket_bounds_and_can_be_wrong_only_upward() {
        let latency = Latency::default();
        assert_eq!(latency.quantile_ms(0.5), None);
        for ms in [0, 4, 4, 4, 4, 4, 4, 4, 4, 900] {
            latency.record(Duration::from_millis(ms));
        }
        assert_eq!(latency.count(), 10);
        assert_eq!(latency.quantile_ms(0.5), Some(5));
        assert_eq!(latency.quantile_ms(0.99), Some(1_000));
        assert_eq!(latency.quantile_ms(0.1), Some(1));
        let before = latency.snapshot();
        latency.record(Duration::from_secs(120));
        assert_eq!(latency.quantile_ms(1.0), None, "past the last bound");
        let window = latency.snapshot().since(&before);
        assert_eq!(window.quantile_ms(0.5), None, "the window holds only the slow one");
        assert_eq!(window.plus(&before).quantile_ms(0.5), Some(5));
        assert!(latency.prometheus("x").contains("x_bucket{le=\"+Inf\"} 11\n"));
    }
}
