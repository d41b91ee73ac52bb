//! One immutable view of the cluster: which shard owns each slot, and each shard's
//! primary and replicas. Built from `CLUSTER SLOTS` (replicas completed from
//! `CLUSTER NODES`); never changed once built.

use std::sync::Arc;

use redis_protocol::error::RedisProtocolError;
use redis_protocol::resp2::types::OwnedFrame;
use thiserror::Error;

use super::slot::SLOT_COUNT;
use crate::backend::pool::{Node, Pool};
use crate::config::ReadFrom;
use crate::error::CommandError;
use crate::net::connect::ConnectError;

/// Why one node's view of the cluster could not be had: logged by the refresh, and
/// at start-up the reason, per seed, that slotway does not start.
#[derive(Debug, Error)]
pub enum TopologyError {
    #[error("{0}")]
    Connect(#[from] ConnectError),
    #[error("write timed out")]
    WriteTimeout,
    #[error("reply timed out")]
    ReplyTimeout,
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("bad reply: {0:?}")]
    BadReply(RedisProtocolError),
    #[error("CLUSTER reply too large")]
    TooLarge,
    #[error("connection closed")]
    Closed,
    /// The node's own error reply to `CLUSTER SLOTS`.
    #[error("{0}")]
    Refused(String),
    #[error("CLUSTER SLOTS answered {0:?}")]
    NotAnArray(OwnedFrame),
    #[error("CLUSTER SLOTS entry is not an array")]
    EntryNotAnArray,
    #[error("bad slot number in CLUSTER SLOTS: {0:?}")]
    BadSlot(Option<OwnedFrame>),
    #[error("CLUSTER SLOTS entry without a primary")]
    NoPrimary,
    #[error("CLUSTER SLOTS node is not an array")]
    NodeNotAnArray,
    #[error("bad node host in CLUSTER SLOTS: {0:?}")]
    BadHost(Option<OwnedFrame>),
    #[error("bad node port in CLUSTER SLOTS: {0:?}")]
    BadPort(Option<OwnedFrame>),
    /// The node's view is older than the one in use (a node cut off from the others).
    #[error("stale view: epoch {epoch:?} < {current}")]
    Stale { epoch: Option<u64>, current: u64 },
    #[error("node serves no slots (is the cluster created?)")]
    NoSlots,
}

const NO_SHARD: u16 = u16::MAX;

#[derive(Debug)]
pub struct Shard {
    pub primary: Arc<Node>,
    pub replicas: Vec<String>,
    /// The replicas over `READONLY` connections, when replica reads are on.
    pub readers: Vec<Arc<Node>>,
}

#[derive(Debug)]
pub struct Topology {
    /// Shard index per slot (`NO_SHARD` where no node serves it).
    slot_owner: Box<[u16]>,
    pub shards: Vec<Shard>,
    /// The lowest slot of each shard, ascending: the order `SCAN` walks the shards in.
    pub scan_order: Vec<u16>,
    /// A fingerprint of slot ownership; it changes whenever any slot changes owner.
    pub fingerprint: u64,
    /// Changes of slot ownership this process had seen when it stored this snapshot.
    pub version: u64,
    /// The highest config epoch among the primaries in the view it was built from.
    pub epoch: u64,
}

/// A slot range and its nodes, as one entry of `CLUSTER SLOTS` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotRange {
    pub start: u16,
    pub end: u16,
    pub primary: String,
    pub replicas: Vec<String>,
}

impl Topology {
    pub fn empty() -> Self {
        Topology {
            slot_owner: vec![NO_SHARD; SLOT_COUNT].into_boxed_slice(),
            shards: Vec::new(),
            scan_order: Vec::new(),
            fingerprint: 0,
            version: 0,
            epoch: 0,
        }
    }

    pub fn build(ranges: &[SlotRange], pool: &Pool) -> Self {
        let mut topo = Topology::empty();
        for r in ranges {
            let index = match topo.shards.iter().position(|s| *s.primary.addr == *r.primary) {
                Some(i) => i,
                None => {
                    // Made whatever the read policy: a reload may turn replica reads
                    // on, and reader connections connect only when first used.
                    let readers = r.replicas.iter().map(|a| pool.reader(a)).collect();
                    topo.shards.push(Shard { primary: pool.node(&r.primary), replicas: r.replicas.clone(), readers });
                    topo.shards.len() - 1
                }
            };
            // `None` only when the range is empty (its start after its end, or past the
            // last slot): then there is nothing to set.
            let slots = usize::from(r.start)..=usize::from(r.end).min(SLOT_COUNT - 1);
            if let Some(owners) = topo.slot_owner.get_mut(slots) {
                owners.fill(index as u16);
            }
        }
        let mut seen = vec![false; topo.shards.len()];
        let mut fingerprint: u64 = 0xcbf2_9ce4_8422_2325;
        let mut previous_owner = None;
        for (slot, &owner) in topo.slot_owner.iter().enumerate() {
            if let Some(first) = seen.get_mut(owner as usize).filter(|s| !**s) {
                *first = true;
                topo.scan_order.push(slot as u16);
            }
            // FNV-1a over (slot owner address) transitions.
            if previous_owner.replace(owner) != Some(owner) {
                let addr = topo.shards.get(owner as usize).map_or("", |s| &s.primary.addr);
                for b in (slot as u16).to_le_bytes().iter().chain(addr.as_bytes()) {
                    fingerprint = (fingerprint ^ *b as u64).wrapping_mul(0x100_0000_01b3);
                }
            }
        }
        topo.fingerprint = fingerprint;
        topo
    }

    /// Same slot owners and same replicas.
    pub fn same_as(&self, other: &Topology) -> bool {
        self.fingerprint == other.fingerprint
            && self.shards.len() == other.shards.len()
            && self
                .shards
                .iter()
                .zip(&other.shards)
                .all(|(a, b)| a.primary.addr == b.primary.addr && a.replicas == b.replicas)
    }

    /// The primary serving `slot`, if any.
    pub fn primary(&self, slot: u16) -> Option<&Arc<Node>> {
        let shard = *self.slot_owner.get(slot as usize)?;
        self.shards.get(shard as usize).map(|s| &s.primary)
    }

    /// Where a read-only command for `slot` goes under `policy`: a reachable replica
    /// within the lag bound that the client keeps to, or `None` for the primary.
    pub fn reader(&self, slot: u16, client_id: u64, policy: ReadFrom) -> Option<&Arc<Node>> {
        use std::sync::atomic::Ordering::Relaxed;
        if policy == ReadFrom::Primary {
            return None;
        }
        let shard = self.shards.get(*self.slot_owner.get(slot as usize)? as usize)?;
        // Counted, then picked by index: no list built per read.
        let usable = || shard.readers.iter().filter(|n| n.reachable.load(Relaxed) && !n.lagging.load(Relaxed));
        let count = usable().count() as u64;
        let pick = match policy {
            _ if count == 0 => return None,
            ReadFrom::RoundRobin => (client_id % (count + 1)).checked_sub(1)?,
            _ => client_id % count,
        };
        usable().nth(pick as usize)
    }

    /// Where a request for `slot` goes: its primary (for `None`, a primary spread by
    /// `hint`), or why there is none.
    pub fn owner(&self, slot: Option<u16>, hint: u64) -> Result<&Arc<Node>, CommandError> {
        let node = match slot {
            Some(slot) => self.primary(slot),
            None => self.any_primary(hint),
        };
        match node {
            Some(node) => Ok(node),
            None if self.shards.is_empty() => Err(CommandError::NoTopology),
            None => Err(CommandError::SlotNotServed),
        }
    }

    /// Every primary, and with `replicas` every replica too (their connections from `pool`).
    pub fn nodes(&self, replicas: bool, pool: &Pool) -> Vec<Arc<Node>> {
        let mut nodes: Vec<Arc<Node>> = self.shards.iter().map(|s| s.primary.clone()).collect();
        if replicas {
            for shard in &self.shards {
                nodes.extend(shard.replicas.iter().map(|r| pool.node(r)));
            }
        }
        nodes
    }

    /// A primary for keyless commands, spread by `hint`.
    pub fn any_primary(&self, hint: u64) -> Option<&Arc<Node>> {
        if self.shards.is_empty() {
            return None;
        }
        self.shards.get((hint % self.shards.len() as u64) as usize).map(|s| &s.primary)
    }

    pub fn covered_slots(&self) -> usize {
        self.slot_owner.iter().filter(|&&s| s != NO_SHARD).count()
    }

    pub fn has_node(&self, addr: &str) -> bool {
        self.shards.iter().any(|s| &*s.primary.addr == addr || s.replicas.iter().any(|r| r == addr))
    }
}

/// Reads a `CLUSTER SLOTS` reply. `queried_host` fills in nodes that report an empty
/// address (a node that does not know its own IP answers with "").
pub fn parse_cluster_slots(frame: &OwnedFrame, queried_host: &str) -> Result<Vec<SlotRange>, TopologyError> {
    let OwnedFrame::Array(entries) = frame else {
        return Err(TopologyError::NotAnArray(frame.clone()));
    };
    let mut ranges = Vec::with_capacity(entries.len());
    for entry in entries {
        let OwnedFrame::Array(parts) = entry else { return Err(TopologyError::EntryNotAnArray) };
        let int = |i: usize| match parts.get(i) {
            Some(OwnedFrame::Integer(n)) if (0..SLOT_COUNT as i64).contains(n) => Ok(*n as u16),
            other => Err(TopologyError::BadSlot(other.cloned())),
        };
        let (start, end) = (int(0)?, int(1)?);
        let mut nodes = parts.iter().skip(2).map(|n| node_addr(n, queried_host));
        let primary = nodes.next().ok_or(TopologyError::NoPrimary)??;
        let replicas = nodes.collect::<Result<Vec<_>, _>>()?;
        ranges.push(SlotRange { start, end, primary, replicas });
    }
    Ok(ranges)
}

/// Adds the replicas `CLUSTER SLOTS` leaves out, from `CLUSTER NODES` text.
///
/// Redis lists a replica in `CLUSTER SLOTS` only once it reports a replication offset,
/// which a replica of a freshly created cluster, or one that just attached, does not
/// have yet; commands slotway sends to every node (`CONFIG SET`) must reach it all the
/// same. A replica is matched to its range through its primary's address as both
/// replies give it; failed replicas, and nodes whose address is unknown, are left out.
/// The highest config epoch of a primary in a `CLUSTER NODES` text: it only grows
/// as the cluster fails over or moves slots, so a lower one means an older view.
pub fn max_config_epoch(nodes_text: &str) -> Option<u64> {
    nodes_text
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let flags = f.get(2)?;
            flags.split(',').any(|x| x == "master").then(|| f.get(6)?.parse::<u64>().ok()).flatten()
        })
        .max()
}

pub fn add_unlisted_replicas(ranges: &mut [SlotRange], nodes_text: &str, queried_host: &str) {
    let mut addr_of = std::collections::HashMap::new();
    let mut replicas = Vec::new(); // (replica address, primary id)
    for line in nodes_text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [id, addr, flags, master, ..] = f[..] else { continue };
        let Some(addr) = addr.split(['@', ',']).next() else { continue };
        let addr = match addr.strip_prefix(':') {
            Some(port) => format!("{queried_host}:{port}"),
            None => addr.to_string(),
        };
        addr_of.insert(id, addr.clone());
        let flags: Vec<&str> = flags.split(',').collect();
        let down = flags.iter().any(|f| matches!(*f, "fail" | "fail?" | "handshake" | "noaddr"));
        if flags.contains(&"slave") && !down && master != "-" {
            replicas.push((addr, master));
        }
    }
    for (replica, master) in replicas {
        let Some(primary) = addr_of.get(master) else { continue };
        for range in ranges.iter_mut().filter(|r| r.primary == *primary) {
            if !range.replicas.contains(&replica) {
                range.replicas.push(replica.clone());
            }
        }
    }
    // One order whichever reply listed a replica, so a replica getting its offset is
    // not taken for a topology change.
    for range in ranges.iter_mut() {
        range.replicas.sort();
    }
}

fn node_addr(frame: &OwnedFrame, queried_host: &str) -> Result<String, TopologyError> {
    let OwnedFrame::Array(fields) = frame else { return Err(TopologyError::NodeNotAnArray) };
    let host = match fields.first() {
        Some(OwnedFrame::BulkString(h)) | Some(OwnedFrame::SimpleString(h)) => String::from_utf8_lossy(h).into_owned(),
        other => return Err(TopologyError::BadHost(other.cloned())),
    };
    let host = if host.is_empty() || host == "?" { queried_host.to_string() } else { host };
    match fields.get(1) {
        Some(OwnedFrame::Integer(port)) => Ok(format!("{host}:{port}")),
        other => Err(TopologyError::BadPort(other.cloned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_slots_errors_say_what_was_wrong() {
        use OwnedFrame::{Array, BulkString, Integer};
        let text = |frame: OwnedFrame| parse_cluster_slots(&frame, "h").unwrap_err().to_string();
        assert_eq!(text(Integer(1)), "CLUSTER SLOTS answered Integer(1)");
        assert_eq!(text(Array(vec![Integer(1)])), "CLUSTER SLOTS entry is not an array");
        assert_eq!(text(Array(vec![Array(vec![Integer(0)])])), "bad slot number in CLUSTER SLOTS: None");
        assert_eq!(
            text(Array(vec![Array(vec![Integer(0), Integer(99999)])])),
            "bad slot number in CLUSTER SLOTS: Some(Integer(99999))"
        );
        assert_eq!(text(Array(vec![Array(vec![Integer(0), Integer(1)])])), "CLUSTER SLOTS entry without a primary");
        let entry = |node| Array(vec![Array(vec![Integer(0), Integer(1), node])]);
        assert_eq!(text(entry(Integer(1))), "CLUSTER SLOTS node is not an array");
        assert_eq!(text(entry(Array(vec![Integer(1)]))), "bad node host in CLUSTER SLOTS: Some(Integer(1))");
        assert_eq!(text(entry(Array(vec![BulkString(b"a".to_vec())]))), "bad node port in CLUSTER SLOTS: None");
        let ok = parse_cluster_slots(&entry(Array(vec![BulkString(b"".to_vec()), Integer(7000)])), "h").unwrap();
        assert_eq!(ok[0].primary, "h:7000", "an empty host is the queried one");
    }

    #[test]
    fn replicas_missing_from_cluster_slots_are_added_from_cluster_nodes() {
        let range = |start, end, primary: &str, replicas: &[&str]| SlotRange {
            start,
            end,
            primary: primary.into(),
            replicas: replicas.iter().map(|r| r.to_string()).collect(),
        };
        let mut ranges = vec![range(0, 99, "10.0.0.1:7000", &["10.0.0.4:7003"]), range(100, 199, "10.0.0.2:7001", &[])];
        let nodes = "\
a 10.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-99
b 10.0.0.2:7001@17001,host-b master - 0 0 2 connected 100-199
c 10.0.0.4:7003@17003 slave a 0 0 1 connected
d 10.0.0.5:7004@17004 slave b 0 0 2 connected
e 10.0.0.6:7005@17005 slave,fail b 0 0 2 disconnected
f :7006@17006 slave b 0 0 2 connected
g 10.0.0.8:7007@17007 master - 0 0 3 connected
";
        add_unlisted_replicas(&mut ranges, nodes, "10.0.0.9");
        assert_eq!(ranges[0].replicas, ["10.0.0.4:7003"], "already listed: not twice");
        assert_eq!(ranges[1].replicas, ["10.0.0.5:7004", "10.0.0.9:7006"], "failed replica left out");
        let mut again = vec![range(100, 199, "10.0.0.2:7001", &["10.0.0.9:7006"])];
        add_unlisted_replicas(&mut again, nodes, "10.0.0.9");
        assert_eq!(again[0].replicas, ranges[1].replicas, "the same order, whoever listed them");
    }
}

#[cfg(test)]
mod epoch_tests {
    use super::max_config_epoch;

    #[test]
    fn highest_primary_epoch() {
        let text = "a 127.0.0.1:7000@17000 myself,master - 0 0 3 connected 0-5460\n\
                    b 127.0.0.1:7001@17001 master - 0 0 7 connected 5461-10922\n\
                    c 127.0.0.1:7003@17003 slave a 0 0 9 connected\n";
        assert_eq!(max_config_epoch(text), Some(7));
        assert_eq!(max_config_epoch(""), None);
    }
}
