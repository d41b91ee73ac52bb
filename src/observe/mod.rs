//! slotway's own observability: what it counts and keeps about the commands it
//! serves and the nodes it talks to, for `/metrics`, `INFO` and `SLOTWAY ...`.
//!
//! Everything here is written on the data path, so each piece is built to cost
//! little there: counters in fixed arrays of atomics, one clock read per read batch
//! or reply batch rather than per command, locks only on rare paths.
//!
//! # Layout
//!
//! - [`commands`]: calls, errors and time per command (`INFO commandstats`)
//! - [`latency`]: a histogram of fixed buckets made of atomics
//! - [`nodes`]: per-node latency and connection counts

pub mod commands;
pub mod latency;
pub mod nodes;

use std::sync::Arc;
use std::time::Instant;

use crate::command::table::CommandSpec;
use commands::{CommandStats, Outcome};

/// Everything slotway observes about the commands it serves; one per [`crate::route::dispatch::Router`].
#[derive(Debug, Default)]
pub struct Observer {
    pub commands: CommandStats,
}

impl Observer {
    pub fn new(_config: &crate::config::Config) -> Self {
        Observer::default()
    }

    /// What a reply queue keeps about a request just framed at `started`.
    pub fn origin(&self, spec: Option<&CommandSpec>, rejected: bool, started: Instant) -> Origin {
        Origin { command: spec.map(|s| s.index), rejected, started: Some(started) }
    }
}

/// What a client's reply queue remembers of each request until its reply leaves.
#[derive(Debug, Default)]
pub struct Origin {
    /// The command's table index; `None` when the request named no known command.
    command: Option<u16>,
    /// slotway refused it before sending it anywhere.
    rejected: bool,
    /// When the request was framed; `None` for replies that answer no request.
    started: Option<Instant>,
}

/// One client's link to the [`Observer`]: accounts for each reply as it leaves.
#[derive(Debug)]
pub struct ClientObserver {
    observer: Arc<Observer>,
    /// Picks the client's stripe of counters.
    client_id: u64,
}

impl ClientObserver {
    pub fn new(observer: Arc<Observer>, client_id: u64) -> Self {
        ClientObserver { observer, client_id }
    }

    /// `reply` to the request of `origin` is going to the client. `now` is read
    /// once per batch of replies, by the first one that needs it.
    pub fn replied(&self, origin: Origin, reply: &[u8], now: &mut Option<Instant>) {
        let Some(started) = origin.started else { return };
        let failed = matches!(reply.first(), Some(b'-' | b'!'));
        if failed {
            self.observer.commands.error_reply();
        }
        let Some(command) = origin.command else { return };
        let now = *now.get_or_insert_with(Instant::now);
        let usec = u64::try_from(now.saturating_duration_since(started).as_micros()).unwrap_or(u64::MAX);
        let outcome = match (origin.rejected, failed) {
            (true, _) => Outcome::Rejected,
            (false, true) => Outcome::Failed,
            (false, false) => Outcome::Ok,
        };
        self.observer.commands.record(self.client_id, command, outcome, usec);
    }
}
