//! What cluster-aware clients are told when they ask slotway `CLUSTER ...`: a
//! one-node cluster at slotway's own address that owns all 16384 slots. Clients
//! such as redis-py's `RedisCluster` or `redis-benchmark --cluster` then send
//! everything to slotway, which routes it.

use std::net::SocketAddr;

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::CommandError;
use crate::protocol::encode;
use crate::protocol::request::Args;

/// A stable 40-hex-digit node id derived from the address clients reach slotway at.
pub fn node_id(addr: &SocketAddr) -> String {
    hex_id(&addr.to_string())
}

/// `CLUSTER MYSHARDID`: the id of slotway's one shard, stable like its node id.
pub fn shard_id(addr: &SocketAddr) -> String {
    hex_id(&format!("shard {addr}"))
}

/// 40 hex digits from `text` (FNV-1a, spread).
fn hex_id(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
    }
    format!("{h:016x}{:016x}{:08x}", h.rotate_left(29) ^ 0x5107_3a75, (h >> 13) as u32)
}

/// `CLUSTER INFO`: a healthy cluster of one node (or `fail` if slotway sees
/// uncovered slots).
pub fn cluster_info(covered_slots: usize) -> String {
    let state = if covered_slots == crate::cluster::slot::SLOT_COUNT { "ok" } else { "fail" };
    let text = format!(
        "cluster_state:{state}\r\ncluster_slots_assigned:16384\r\ncluster_slots_ok:{covered_slots}\r\n\
         cluster_slots_pfail:0\r\ncluster_slots_fail:{}\r\ncluster_known_nodes:1\r\ncluster_size:1\r\n\
         cluster_current_epoch:1\r\ncluster_my_epoch:1\r\ncluster_stats_messages_sent:0\r\n\
         cluster_stats_messages_received:0\r\ntotal_cluster_links_buffer_limit_exceeded:0\r\n",
        16384 - covered_slots
    );
    text
}

/// `CLUSTER SLOTS`: one range, 0-16383, served by slotway.
pub fn cluster_slots(addr: &SocketAddr) -> Bytes {
    let mut out = BytesMut::with_capacity(128);
    out.put_slice(b"*1\r\n*3\r\n:0\r\n:16383\r\n*4\r\n");
    encode::put_bulk(&mut out, addr.ip().to_string().as_bytes());
    out.put_slice(&encode::integer(addr.port() as i64));
    encode::put_bulk(&mut out, node_id(addr).as_bytes());
    out.put_slice(b"*0\r\n");
    out.freeze()
}

/// `CLUSTER SHARDS`: one shard with one primary.
pub fn cluster_shards(addr: &SocketAddr) -> Bytes {
    let mut out = BytesMut::with_capacity(256);
    out.put_slice(b"*1\r\n*4\r\n");
    encode::put_bulk(&mut out, b"slots");
    out.put_slice(b"*2\r\n:0\r\n:16383\r\n");
    encode::put_bulk(&mut out, b"nodes");
    out.put_slice(b"*1\r\n*14\r\n");
    let ip = addr.ip().to_string();
    let fields: [(&str, Option<&str>, Option<i64>); 7] = [
        ("id", Some(&node_id(addr)), None),
        ("port", None, Some(addr.port() as i64)),
        ("ip", Some(&ip), None),
        ("endpoint", Some(&ip), None),
        ("role", Some("master"), None),
        ("replication-offset", None, Some(0)),
        ("health", Some("online"), None),
    ];
    for (key, text, number) in fields {
        encode::put_bulk(&mut out, key.as_bytes());
        match (text, number) {
            (Some(t), _) => encode::put_bulk(&mut out, t.as_bytes()),
            (None, Some(n)) => out.put_slice(&encode::integer(n)),
            _ => {}
        }
    }
    out.freeze()
}

/// `CLUSTER NODES`: one line, `myself,master`, all slots.
pub fn cluster_nodes(addr: &SocketAddr) -> String {
    let line = format!(
        "{} {}:{}@{} myself,master - 0 0 1 connected 0-16383\n",
        node_id(addr),
        addr.ip(),
        addr.port(),
        addr.port() as u32 + 10000
    );
    line
}

/// `CLUSTER REPLICAS id` / `CLUSTER SLAVES id`: slotway's one node has none.
pub fn cluster_replicas(addr: &SocketAddr, args: Args<'_>) -> Bytes {
    let id = args.get(2);
    if id == node_id(addr).as_bytes() {
        Bytes::from_static(b"*0\r\n")
    } else {
        CommandError::UnknownNode(String::from_utf8_lossy(id).into_owned()).to_reply()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis_protocol::resp2::decode::decode;
    use redis_protocol::resp2::types::OwnedFrame;

    #[test]
    fn replies_are_valid_resp() {
        let addr: SocketAddr = "127.0.0.1:6380".parse().unwrap();
        for reply in [cluster_slots(&addr), cluster_shards(&addr)] {
            let (_, len) = decode(&reply).unwrap().unwrap();
            assert_eq!(len, reply.len());
        }
        assert_eq!(node_id(&addr).len(), 40);
        let (frame, _) = decode(&cluster_slots(&addr)).unwrap().unwrap();
        let OwnedFrame::Array(ranges) = frame else { panic!() };
        let parsed = crate::cluster::topology::parse_cluster_slots(&OwnedFrame::Array(ranges), "x").unwrap();
        assert_eq!(parsed[0].primary, "127.0.0.1:6380");
        assert_eq!((parsed[0].start, parsed[0].end), (0, 16383));
    }
}
