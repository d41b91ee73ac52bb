//! slotway's own counters, shown by `INFO`. Updated with relaxed atomics, once per
//! client read rather than once per command where that is enough.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Metrics {
    pub started: Instant,
    /// `INFO`'s `run_id` and `master_replid`: random, fixed for this process's life.
    pub run_id: String,
    pub replid: String,
    pub connected_clients: AtomicU64,
    pub total_connections: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub total_commands: AtomicU64,
    /// Bytes read from and written to clients (added once per read or write).
    pub net_input_bytes: AtomicU64,
    pub net_output_bytes: AtomicU64,
    /// Commands per second and client kbps in and out over the last second, kept by
    /// [`sample_rates`] (kbps as `f64` bits).
    pub ops_per_sec: AtomicU64,
    pub input_kbps: AtomicU64,
    pub output_kbps: AtomicU64,
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
            run_id: random_hex40(),
            replid: random_hex40(),
            connected_clients: AtomicU64::new(0),
            total_connections: AtomicU64::new(0),
            rejected_connections: AtomicU64::new(0),
            total_commands: AtomicU64::new(0),
            net_input_bytes: AtomicU64::new(0),
            net_output_bytes: AtomicU64::new(0),
            ops_per_sec: AtomicU64::new(0),
            input_kbps: AtomicU64::new(0),
            output_kbps: AtomicU64::new(0),
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

/// 40 random hex digits, as Redis's run ids (std's randomly keyed hasher is the
/// randomness: no id needs more than unpredictable and distinct).
fn random_hex40() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::with_capacity(48);
    for i in 0..3u8 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u8(i);
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out.truncate(40);
    out
}

/// How often [`sample_rates`] samples the counters (INFO's `hz`).
pub const SAMPLE_HZ: u64 = 10;

/// Runs until aborted: every 1/[`SAMPLE_HZ`] s samples the command and byte counters
/// and publishes their rates over the last second, as Redis's
/// `instantaneous_ops_per_sec` and `instantaneous_*_kbps` (Redis also averages
/// samples taken by its cron over about a second and a half).
pub async fn sample_rates(metrics: std::sync::Arc<Metrics>) {
    let m = &metrics;
    let read = || {
        (
            Instant::now(),
            Metrics::get(&m.total_commands),
            Metrics::get(&m.net_input_bytes),
            Metrics::get(&m.net_output_bytes),
        )
    };
    let mut window = VecDeque::from([read()]);
    let mut tick = tokio::time::interval(Duration::from_millis(1000 / SAMPLE_HZ));
    loop {
        tick.tick().await;
        let now = read();
        while window.len() > SAMPLE_HZ as usize {
            window.pop_front();
        }
        if let Some(&(at, ops, input, output)) = window.front() {
            let secs = now.0.duration_since(at).as_secs_f64();
            if secs > 0.0 {
                let per_sec = |later: u64, earlier: u64| later.saturating_sub(earlier) as f64 / secs;
                m.ops_per_sec.store(per_sec(now.1, ops).round() as u64, Ordering::Relaxed);
                m.input_kbps.store((per_sec(now.2, input) / 1024.0).to_bits(), Ordering::Relaxed);
                m.output_kbps.store((per_sec(now.3, output) / 1024.0).to_bits(), Ordering::Relaxed);
            }
        }
        window.push_back(now);
    }
}
