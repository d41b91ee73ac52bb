//! Keeping the topology current: the one `ArcSwap<Topology>` every command reads, a
//! background task that rebuilds it periodically and on demand (after `MOVED`, or a
//! failed node connection), and the `CLUSTER SLOTS` (+ `CLUSTER NODES`) query it is built from.
//! Demands are coalesced: any number of them during a refresh cause one more refresh.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::{ArcSwap, Guard};
use bytes::BytesMut;
use redis_protocol::resp2::decode::decode;
use tokio::io::AsyncReadExt;
use tokio::sync::Notify;
use tokio::time::timeout;
use tracing::{debug, info, warn};

use redis_protocol::resp2::types::OwnedFrame;

use super::topology::{
    SlotRange, Topology, TopologyError, add_unlisted_replicas, max_config_epoch, parse_cluster_slots,
};
use crate::backend::pool::Pool;
use crate::backend::reach::NodeReach;
use crate::config::LiveConfig;
use crate::metrics::Metrics;
use crate::net::connect::{NodeConnector, NodeLogin};
use crate::net::stream::Stream;

/// Least time between two refreshes, so a burst of redirects costs one query.
const MIN_GAP: Duration = Duration::from_millis(100);
/// Largest `CLUSTER SLOTS` reply accepted (a 1,000-node cluster fits easily).
const MAX_REPLY: usize = 16 * 1024 * 1024;

/// See [`ClusterMap::cache`].
pub type TopologyCache = arc_swap::Cache<Arc<ArcSwap<Topology>>, Arc<Topology>>;

pub struct ClusterMap {
    /// In an `Arc` so sessions can hold a [`TopologyCache`] of it.
    current: Arc<ArcSwap<Topology>>,
    wake: Notify,
    /// Refresh rounds in a row where every node answered with an older epoch.
    pub stale_rounds: std::sync::atomic::AtomicU32,
    /// Bumped on every change of slot ownership; clients compare it to order their
    /// requests across a change (see `Session::handle_request`).
    version: AtomicU64,
}

impl ClusterMap {
    pub fn new() -> Self {
        ClusterMap {
            current: Arc::new(ArcSwap::from_pointee(Topology::empty())),
            wake: Notify::new(),
            stale_rounds: Default::default(),
            version: AtomicU64::new(0),
        }
    }

    /// The current snapshot; read once per command.
    pub fn load(&self) -> Guard<Arc<Topology>> {
        self.current.load()
    }

    /// A client's own view of the snapshot: its `load` is one atomic load and a
    /// compare while the snapshot is unchanged, where `ArcSwap::load` costs about
    /// 150 instructions. It holds the snapshot it last saw until its next `load`.
    pub fn cache(&self) -> TopologyCache {
        arc_swap::Cache::new(self.current.clone())
    }

    /// Swaps in a new snapshot, unless it describes the same cluster as the current
    /// one; says whether it did.
    pub fn store(&self, mut topology: Topology) -> bool {
        let current = self.current.load();
        if topology.same_as(&current) {
            return false;
        }
        topology.version = if topology.fingerprint != current.fingerprint {
            self.version.fetch_add(1, Ordering::Release) + 1
        } else {
            current.version
        };
        self.current.store(Arc::new(topology));
        true
    }

    /// Changes of slot ownership so far.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// Asks the refresher for a new snapshot soon (coalesced).
    pub fn request_refresh(&self) {
        self.wake.notify_one();
    }
}

impl Default for ClusterMap {
    fn default() -> Self {
        Self::new()
    }
}

/// What refreshing the topology needs, and whom it tells of a change.
#[derive(Clone)]
pub struct Refresher {
    pub map: Arc<ClusterMap>,
    /// Topology snapshots hold the pool's nodes; nodes that left are forgotten.
    pub pool: Arc<Pool>,
    pub seeds: Vec<String>,
    pub reach: NodeReach,
    pub metrics: Arc<Metrics>,
    pub live: LiveConfig,
    /// Called after a new snapshot is swapped in.
    pub on_change: Arc<dyn Fn() + Send + Sync>,
}

/// Runs until aborted: refresh on demand or every `interval`.
pub async fn refresh_loop(refresher: Refresher) {
    loop {
        // Read each round: a reload may change it.
        let interval = refresher.live.load().refresh_interval();
        tokio::select! {
            _ = refresher.map.wake.notified() => {}
            _ = tokio::time::sleep(interval) => {}
        }
        if let Err(errors) = refresh_once(&refresher).await {
            Metrics::add(&refresher.metrics.topology_refresh_failures, 1);
            let errors: Vec<(&str, String)> = errors.iter().map(|(addr, e)| (addr.as_str(), e.to_string())).collect();
            warn!(?errors, "topology refresh failed on every node tried");
        }
        tokio::time::sleep(MIN_GAP).await;
    }
}

/// Asks known primaries, then the seeds, for `CLUSTER SLOTS`; the first full answer
/// becomes the new snapshot. On failure, returns each address tried with its error.
pub async fn refresh_once(refresher: &Refresher) -> Result<(), Vec<(String, TopologyError)>> {
    // Reachable primaries first, then the seeds, then primaries that are down: a node
    // that drops packets would cost a whole connect timeout per refresh.
    let (mut candidates, mut down) = (Vec::new(), Vec::new());
    for shard in &refresher.map.load().shards {
        let addr = shard.primary.addr.to_string();
        if shard.primary.reachable.load(std::sync::atomic::Ordering::Relaxed) {
            candidates.push(addr);
        } else {
            down.push(addr);
        }
    }
    for addr in refresher.seeds.iter().chain(&down) {
        if !candidates.contains(addr) {
            candidates.push(addr.clone());
        }
    }
    let mut errors = Vec::new();
    let current_epoch = refresher.map.load().epoch;
    let mut stale = Vec::new();
    let mut unreachable = 0;
    for addr in candidates {
        match fetch_slots(
            &addr,
            &refresher.reach.connector,
            refresher.reach.timeouts.connect(),
            refresher.reach.login.as_ref(),
        )
        .await
        {
            // A view older than the one in use (a node cut off in a minority partition
            // that missed a failover) must not roll the map back.
            Ok(view) if !view.ranges.is_empty() && view.epoch.is_some_and(|e| e < current_epoch) => {
                errors.push((addr, TopologyError::Stale { epoch: view.epoch, current: current_epoch }));
                stale.push(view);
            }
            Ok(view) if !view.ranges.is_empty() => {
                refresher.map.stale_rounds.store(0, std::sync::atomic::Ordering::Relaxed);
                install(refresher, view);
                return Ok(());
            }
            Ok(_) => errors.push((addr, TopologyError::NoSlots)),
            Err(e) => {
                unreachable += 1;
                errors.push((addr, e));
            }
        }
    }
    // Every node answered, all with older epochs: the cluster itself went back (it
    // was recreated). After a few such rounds, believe it.
    if unreachable == 0 && !stale.is_empty() {
        let rounds = refresher.map.stale_rounds.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        if rounds >= 5
            && let Some(view) = stale.into_iter().max_by_key(|v| v.epoch)
        {
            warn!(epoch = ?view.epoch, "every node reports an older epoch: taking the cluster's view");
            refresher.map.stale_rounds.store(0, std::sync::atomic::Ordering::Relaxed);
            install(refresher, view);
            return Ok(());
        }
    }
    Err(errors)
}

/// Makes `view` the topology in use.
fn install(refresher: &Refresher, view: View) {
    Metrics::add(&refresher.metrics.topology_refreshes, 1);
    let mut topology = Topology::build(&view.ranges, &refresher.pool);
    topology.epoch = view.epoch.unwrap_or(refresher.map.load().epoch);
    if topology.shards.len() != refresher.map.load().shards.len() {
        info!(shards = topology.shards.len(), slots = topology.covered_slots(), "cluster topology changed");
    }
    refresher.pool.retain(|a| topology.has_node(a));
    if refresher.map.store(topology) {
        (refresher.on_change)();
    }
}

/// `CLUSTER SLOTS` on a fresh connection, bounded by `wait` per step, completed with
/// the replicas `CLUSTER NODES` names (see [`add_unlisted_replicas`]).
pub async fn fetch_slots(
    addr: &str,
    connector: &NodeConnector,
    wait: Duration,
    login: Option<&NodeLogin>,
) -> Result<View, TopologyError> {
    let mut stream = connector.connect(addr, wait, login).await?;
    let mut buf = BytesMut::with_capacity(8192);
    let frame = round_trip(&mut stream, &mut buf, b"*2\r\n$7\r\nCLUSTER\r\n$5\r\nSLOTS\r\n", wait).await?;
    if let OwnedFrame::Error(e) = &frame {
        return Err(TopologyError::Refused(e.clone()));
    }
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    let mut ranges = parse_cluster_slots(&frame, host)?;
    // Best effort: without it, broadcasts miss only replicas Redis does not list yet,
    // and the view's epoch is unknown.
    let mut epoch = None;
    match round_trip(&mut stream, &mut buf, b"*2\r\n$7\r\nCLUSTER\r\n$5\r\nNODES\r\n", wait).await {
        Ok(OwnedFrame::BulkString(text)) => {
            let text = String::from_utf8_lossy(&text);
            add_unlisted_replicas(&mut ranges, &text, host);
            epoch = max_config_epoch(&text);
        }
        other => debug!(%addr, ?other, "CLUSTER NODES gave no replica list"),
    }
    Ok(View { ranges, epoch })
}

/// One node's view of the cluster.
pub struct View {
    pub ranges: Vec<SlotRange>,
    /// The highest config epoch among the primaries it knows (`None`: unknown).
    pub epoch: Option<u64>,
}

/// Sends `request` and reads one whole reply, bounded by `wait` per step.
async fn round_trip(
    stream: &mut Stream,
    buf: &mut BytesMut,
    request: &[u8],
    wait: Duration,
) -> Result<OwnedFrame, TopologyError> {
    timeout(wait, stream.send(request)).await.map_err(|_| TopologyError::WriteTimeout)??;
    loop {
        if let Some((frame, len)) = decode(buf).map_err(TopologyError::BadReply)? {
            let _ = buf.split_to(len);
            return Ok(frame);
        }
        if buf.len() > MAX_REPLY {
            return Err(TopologyError::TooLarge);
        }
        let n = timeout(wait, stream.read_buf(buf)).await.map_err(|_| TopologyError::ReplyTimeout)??;
        if n == 0 {
            return Err(TopologyError::Closed);
        }
    }
}
