//! Calls, errors and time per command, in fixed arrays indexed by the command
//! table's [`CommandSpec::index`]: counting a command is a few relaxed atomic adds,
//! with no lookup by name, no lock and no allocation.
//!
//! The counters are striped: each client adds to the stripe its id picks, so clients
//! on different worker threads rarely write the same cache line (a single counter
//! for `GET` would bounce between cores on every command). Reads sum the stripes.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::command::table::{self, CommandSpec};

/// Stripes of counters; a power of two, a little above the usual worker count.
const STRIPES: usize = 8;

#[derive(Debug, Default)]
struct Counters {
    calls: AtomicU64,
    /// Executed, and the reply was an error.
    failed: AtomicU64,
    /// Refused by slotway before reaching a node (CROSSSLOT, unsupported, ...).
    rejected: AtomicU64,
    /// End-to-end microseconds through slotway, summed.
    usec: AtomicU64,
}

/// One command's totals, as `INFO commandstats` and `/metrics` show them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CommandTotals {
    pub calls: u64,
    pub failed: u64,
    pub rejected: u64,
    pub usec: u64,
}

#[derive(Debug)]
pub struct CommandStats {
    /// `STRIPES` blocks of `table::capacity()` counters, stripe-major so that each
    /// stripe is its own run of memory.
    counters: Box<[Counters]>,
    /// Error replies sent to clients, for any command (unknown ones included).
    error_replies: AtomicU64,
}

impl Default for CommandStats {
    fn default() -> Self {
        CommandStats {
            counters: (0..STRIPES * table::capacity()).map(|_| Counters::default()).collect(),
            error_replies: AtomicU64::new(0),
        }
    }
}

/// How a command ended, as far as the counters care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Failed,
    Rejected,
}

impl CommandStats {
    fn counters(&self, stripe: u64, command: u16) -> Option<&Counters> {
        let stripe = (stripe as usize) % STRIPES;
        self.counters.get(stripe * table::capacity() + usize::from(command))
    }

    /// Counts one command of the table (`command` is its index) that took `usec`.
    pub fn record(&self, stripe: u64, command: u16, outcome: Outcome, usec: u64) {
        let Some(c) = self.counters(stripe, command) else { return };
        match outcome {
            Outcome::Ok => c.calls.fetch_add(1, Ordering::Relaxed),
            Outcome::Failed => {
                c.failed.fetch_add(1, Ordering::Relaxed);
                c.calls.fetch_add(1, Ordering::Relaxed)
            }
            Outcome::Rejected => c.rejected.fetch_add(1, Ordering::Relaxed),
        };
        c.usec.fetch_add(usec, Ordering::Relaxed);
    }

    /// Counts an error reply sent to a client.
    pub fn error_replied(&self) {
        self.error_replies.fetch_add(1, Ordering::Relaxed);
    }

    pub fn error_replies(&self) -> u64 {
        self.error_replies.load(Ordering::Relaxed)
    }

    /// The totals of one command, summed over the stripes.
    pub fn totals(&self, spec: &CommandSpec) -> CommandTotals {
        let mut t = CommandTotals::default();
        for stripe in 0..STRIPES as u64 {
            if let Some(c) = self.counters(stripe, spec.index) {
                t.calls += c.calls.load(Ordering::Relaxed);
                t.failed += c.failed.load(Ordering::Relaxed);
                t.rejected += c.rejected.load(Ordering::Relaxed);
                t.usec += c.usec.load(Ordering::Relaxed);
            }
        }
        t
    }

    /// Every command that was called or rejected at least once, by name.
    pub fn used(&self) -> Vec<(&'static str, CommandTotals)> {
        // A learned spec that replaced a built-in one shares its index (and counters).
        let mut learned = crate::command::commands::learned_specs();
        learned.retain(|spec| usize::from(spec.index) >= table::count());
        table::all()
            .into_iter()
            .chain(learned)
            .map(|spec| (spec.name, self.totals(spec)))
            .filter(|(_, t)| t.calls + t.rejected > 0)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripes_add_up_per_command() {
        let stats = CommandStats::default();
        let get = table::lookup(b"get").unwrap();
        let set = table::lookup(b"set").unwrap();
        for client in 0..10 {
            stats.record(client, get.index, Outcome::Ok, 5);
        }
        stats.record(3, get.index, Outcome::Failed, 1);
        stats.record(4, set.index, Outcome::Rejected, 0);
        assert_eq!(stats.totals(get), CommandTotals { calls: 11, failed: 1, rejected: 0, usec: 51 });
        assert_eq!(stats.totals(set), CommandTotals { calls: 0, failed: 0, rejected: 1, usec: 0 });
        let used: Vec<_> = stats.used().into_iter().map(|(name, _)| name).collect();
        assert_eq!(used, ["get", "set"]);
        // An index past the table is ignored rather than trusted.
        stats.record(0, u16::MAX, Outcome::Ok, 1);
    }
}
