//! A client's own subscriptions (what `SUBSCRIBE` and friends answer from), and its
//! feed of messages from the pub/sub hub.

use std::collections::HashSet;

use bytes::{Bytes, BytesMut};
use tokio::sync::oneshot;

use crate::backend::request::ReplyResult;
use crate::pubsub::hub::{Hub, Subscriber};
use crate::pubsub::{Kind, push_frame};

#[derive(Default)]
pub struct Subscriptions {
    channels: HashSet<Bytes>,
    patterns: HashSet<Bytes>,
    shard: HashSet<Bytes>,
    /// Messages for this client; created on its first subscription.
    pub feed: Option<Subscriber>,
}

impl Subscriptions {
    /// Subscribed to anything: in RESP2, the client is in subscribed mode.
    pub fn active(&self) -> bool {
        !(self.channels.is_empty() && self.patterns.is_empty() && self.shard.is_empty())
    }

    fn set(&mut self, kind: Kind) -> &mut HashSet<Bytes> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }

    /// The count Redis puts in confirmations: shard channels are counted apart.
    fn count(&self, kind: Kind) -> i64 {
        match kind {
            Kind::Shard => self.shard.len() as i64,
            _ => (self.channels.len() + self.patterns.len()) as i64,
        }
    }

    /// `SUBSCRIBE`/`PSUBSCRIBE`/`SSUBSCRIBE`: the confirmations arrive once the nodes
    /// have confirmed the subscriptions.
    pub fn subscribe(
        &mut self,
        hub: &Hub,
        id: u64,
        resp3: bool,
        kind: Kind,
        names: Vec<Bytes>,
    ) -> oneshot::Receiver<ReplyResult> {
        if self.feed.is_none() {
            self.feed = Some(hub.register(id, resp3));
        }
        let mut confirmations = BytesMut::new();
        for name in &names {
            self.set(kind).insert(name.clone());
            let frame = push_frame(resp3, &[Some(kind.reply_name(true)), Some(name)], Some(self.count(kind)));
            confirmations.extend_from_slice(&frame);
        }
        hub.subscribe(id, kind, &names, confirmations.freeze())
    }

    /// `UNSUBSCRIBE`/`PUNSUBSCRIBE`/`SUNSUBSCRIBE`; no names means all of that kind.
    pub fn unsubscribe(&mut self, hub: &Hub, id: u64, resp3: bool, kind: Kind, names: Vec<Bytes>) -> Bytes {
        let names: Vec<Bytes> = if names.is_empty() { self.set(kind).iter().cloned().collect() } else { names };
        if names.is_empty() {
            return push_frame(resp3, &[Some(kind.reply_name(false)), None], Some(self.count(kind)));
        }
        let mut confirmations = BytesMut::new();
        for name in &names {
            self.set(kind).remove(name);
            let frame = push_frame(resp3, &[Some(kind.reply_name(false)), Some(name)], Some(self.count(kind)));
            confirmations.extend_from_slice(&frame);
        }
        hub.unsubscribe(id, kind, &names);
        confirmations.freeze()
    }

    /// Drops every subscription (`RESET`, disconnect).
    pub fn clear(&mut self, hub: &Hub, id: u64) {
        if self.feed.take().is_some() {
            hub.remove_client(id);
        }
        self.channels.clear();
        self.patterns.clear();
        self.shard.clear();
    }
}
