//! Keeps replica reads off replicas that lag behind their primary.
//!
//! While replica reads are on, each primary that has replicas is asked for
//! `INFO replication` every `replica_check_interval_ms`, over its shared
//! connection (no extra connection). Its `slaveN:` lines say, per replica, the
//! link state, the replication offset the replica acknowledged and the seconds
//! since it last did; a replica past either configured bound, not `online`, or
//! not listed by its primary at all is marked `lagging`, and
//! [`Topology::reader`](super::topology::Topology::reader) skips it until a later
//! check finds it caught up. When a primary does not answer, its replicas keep
//! their last verdict: the connection's own health (`reachable`) covers that case,
//! and replicas marked unreachable get a `PING` each round so that they are tried
//! again (replica reads send them nothing while they are marked).

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use bytes::Bytes;
use tracing::{info, warn};

use super::refresh::ClusterMap;
use crate::backend::pool::{Node, Pool};
use crate::backend::request::{OWN_REQUESTS, reply_text};
use crate::config::{LiveConfig, ReadFrom};

/// One replica as its primary sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaState {
    pub addr: String,
    pub online: bool,
    /// Replication offset the replica acknowledged.
    pub offset: u64,
    /// Seconds since the primary last heard from it.
    pub lag_s: u64,
}

/// A primary's `INFO replication` reply, as far as lag needs it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Replication {
    pub primary_offset: u64,
    pub replicas: Vec<ReplicaState>,
}

/// How far behind a replica may be.
#[derive(Debug, Clone, Copy)]
pub struct LagBound {
    /// 0: no bound.
    pub max_seconds: u64,
    /// 0: no bound.
    pub max_bytes: u64,
}

impl Replication {
    /// Reads the text of `INFO replication`.
    pub fn parse(text: &str) -> Self {
        let mut out = Replication::default();
        for line in text.lines() {
            let Some((name, value)) = line.trim_end().split_once(':') else { continue };
            if name == "master_repl_offset" {
                out.primary_offset = value.parse().unwrap_or(0);
            } else if name.strip_prefix("slave").is_some_and(|n| n.parse::<u32>().is_ok()) {
                let field = |key: &str| value.split(',').find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='));
                let (Some(ip), Some(port)) = (field("ip"), field("port")) else { continue };
                out.replicas.push(ReplicaState {
                    addr: format!("{ip}:{port}"),
                    online: field("state") == Some("online"),
                    offset: field("offset").and_then(|v| v.parse().ok()).unwrap_or(0),
                    lag_s: field("lag").and_then(|v| v.parse().ok()).unwrap_or(u64::MAX),
                });
            }
        }
        out
    }

    /// Why the replica at `addr` may not serve reads now, or `None` when it may.
    pub fn too_far_behind(&self, addr: &str, bound: LagBound) -> Option<String> {
        let Some(r) = self.replicas.iter().find(|r| r.addr == addr) else {
            return Some("its primary does not list it".into());
        };
        let behind = self.primary_offset.saturating_sub(r.offset);
        if !r.online {
            Some("not online".into())
        } else if bound.max_seconds > 0 && r.lag_s > bound.max_seconds {
            Some(format!("last heard from {}s ago", r.lag_s))
        } else if bound.max_bytes > 0 && behind > bound.max_bytes {
            Some(format!("{behind} bytes behind"))
        } else {
            None
        }
    }
}

const INFO_REPLICATION: &[u8] = b"*2\r\n$4\r\nINFO\r\n$11\r\nreplication\r\n";

/// Runs until aborted.
pub async fn watch(map: Arc<ClusterMap>, pool: Arc<Pool>, live: LiveConfig) {
    loop {
        let config = live.load_full();
        tokio::time::sleep(Duration::from_millis(config.replica_check_interval_ms.max(10))).await;
        if pool.read_from() == ReadFrom::Primary {
            continue;
        }
        let bound = LagBound { max_seconds: config.replica_max_lag_s, max_bytes: config.replica_max_lag_bytes };
        probe_unreachable(&map).await;
        check_once(&map, bound, config.reply_timeout()).await;
    }
}

const PING: &[u8] = b"*1\r\n$4\r\nPING\r\n";

/// Sends a `PING` to each replica marked unreachable. Replica reads skip such a
/// replica, so without this nothing would ever try its connection again and a
/// replica that came back (restarted faster than the cluster marks a node failed,
/// so the topology never dropped it) would never serve reads again. The connection
/// marks it reachable once it connects; the reply itself is not needed.
async fn probe_unreachable(map: &ClusterMap) {
    let topology = arc_swap::Guard::into_inner(map.load());
    for reader in topology.shards.iter().flat_map(|s| &s.readers).filter(|r| !r.reachable.load(Relaxed)) {
        let _ = reader.send(Bytes::from_static(PING), OWN_REQUESTS).await;
    }
}

/// Asks every primary with replicas once and marks its replicas.
pub async fn check_once(map: &ClusterMap, bound: LagBound, wait: Duration) {
    let topology = arc_swap::Guard::into_inner(map.load());
    for shard in topology.shards.iter().filter(|s| !s.readers.is_empty()) {
        let Some(text) = ask(&shard.primary, wait).await else { continue };
        let replication = Replication::parse(&text);
        for reader in &shard.readers {
            let verdict = replication.too_far_behind(&reader.addr, bound);
            let was_lagging = reader.lagging.swap(verdict.is_some(), Relaxed);
            match verdict {
                Some(why) if !was_lagging => warn!(replica = %reader.addr, %why, "replica reads skip this replica"),
                None if was_lagging => info!(replica = %reader.addr, "replica caught up: reads use it again"),
                _ => {}
            }
        }
    }
}

/// `INFO replication` of `node`, or `None` when it cannot answer in time.
async fn ask(node: &Node, wait: Duration) -> Option<String> {
    let rx = node.send(Bytes::from_static(INFO_REPLICATION), OWN_REQUESTS).await.ok()?;
    reply_text(rx, wait).await
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = "# Replication\r\nrole:master\r\nconnected_slaves:2\r\n\
        slave0:ip=127.0.0.1,port=7004,state=online,offset=5000,lag=0\r\n\
        slave1:ip=127.0.0.1,port=7005,state=wait_bgsave,offset=0,lag=1\r\n\
        master_failover_state:no-failover\r\nmaster_replid:abc\r\nmaster_repl_offset:9000\r\n";

    #[test]
    fn reads_each_replica_line_and_the_primary_offset() {
        let r = Replication::parse(INFO);
        assert_eq!(r.primary_offset, 9000);
        assert_eq!(
            r.replicas,
            [
                ReplicaState { addr: "127.0.0.1:7004".into(), online: true, offset: 5000, lag_s: 0 },
                ReplicaState { addr: "127.0.0.1:7005".into(), online: false, offset: 0, lag_s: 1 },
            ]
        );
    }

    #[test]
    fn a_replica_is_judged_by_state_seconds_and_bytes() {
        let r = Replication::parse(INFO);
        let no_bound = LagBound { max_seconds: 0, max_bytes: 0 };
        assert_eq!(r.too_far_behind("127.0.0.1:7004", no_bound), None);
        assert_eq!(r.too_far_behind("127.0.0.1:7005", no_bound).as_deref(), Some("not online"));
        assert!(r.too_far_behind("127.0.0.1:7009", no_bound).is_some(), "not listed");
        let bytes = LagBound { max_seconds: 0, max_bytes: 3999 };
        assert_eq!(r.too_far_behind("127.0.0.1:7004", bytes).as_deref(), Some("4000 bytes behind"));
        assert_eq!(r.too_far_behind("127.0.0.1:7004", LagBound { max_bytes: 4000, ..bytes }), None);
        let late = Replication::parse(&INFO.replace("lag=0", "lag=11"));
        let seconds = LagBound { max_seconds: 10, max_bytes: 0 };
        assert_eq!(late.too_far_behind("127.0.0.1:7004", seconds).as_deref(), Some("last heard from 11s ago"));
        assert_eq!(r.too_far_behind("127.0.0.1:7004", seconds), None);
    }
}
