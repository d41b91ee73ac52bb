//! The node-side timeouts a reload (SIGHUP) may change. Each is read where it is
//! used, so a new value applies from the next connect, request or wait on.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::config::Config;

#[derive(Debug)]
pub struct Timeouts {
    connect_ms: AtomicU64,
    reply_ms: AtomicU64,
    unreachable_wait_ms: AtomicU64,
}

impl Timeouts {
    pub fn new(config: &Config) -> Self {
        let t = Timeouts {
            connect_ms: AtomicU64::new(0),
            reply_ms: AtomicU64::new(0),
            unreachable_wait_ms: AtomicU64::new(0),
        };
        t.update(config);
        t
    }

    pub fn update(&self, config: &Config) {
        self.connect_ms.store(config.connect_timeout_ms, Relaxed);
        self.reply_ms.store(config.reply_timeout_ms, Relaxed);
        self.unreachable_wait_ms.store(config.unreachable_wait_ms, Relaxed);
    }

    /// For a TCP connection (and its TLS handshake) to a node.
    pub fn connect(&self) -> Duration {
        Duration::from_millis(self.connect_ms.load(Relaxed))
    }

    /// For a node to answer a (non-blocking) command.
    pub fn reply(&self) -> Duration {
        Duration::from_millis(self.reply_ms.load(Relaxed))
    }

    /// For a request to wait on an unreachable node or its replacement.
    pub fn unreachable_wait(&self) -> Duration {
        Duration::from_millis(self.unreachable_wait_ms.load(Relaxed))
    }
}
