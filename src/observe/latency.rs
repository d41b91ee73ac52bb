//! Backend latency per node: how long a node took to answer, from the write of the
//! batch its request went out in to the read that brought the reply. A histogram of
//! fixed log-spaced buckets made of atomics, written by the node's connection
//! readers and read at scrape time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the buckets, in microseconds (1-2.5-5 steps, 50 µs to 10 s);
/// slower replies land in the `+Inf` bucket only.
pub const BUCKET_BOUNDS_US: [u64; 18] = [
    50,
    100,
    250,
    500,
    1_000,
    2_500,
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    u64::MAX,
];

#[derive(Debug, Default)]
pub struct Latency {
    /// Replies per bucket (not cumulative); the last one is `+Inf`.
    buckets: [AtomicU64; BUCKET_BOUNDS_US.len()],
    sum_us: AtomicU64,
}

/// A histogram read at one moment, cumulative as Prometheus wants it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LatencySnapshot {
    pub sum_seconds: f64,
    pub count: u64,
    /// `(upper bound in seconds, replies at or below it)`, without `+Inf` (that is `count`).
    pub buckets: Vec<(f64, u64)>,
}

impl Latency {
    pub fn record(&self, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let bucket = BUCKET_BOUNDS_US.iter().position(|&bound| us <= bound).unwrap_or(BUCKET_BOUNDS_US.len() - 1);
        if let Some(b) = self.buckets.get(bucket) {
            b.fetch_add(1, Ordering::Relaxed);
        }
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> LatencySnapshot {
        let mut running = 0;
        let mut buckets = Vec::with_capacity(BUCKET_BOUNDS_US.len());
        for (bound, count) in BUCKET_BOUNDS_US.iter().zip(&self.buckets) {
            running += count.load(Ordering::Relaxed);
            if *bound != u64::MAX {
                buckets.push((*bound as f64 / 1e6, running));
            }
        }
        LatencySnapshot { sum_seconds: self.sum_us.load(Ordering::Relaxed) as f64 / 1e6, count: running, buckets }
    }
}

impl LatencySnapshot {
    /// Adds `other`, a snapshot with the same buckets (another connection set of the same node).
    pub fn add(&mut self, other: &LatencySnapshot) {
        self.sum_seconds += other.sum_seconds;
        self.count += other.count;
        for ((_, mine), (_, theirs)) in self.buckets.iter_mut().zip(&other.buckets) {
            *mine += theirs;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_land_in_cumulative_buckets() {
        let l = Latency::default();
        l.record(Duration::from_micros(30));
        l.record(Duration::from_micros(100));
        l.record(Duration::from_millis(3));
        l.record(Duration::from_secs(60));
        let s = l.snapshot();
        assert_eq!(s.count, 4);
        assert_eq!(s.buckets[0], (0.00005, 1));
        assert_eq!(s.buckets[1], (0.0001, 2), "a bound is inclusive");
        assert_eq!(s.buckets[6], (0.005, 3));
        assert_eq!(s.buckets.last(), Some(&(10.0, 3)), "60 s is only in +Inf");
        assert!((s.sum_seconds - 60.00313).abs() < 1e-9);
    }
}
