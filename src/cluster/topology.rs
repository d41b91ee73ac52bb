//! One immutable view of the cluster: which shard owns each slot, and each shard's
//! primary and replicas. Built from `CLUSTER SLOTS`; never changed once built.

use std::sync::Arc;

use redis_protocol::resp2::types::OwnedFrame;

use super::slot::SLOT_COUNT;
use crate::backend::pool::{Node, Pool};

const NO_SHARD: u16 = u16::MAX;

#[derive(Debug)]
pub struct Shard {
    pub primary: Arc<Node>,
    pub replicas: Vec<String>,
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
        }
    }

    pub fn build(ranges: &[SlotRange], pool: &Pool) -> Self {
        let mut topo = Topology::empty();
        for r in ranges {
            let index = match topo.shards.iter().position(|s| *s.primary.addr == *r.primary) {
                Some(i) => i,
                None => {
                    topo.shards.push(Shard { primary: pool.node(&r.primary), replicas: r.replicas.clone() });
                    topo.shards.len() - 1
                }
            };
            for slot in r.start..=r.end.min(SLOT_COUNT as u16 - 1) {
                topo.slot_owner[slot as usize] = index as u16;
            }
        }
        let mut seen = vec![false; topo.shards.len()];
        let mut fingerprint: u64 = 0xcbf2_9ce4_8422_2325;
        for (slot, &owner) in topo.slot_owner.iter().enumerate() {
            if let Some(first) = seen.get_mut(owner as usize).filter(|s| !**s) {
                *first = true;
                topo.scan_order.push(slot as u16);
            }
            // FNV-1a over (slot owner address) transitions.
            if slot == 0 || topo.slot_owner[slot - 1] != owner {
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
            && self.shards.iter().zip(&other.shards).all(|(a, b)| a.primary.addr == b.primary.addr && a.replicas == b.replicas)
    }

    /// The primary serving `slot`, if any.
    pub fn primary(&self, slot: u16) -> Option<&Arc<Node>> {
        let shard = *self.slot_owner.get(slot as usize)?;
        self.shards.get(shard as usize).map(|s| &s.primary)
    }

    /// A primary for keyless commands, spread by `hint`.
    pub fn any_primary(&self, hint: u64) -> Option<&Arc<Node>> {
        if self.shards.is_empty() {
            return None;
        }
        Some(&self.shards[(hint % self.shards.len() as u64) as usize].primary)
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
pub fn parse_cluster_slots(frame: &OwnedFrame, queried_host: &str) -> Result<Vec<SlotRange>, String> {
    let OwnedFrame::Array(entries) = frame else {
        return Err(format!("CLUSTER SLOTS answered {frame:?}"));
    };
    let mut ranges = Vec::with_capacity(entries.len());
    for entry in entries {
        let OwnedFrame::Array(parts) = entry else { return Err("CLUSTER SLOTS entry is not an array".into()) };
        let int = |i: usize| match parts.get(i) {
            Some(OwnedFrame::Integer(n)) if (0..SLOT_COUNT as i64).contains(n) => Ok(*n as u16),
            other => Err(format!("bad slot number in CLUSTER SLOTS: {other:?}")),
        };
        let (start, end) = (int(0)?, int(1)?);
        let mut nodes = parts[2..].iter().map(|n| node_addr(n, queried_host));
        let primary = nodes.next().ok_or("CLUSTER SLOTS entry without a primary")??;
        let replicas = nodes.collect::<Result<Vec<_>, _>>()?;
        ranges.push(SlotRange { start, end, primary, replicas });
    }
    Ok(ranges)
}

fn node_addr(frame: &OwnedFrame, queried_host: &str) -> Result<String, String> {
    let OwnedFrame::Array(fields) = frame else { return Err("CLUSTER SLOTS node is not an array".into()) };
    let host = match fields.first() {
        Some(OwnedFrame::BulkString(h)) | Some(OwnedFrame::SimpleString(h)) => String::from_utf8_lossy(h).into_owned(),
        other => return Err(format!("bad node host in CLUSTER SLOTS: {other:?}")),
    };
    let host = if host.is_empty() || host == "?" { queried_host.to_string() } else { host };
    match fields.get(1) {
        Some(OwnedFrame::Integer(port)) => Ok(format!("{host}:{port}")),
        other => Err(format!("bad node port in CLUSTER SLOTS: {other:?}")),
    }
}
