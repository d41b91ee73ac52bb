//! Pub/sub through shared node connections.
//!
//! Clients subscribe at the [`hub::Hub`]; the hub keeps one subscription per channel
//! or pattern on the nodes, however many clients want it, and copies each message to
//! every client that asked for it. Where a subscription lives on the cluster:
//!
//! - `SUBSCRIBE` / `PSUBSCRIBE`: one primary (the cluster broadcasts `PUBLISH` to every node);
//! - `SSUBSCRIBE`: the primary owning the shard channel's slot;
//! - keyspace notifications (`__keyspace@...` / `__keyevent@...` channels and patterns):
//!   every primary, since each node only notifies about its own keys; the streams
//!   are merged into one for the client.
//!
//! When a subscription connection dies or the topology changes, the hub subscribes
//! again where the subscription belongs now; clients keep their connection. Messages
//! published while no subscription was in place (between the failure and the
//! re-subscription) are lost, as they are for a direct client that reconnects.

pub mod conn;
pub mod hub;

use bytes::{BufMut, Bytes, BytesMut};

use crate::protocol::encode;

/// The three kinds of subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Channel,
    Pattern,
    Shard,
}

impl Kind {
    pub fn subscribe_command(self) -> &'static [u8] {
        match self {
            Kind::Channel => b"SUBSCRIBE",
            Kind::Pattern => b"PSUBSCRIBE",
            Kind::Shard => b"SSUBSCRIBE",
        }
    }

    pub fn unsubscribe_command(self) -> &'static [u8] {
        match self {
            Kind::Channel => b"UNSUBSCRIBE",
            Kind::Pattern => b"PUNSUBSCRIBE",
            Kind::Shard => b"SUNSUBSCRIBE",
        }
    }

    /// The confirmation's first element (`subscribe`, `punsubscribe`, ...).
    pub fn reply_name(self, subscribe: bool) -> &'static [u8] {
        match (self, subscribe) {
            (Kind::Channel, true) => b"subscribe",
            (Kind::Channel, false) => b"unsubscribe",
            (Kind::Pattern, true) => b"psubscribe",
            (Kind::Pattern, false) => b"punsubscribe",
            (Kind::Shard, true) => b"ssubscribe",
            (Kind::Shard, false) => b"sunsubscribe",
        }
    }
}

/// Keyspace notification channels and patterns exist separately on every node.
pub fn is_keyspace(name: &[u8]) -> bool {
    name.starts_with(b"__keyspace@") || name.starts_with(b"__keyevent@")
}

/// A push frame: `>n` in RESP3, a plain array in RESP2. `None` items are nulls.
pub fn push_frame(resp3: bool, items: &[Option<&[u8]>], count: Option<i64>) -> Bytes {
    let mut out = BytesMut::with_capacity(64 + items.iter().map(|i| i.map_or(0, |b| b.len())).sum::<usize>());
    let n = items.len() + usize::from(count.is_some());
    out.put_slice(format!("{}{n}\r\n", if resp3 { '>' } else { '*' }).as_bytes());
    for item in items {
        match item {
            Some(bytes) => encode::put_bulk(&mut out, bytes),
            None => out.put_slice(if resp3 { b"_\r\n" } else { b"$-1\r\n" }),
        }
    }
    if let Some(count) = count {
        out.put_slice(&encode::integer(count));
    }
    out.freeze()
}
