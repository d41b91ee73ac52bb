//! The pub/sub hub: who is subscribed to what, which node connections carry which
//! subscriptions, and delivery of messages to subscribers, each within its own
//! output bound (Redis's `client-output-buffer-limit pubsub`).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{Notify, mpsc, oneshot};
use tracing::{debug, warn};

use super::conn::{SubCommand, SubConn};
use super::{Kind, is_keyspace, push_frame};
use crate::backend::reach::NodeReach;
use crate::backend::request::ReplyResult;
use crate::cluster::refresh::ClusterMap;
use crate::cluster::slot::hash_slot;
use crate::config::OutputLimit;
use crate::protocol::encode;
use crate::protocol::glob::glob_match;

/// Pushes one client may have waiting, whatever their size (bytes are bounded separately).
const PUSH_QUEUE: usize = 64 * 1024;
/// How long a client waits for its subscriptions to be confirmed by the nodes.
const CONFIRM_WAIT: Duration = Duration::from_secs(5);

/// What a subscribed client's session reads pushes from.
pub struct Subscriber {
    pub pushes: mpsc::Receiver<Bytes>,
    /// Bytes queued for this client and not yet written; the session subtracts.
    pub queued: Arc<AtomicUsize>,
    /// Signalled when the hub drops the client for exceeding its output limit: the
    /// session closes the connection at once, even in the middle of a write the
    /// client is not reading (as Redis closes such a client), instead of waiting for
    /// the client to drain what is queued.
    pub cut: Arc<Notify>,
}

struct Client {
    tx: mpsc::Sender<Bytes>,
    resp3: bool,
    queued: Arc<AtomicUsize>,
    over_soft_since: Option<Instant>,
    cut: Arc<Notify>,
}

type Sub = (Kind, Bytes);

#[derive(Default)]
struct State {
    clients: HashMap<u64, Client>,
    subs: HashMap<Sub, HashSet<u64>>,
    /// The patterns among `subs`, so `PUBLISH` counts its receivers without walking
    /// every channel (Redis too walks every pattern on each publish).
    patterns: HashSet<Bytes>,
    conns: HashMap<Arc<str>, (SubConn, HashSet<Sub>)>,
    /// The primary carrying the plain channel and pattern subscriptions.
    global: Option<Arc<str>>,
}

pub struct Hub {
    state: Mutex<State>,
    /// Where subscriptions belong, and who to tell when a node connection fails.
    map: Arc<ClusterMap>,
    limit: OutputLimit,
    /// How subscription connections reach and log in to nodes.
    reach: NodeReach,
    me: Weak<Hub>,
}

impl Hub {
    pub fn new(map: Arc<ClusterMap>, limit: OutputLimit, reach: NodeReach) -> Arc<Hub> {
        Arc::new_cyclic(|me| Hub { state: Mutex::new(State::default()), map, limit, reach, me: me.clone() })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Channels, patterns and shard channels with at least one subscriber (`INFO`'s
    /// `pubsub_channels`, `pubsub_patterns`, `pubsubshard_channels`).
    pub fn counts(&self) -> [usize; 3] {
        let mut counts = [0; 3];
        for (kind, _) in self.lock().subs.keys() {
            let i = match kind {
                Kind::Channel => 0,
                Kind::Pattern => 1,
                Kind::Shard => 2,
            };
            if let Some(c) = counts.get_mut(i) {
                *c += 1;
            }
        }
        counts
    }

    /// Clients with at least one subscription (`INFO`'s `pubsub_clients`).
    pub fn subscribed_clients(&self) -> usize {
        let state = self.lock();
        let mut ids: Vec<u64> = state.subs.values().flat_map(|ids| ids.iter().copied()).collect();
        ids.sort_unstable();
        ids.dedup();
        ids.len()
    }

    /// Makes `id` a subscriber; its pushes arrive on the returned receiver.
    pub fn register(&self, id: u64, resp3: bool) -> Subscriber {
        let (tx, pushes) = mpsc::channel(PUSH_QUEUE);
        let queued = Arc::new(AtomicUsize::new(0));
        let cut = Arc::new(Notify::new());
        let client = Client { tx, resp3, queued: queued.clone(), over_soft_since: None, cut: cut.clone() };
        self.lock().clients.insert(id, client);
        Subscriber { pushes, queued, cut }
    }

    /// Subscribes `id` to `names`. The receiver yields `confirmation` once every new
    /// node subscription is confirmed, so messages published after the client reads
    /// its confirmation reach it.
    pub fn subscribe(
        &self,
        id: u64,
        kind: Kind,
        names: &[Bytes],
        confirmation: Bytes,
    ) -> oneshot::Receiver<ReplyResult> {
        let (reply, rx) = oneshot::channel();
        let mut state = self.lock();
        let mut fresh = Vec::new();
        for name in names {
            let clients = state.subs.entry((kind, name.clone())).or_default();
            if clients.is_empty() {
                fresh.push((kind, name.clone()));
            }
            clients.insert(id);
            if kind == Kind::Pattern {
                state.patterns.insert(name.clone());
            }
        }
        let waits = self.place(&mut state, &fresh);
        drop(state);
        if waits.is_empty() {
            let _ = reply.send(Ok(confirmation));
        } else {
            tokio::spawn(async move {
                let _ = tokio::time::timeout(CONFIRM_WAIT, async {
                    for wait in waits {
                        let _ = wait.await;
                    }
                })
                .await;
                let _ = reply.send(Ok(confirmation));
            });
        }
        rx
    }

    /// Removes `id` from `names`; node subscriptions nobody wants any more are dropped.
    pub fn unsubscribe(&self, id: u64, kind: Kind, names: &[Bytes]) {
        let mut state = self.lock();
        let mut gone = Vec::new();
        for name in names {
            let key = (kind, name.clone());
            if let Some(clients) = state.subs.get_mut(&key) {
                clients.remove(&id);
                if clients.is_empty() {
                    state.subs.remove(&key);
                    if kind == Kind::Pattern {
                        state.patterns.remove(name);
                    }
                    gone.push(key);
                }
            }
        }
        Self::unplace(&mut state, &gone);
    }

    /// Forgets a client entirely (it disconnected, reset, or was too slow).
    pub fn remove_client(&self, id: u64) {
        let mut state = self.lock();
        Self::remove_locked(&mut state, id);
    }

    fn remove_locked(state: &mut State, id: u64) {
        state.clients.remove(&id);
        let mut gone = Vec::new();
        let patterns = &mut state.patterns;
        state.subs.retain(|key, clients| {
            clients.remove(&id);
            if clients.is_empty() {
                if key.0 == Kind::Pattern {
                    patterns.remove(&key.1);
                }
                gone.push(key.clone());
                false
            } else {
                true
            }
        });
        Self::unplace(state, &gone);
    }

    /// Copies a message from a node to every client subscribed to it.
    pub fn deliver(&self, kind: Kind, pattern: Option<&[u8]>, channel: &[u8], payload: &[u8]) {
        let mut state = self.lock();
        let key = (kind, Bytes::copy_from_slice(pattern.unwrap_or(channel)));
        let Some(ids) = state.subs.get(&key) else { return };
        let ids: Vec<u64> = ids.iter().copied().collect();
        let name: &[u8] = match kind {
            Kind::Channel => b"message",
            Kind::Pattern => b"pmessage",
            Kind::Shard => b"smessage",
        };
        let mut items: Vec<Option<&[u8]>> = vec![Some(name)];
        if let Some(p) = pattern {
            items.push(Some(p));
        }
        items.push(Some(channel));
        items.push(Some(payload));
        // The frame for RESP2 clients and the one for RESP3 clients, each built once.
        let (mut resp2_frame, mut resp3_frame): (Option<Bytes>, Option<Bytes>) = (None, None);
        let mut too_slow = Vec::new();
        let now = Instant::now();
        for id in ids {
            let Some(client) = state.clients.get_mut(&id) else { continue };
            let cached = if client.resp3 { &mut resp3_frame } else { &mut resp2_frame };
            let frame = cached.get_or_insert_with(|| push_frame(client.resp3, &items, None)).clone();
            let queued = client.queued.fetch_add(frame.len(), Ordering::Relaxed) + frame.len();
            let over_soft = queued > self.limit.soft;
            let since = *client.over_soft_since.get_or_insert(now);
            if !over_soft {
                client.over_soft_since = None;
            }
            let soft_expired = over_soft && now.duration_since(since).as_secs() >= self.limit.soft_seconds;
            if queued > self.limit.hard || soft_expired || client.tx.try_send(frame).is_err() {
                too_slow.push(id);
            }
        }
        for id in too_slow {
            warn!(client = id, "subscriber over its output limit: disconnecting it");
            if let Some(client) = state.clients.get(&id) {
                // Stores a permit if the session is not waiting yet.
                client.cut.notify_one();
            }
            Self::remove_locked(&mut state, id);
        }
    }

    /// What to add to the receiver count a `PUBLISH` to `channel` gets from the node
    /// at `addr`, so it counts slotway's clients as Redis counts its own: the node
    /// counts each of slotway's shared subscriptions it holds once, whatever the
    /// number of clients behind it, and the ones held on other nodes not at all
    /// (the cluster passes the message on to them, and never counts there).
    pub fn publish_adjustment(&self, addr: &str, channel: &[u8]) -> i64 {
        let state = self.lock();
        let held = state.conns.get(addr).map(|(_, has)| has);
        let channel_sub = (Kind::Channel, Bytes::copy_from_slice(channel));
        let pattern_subs = state.patterns.iter().filter(|p| glob_match(p, channel)).map(|p| (Kind::Pattern, p.clone()));
        let mut adjust = 0i64;
        for sub in std::iter::once(channel_sub).chain(pattern_subs) {
            if let Some(clients) = state.subs.get(&sub) {
                let counted_by_node = held.is_some_and(|has| has.contains(&sub));
                adjust += clients.len() as i64 - i64::from(counted_by_node);
            }
        }
        adjust
    }

    /// What to add to the nodes' summed `PUBSUB NUMSUB` (`Kind::Channel`) or
    /// `SHARDNUMSUB` (`Kind::Shard`) count for `name`, so it counts slotway's clients
    /// as Redis counts its own: the nodes count each shared subscription slotway
    /// holds once, whatever the number of clients behind it.
    pub fn numsub_adjustment(&self, kind: Kind, name: &[u8]) -> i64 {
        let state = self.lock();
        let sub = (kind, Bytes::copy_from_slice(name));
        let clients = state.subs.get(&sub).map_or(0, HashSet::len) as i64;
        let held = state.conns.values().filter(|(_, has)| has.contains(&sub)).count() as i64;
        clients - held
    }

    /// A subscription connection failed: forget it and place its subscriptions again
    /// (on the same node once it is back, or where the topology says now).
    pub fn conn_failed(&self, addr: &str) {
        {
            let mut state = self.lock();
            state.conns.remove(addr);
            if state.global.as_deref() == Some(addr) {
                state.global = None;
            }
        }
        self.map.request_refresh();
        self.reconcile_soon();
    }

    /// Re-places every subscription shortly (after a failure or a topology change).
    pub fn reconcile_soon(&self) {
        let me = self.me.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if let Some(hub) = me.upgrade() {
                hub.reconcile();
            }
        });
    }

    /// Makes the node subscriptions match what clients want, where the topology says.
    pub fn reconcile(&self) {
        let mut state = self.lock();
        if state.subs.is_empty() && state.conns.is_empty() {
            return;
        }
        let wanted: Vec<Sub> = state.subs.keys().cloned().collect();
        let mut desired: HashMap<Arc<str>, HashSet<Sub>> = HashMap::new();
        for sub in wanted {
            for addr in self.targets(&mut state, &sub) {
                desired.entry(addr).or_default().insert(sub.clone());
            }
        }
        let addrs: Vec<Arc<str>> = state.conns.keys().cloned().collect();
        for addr in addrs {
            let want = desired.remove(&addr).unwrap_or_default();
            let Some((conn, has)) = state.conns.get_mut(&addr) else { continue };
            let extra: Vec<Sub> = has.difference(&want).cloned().collect();
            let missing: Vec<Sub> = want.difference(has).cloned().collect();
            send_grouped(conn, &extra, false);
            let _ = send_grouped(conn, &missing, true);
            *has = want;
            if has.is_empty() {
                state.conns.remove(&addr);
            }
        }
        for (addr, want) in desired {
            let conn = self.open(&addr);
            let subs: Vec<Sub> = want.iter().cloned().collect();
            let _ = send_grouped(&conn, &subs, true);
            state.conns.insert(addr, (conn, want));
        }
        debug!(conns = state.conns.len(), subs = state.subs.len(), "pub/sub subscriptions placed");
    }

    fn open(&self, addr: &Arc<str>) -> SubConn {
        SubConn::start(addr.clone(), self.me.clone(), self.reach.clone())
    }

    /// The nodes a subscription belongs on.
    fn targets(&self, state: &mut State, (kind, name): &Sub) -> Vec<Arc<str>> {
        let topology = self.map.load();
        match kind {
            Kind::Shard => topology.primary(hash_slot(name)).map(|n| n.addr.clone()).into_iter().collect(),
            _ if is_keyspace(name) => topology.shards.iter().map(|s| s.primary.addr.clone()).collect(),
            _ => {
                let still_primary = |a: &Arc<str>| topology.shards.iter().any(|s| s.primary.addr == *a);
                if !state.global.as_ref().is_some_and(still_primary) {
                    state.global = topology.shards.first().map(|s| s.primary.addr.clone());
                }
                state.global.clone().into_iter().collect()
            }
        }
    }

    /// Subscribes the nodes for `fresh` subscriptions; one confirmation wait per command sent.
    fn place(&self, state: &mut State, fresh: &[Sub]) -> Vec<oneshot::Receiver<()>> {
        let mut per_addr: HashMap<Arc<str>, Vec<Sub>> = HashMap::new();
        for sub in fresh {
            for addr in self.targets(state, sub) {
                per_addr.entry(addr).or_default().push(sub.clone());
            }
        }
        let mut waits = Vec::new();
        for (addr, subs) in per_addr {
            if !state.conns.contains_key(&addr) {
                let conn = self.open(&addr);
                state.conns.insert(addr.clone(), (conn, HashSet::new()));
            }
            if let Some((conn, has)) = state.conns.get_mut(&addr) {
                waits.extend(send_grouped(conn, &subs, true));
                has.extend(subs);
            }
        }
        waits
    }

    /// Unsubscribes the nodes from subscriptions nobody wants any more.
    fn unplace(state: &mut State, gone: &[Sub]) {
        if gone.is_empty() {
            return;
        }
        let addrs: Vec<Arc<str>> = state.conns.keys().cloned().collect();
        for addr in addrs {
            let Some((conn, has)) = state.conns.get_mut(&addr) else { continue };
            let here: Vec<Sub> = gone.iter().filter(|s| has.remove(*s)).cloned().collect();
            send_grouped(conn, &here, false);
            if has.is_empty() {
                state.conns.remove(&addr);
            }
        }
    }
}

/// Sends one (un)subscribe command per kind; returns the confirmation waits.
fn send_grouped(conn: &SubConn, subs: &[Sub], subscribe: bool) -> Vec<oneshot::Receiver<()>> {
    let mut waits = Vec::new();
    for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
        let names: Vec<&[u8]> = subs.iter().filter(|(k, _)| *k == kind).map(|(_, n)| &n[..]).collect();
        if names.is_empty() {
            continue;
        }
        let command = if subscribe { kind.subscribe_command() } else { kind.unsubscribe_command() };
        let mut args = vec![command];
        args.extend(names.iter().copied());
        let (done, wait) = oneshot::channel();
        let acks = if subscribe { names.len() } else { 0 };
        let sent = conn.tx.send(SubCommand { bytes: encode::command(&args), acks, done: Some(done) });
        if sent.is_ok() && subscribe {
            waits.push(wait);
        }
    }
    waits
}
