//! Request rates: token buckets per device and per address, so that one phone (or one
//! address sending unsigned junk) cannot take the center's time from the others. A
//! request over its rate is answered `429 rate_limited` with `Retry-After`, before any
//! database work. Memory stays bounded: at most [`MAX_TRACKED`] keys per kind, and
//! full buckets (idle keys) are the first forgotten.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The most keys one limiter tracks.
pub const MAX_TRACKED: usize = 100_000;

/// A rate: `per_second` tokens refill, up to `burst`.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    pub per_second: f64,
    pub burst: f64,
}

/// The rates the center applies (docs/security.md, "A stolen phone").
#[derive(Debug, Clone, Copy)]
pub struct Rates {
    /// Signed requests of one device: a sync is a few requests, a first download of a
    /// large grid a few hundred pages.
    pub device: Rate,
    /// Every request from one address. Carriers put many phones behind one address
    /// (carrier-grade NAT), so this is generous: it bounds a flood, not a township.
    pub address: Rate,
    /// Failed enrolments from one address (guessing codes is slow), and how many
    /// refused unsigned requests of an address are logged line by line.
    pub failures: Rate,
}

impl Default for Rates {
    fn default() -> Self {
        Self {
            device: Rate { per_second: 10.0, burst: 120.0 },
            address: Rate { per_second: 1_000.0, burst: 2_000.0 },
            failures: Rate { per_second: 0.2, burst: 10.0 },
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets keyed by `K`.
#[derive(Debug)]
pub struct Limiter<K> {
    rate: Rate,
    buckets: Mutex<HashMap<K, Bucket>>,
}

impl<K: std::hash::Hash + Eq + Clone> Limiter<K> {
    pub fn new(rate: Rate) -> Self {
        Self { rate, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes one token for `key`: `Ok` when there was one, or how long until there is.
    pub fn take(&self, key: &K) -> Result<(), Duration> {
        self.take_at(key, Instant::now())
    }

    /// Whether `key` has a token, without taking it.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        let buckets = self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        let tokens = buckets.get(key).map_or(self.rate.burst, |b| self.refilled(b, now));
        if tokens >= 1.0 { Ok(()) } else { Err(self.wait(tokens)) }
    }

    fn refilled(&self, bucket: &Bucket, now: Instant) -> f64 {
        (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * self.rate.per_second).min(self.rate.burst)
    }

    fn wait(&self, tokens: f64) -> Duration {
        Duration::from_secs_f64(((1.0 - tokens) / self.rate.per_second).max(0.0))
    }

    fn take_at(&self, key: &K, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= MAX_TRACKED && !buckets.contains_key(key) {
            let rate = self.rate;
            buckets.retain(|_, b| (b.tokens + now.duration_since(b.at).as_secs_f64() * rate.per_second) < rate.burst);
            if buckets.len() >= MAX_TRACKED {
                // Every tracked key is busy: a flood of fresh keys. Refuse the newcomer.
                return Err(Duration::from_secs(1));
            }
        }
        let tokens = buckets.get(key).map_or(self.rate.burst, |b| self.refilled(b, now));
        if tokens < 1.0 {
            buckets.insert(key.clone(), Bucket { tokens, at: now });
            return Err(self.wait(tokens));
        }
        buckets.insert(key.clone(), Bucket { tokens: tokens - 1.0, at: now });
        Ok(())
    }
}

/// The center's limiters.
#[derive(Debug)]
pub struct RateLimits {
    pub device: Limiter<String>,
    pub address: Limiter<IpAddr>,
    pub failures: Limiter<IpAddr>,
}

impl RateLimits {
    pub fn new(rates: Rates) -> Self {
        Self {
            device: Limiter::new(rates.device),
            address: Limiter::new(rates.address),
            failures: Limiter::new(rates.failures),
        }
    }
}

impl Default for RateLimits {
    fn default() -> Self {
        Self::new(Rates::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let limiter = Limiter::new(Rate { per_second: 2.0, burst: 3.0 });
        let start = Instant::now();
        for _ in 0..3 {
            assert!(limiter.take_at(&"a", start).is_ok());
        }
        let wait = limiter.take_at(&"a", start).unwrap_err();
        assert!(wait > Duration::from_millis(400) && wait <= Duration::from_millis(500), "{wait:?}");
        assert!(limiter.take_at(&"b", start).is_ok(), "keys are separate");
        assert!(limiter.take_at(&"a", start + Duration::from_millis(500)).is_ok(), "refilled at its rate");
    }
}
