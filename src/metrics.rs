//! slotway's own counters, shown by `INFO`. Updated with relaxed atomics, once per
//! client read rather than once per command where that is enough.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

#[derive(Debug)]
pub struct Metrics {
    pub started: Instant,
    pub connected_clients: AtomicU64,
    pub total_connections: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub total_commands: AtomicU64,
    pub redirects_moved: AtomicU64,
    pub redirects_ask: AtomicU64,
    /// Topology refreshes that got an answer (whether or not anything changed).
    pub topology_refreshes: AtomicU64,
    /// Refresh rounds where no node tried gave a usable answer.
    pub topology_refresh_failures: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            started: Instant::now(),
            connected_clients: AtomicU64::new(0),
            total_connections: AtomicU64::new(0),
            rejected_connections: AtomicU64::new(0),
            total_commands: AtomicU64::new(0),
            redirects_moved: AtomicU64::new(0),
            redirects_ask: AtomicU64::new(0),
            topology_refreshes: AtomicU64::new(0),
            topology_refresh_failures: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
