//! slotway's own observability: what it counts and keeps about the commands it
//! serves and the nodes it talks to, for `/metrics`, `INFO` and `SLOTWAY ...`.
//!
//! Everything here is written on the data path, so each piece is built to cost
//! little there: counters in fixed arrays of atomics, one clock read per read batch
//! or reply batch rather than per command, locks only on rare paths.
//!
//! # Layout
//!
//! - [`command`]: the `SLOTWAY` command
//! - [`commands`]: calls, errors and time per command (`INFO commandstats`)
//! - [`hotkeys`]: the most requested keys, from a sample (`SLOTWAY HOTKEYS`)
//! - [`latency`]: a histogram of fixed buckets made of atomics
//! - [`nodes`]: per-node latency and connection counts
//! - [`slowlog`]: commands slower end to end than a threshold (`SLOTWAY SLOWLOG`)

pub mod clients;
pub mod command;
pub mod commands;
pub mod hotkeys;
pub mod latency;
pub mod nodes;
pub mod slowlog;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;

use self::clients::{ClientRow, lock};
use crate::command::table::CommandSpec;
use crate::config::Config;
use commands::{CommandStats, Outcome};
use hotkeys::HotKeys;
use slowlog::{Sender, SlowLog};

/// Everything slotway observes about the commands it serves; one per proxy.
#[derive(Debug)]
pub struct Observer {
    pub commands: CommandStats,
    pub slowlog: SlowLog,
    pub hotkeys: HotKeys,
}

impl Observer {
    pub fn new(config: &Config) -> Self {
        Observer {
            commands: CommandStats::default(),
            slowlog: SlowLog::new(config.slowlog_log_slower_than, config.slowlog_max_len),
            hotkeys: HotKeys::new(config.hotkeys_sample_rate),
        }
    }

    /// Applies the settings that can change live (SIGHUP).
    pub fn configure(&self, config: &Config) {
        self.slowlog.configure(config.slowlog_log_slower_than, config.slowlog_max_len);
        self.hotkeys.set_sample_rate(config.hotkeys_sample_rate);
    }

    /// What a reply queue keeps about `request`, just framed at `started`. The
    /// request's bytes are kept (a reference, not a copy) only while the slow log is
    /// on, and never for commands that carry passwords.
    pub fn origin(&self, spec: Option<&CommandSpec>, rejected: bool, started: Instant, request: &Bytes) -> Origin {
        let loggable = spec.is_some_and(|s| !matches!(s.name, "auth" | "hello")) && !rejected;
        Origin {
            command: spec.map(|s| s.index),
            rejected,
            started: Some(started),
            request: (loggable && self.slowlog.enabled()).then(|| request.clone()),
        }
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
    /// The request, for the slow log.
    request: Option<Bytes>,
}

/// One client's link to the [`Observer`]: accounts for each reply as it leaves.
#[derive(Debug)]
pub struct ClientObserver {
    observer: Arc<Observer>,
    /// Picks the client's stripe of counters.
    client_id: u64,
    /// The client's `CLIENT LIST` row: its address and name, for slow log entries.
    row: Arc<Mutex<ClientRow>>,
}

impl ClientObserver {
    pub fn new(observer: Arc<Observer>, client_id: u64, row: Arc<Mutex<ClientRow>>) -> Self {
        ClientObserver { observer, client_id, row }
    }

    /// `reply` to the request of `origin` is going to the client. `now` is read
    /// once per batch of replies, by the first one that needs it.
    pub fn replied(&self, origin: Origin, reply: &[u8], now: &mut Option<Instant>) {
        let Some(started) = origin.started else { return };
        let failed = matches!(reply.first(), Some(b'-' | b'!'));
        if failed {
            self.observer.commands.error_replied();
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
        if let Some(request) = origin.request
            && self.observer.slowlog.is_slow(usec)
        {
            let sender = {
                let row = lock(&self.row);
                Sender { addr: row.addr, name: row.name.clone() }
            };
            self.observer.slowlog.log(&request, usec, sender);
        }
    }
}
