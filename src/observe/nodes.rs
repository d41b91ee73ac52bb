//! What slotway measures about each node it talks to: reply latency and open
//! connections. Owned by the node ([`crate::backend::pool::Node`]), shared with its
//! connection tasks, read at scrape time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use super::latency::Latency;

#[derive(Debug, Default)]
pub struct NodeStats {
    pub latency: Latency,
    /// Shared connections to the node that are established now.
    connections: AtomicU64,
}

impl NodeStats {
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    /// Counts a connection as open until the returned guard drops.
    pub fn connection_open(self: &Arc<Self>) -> OpenConnection {
        self.connections.fetch_add(1, Ordering::Relaxed);
        OpenConnection(self.clone())
    }
}

/// An established connection, counted in [`NodeStats`] while it lives.
#[derive(Debug)]
pub struct OpenConnection(Arc<NodeStats>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Times replies as a connection reader delivers them: one clock read per chunk
/// of replies read (not per reply), taken only if the chunk completes a request.
#[derive(Debug)]
pub struct ReplyClock<'a> {
    stats: Option<&'a NodeStats>,
    now: Option<Instant>,
}

impl<'a> ReplyClock<'a> {
    pub fn new(stats: Option<&'a NodeStats>) -> Self {
        ReplyClock { stats, now: None }
    }

    /// A reply arrived for a request written at `sent_at`.
    pub fn replied(&mut self, sent_at: Instant) {
        if let Some(stats) = self.stats {
            let now = *self.now.get_or_insert_with(Instant::now);
            stats.latency.record(now.saturating_duration_since(sent_at));
        }
    }
}
