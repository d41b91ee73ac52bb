//! One snapshot of slotway and the cluster it routes to, taken when the admin port
//! is asked. `/api/cluster` sends it as JSON; `/metrics` renders the same values, so
//! the page and the metrics can never disagree about what they describe.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde::Serialize;

use crate::cluster::slot::SLOT_COUNT;
use crate::cluster::topology::Topology;
use crate::metrics::Metrics;
use crate::observe::commands::CommandTotals;
use crate::observe::latency::LatencySnapshot;
use crate::proxy::Proxy;

/// Clients listed by name and address; the count covers all of them. Enough for
/// a page to show who is connected without sending thousands of rows a second.
const LISTED_CLIENTS: usize = 50;
/// Hot keys shown (and exported as metrics, one series each: this bounds the labels).
const HOT_KEYS_SHOWN: usize = 10;

#[derive(Debug, Clone, Serialize)]
pub struct ClusterStatus {
    /// slotway's own version.
    pub version: &'static str,
    pub uptime_seconds: f64,
    /// Changes of slot ownership seen so far (`ClusterMap::version`).
    pub topology_version: u64,
    /// The highest config epoch among the primaries when the topology was last read.
    pub topology_epoch: u64,
    pub topology_refreshes: u64,
    pub topology_refresh_failures: u64,
    pub slot_count: usize,
    pub slots_covered: usize,
    pub connected_clients: u64,
    pub connections_received: u64,
    pub rejected_connections: u64,
    pub commands: u64,
    /// Error replies sent to clients (Redis's `total_error_replies`).
    pub error_replies: u64,
    /// Per command (table name, `parent|sub` for subcommands), those used so far.
    pub command_stats: Vec<CommandStatus>,
    /// Entries in slotway's slow log now, and logged since start.
    pub slowlog_length: usize,
    pub slowlog_entries: u64,
    /// The hottest keys (lossy UTF-8) with their estimated requests, hottest first.
    pub hot_keys: Vec<(String, u64)>,
    pub redirects: Redirects,
    /// Node connections lent to single clients (blocking commands, WATCH).
    pub leased_connections: usize,
    pub shards: Vec<ShardStatus>,
    /// Nodes slotway has connections to (primaries; replicas too with replica reads).
    pub nodes: Vec<NodeStatus>,
    pub clients: Vec<ClientStatus>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CommandStatus {
    pub name: &'static str,
    #[serde(flatten)]
    pub totals: CommandTotals,
}

#[derive(Debug, Clone, Serialize)]
pub struct NodeStatus {
    pub addr: String,
    /// `primary` when it owns slots in the topology, else `replica`.
    pub role: &'static str,
    /// Its connections reach it (false from a failed connect until one succeeds).
    pub up: bool,
    /// Shared connections established now.
    pub connections: u64,
    /// Reply latency as the shared connections measured it.
    pub latency: LatencySnapshot,
}

#[derive(Debug, Clone, Serialize)]
pub struct Redirects {
    pub moved: u64,
    pub ask: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ShardStatus {
    pub primary: String,
    pub replicas: Vec<String>,
    /// Slots this shard serves.
    pub slots: usize,
    /// The same slots as inclusive `[first, last]` ranges, ascending.
    pub ranges: Vec<[u16; 2]>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClientStatus {
    pub id: u64,
    pub addr: String,
    pub name: String,
    pub lib: String,
    pub age_seconds: u64,
}

impl ClusterStatus {
    pub fn of(proxy: &Proxy) -> ClusterStatus {
        let m = &proxy.metrics;
        let topology = proxy.map.load();
        let mut shards: Vec<ShardStatus> = topology
            .shards
            .iter()
            .map(|s| ShardStatus {
                primary: s.primary.addr.to_string(),
                replicas: s.replicas.clone(),
                slots: 0,
                ranges: vec![],
            })
            .collect();
        // One pass over the slot table; owners come in long runs, so the shard is
        // looked up once per run rather than once per slot.
        let mut run: Option<(usize, u16)> = None; // (shard, first slot of the run)
        for slot in 0..=SLOT_COUNT as u16 {
            let node = if slot < SLOT_COUNT as u16 { topology.primary(slot) } else { None };
            let current = run.map(|(shard, _)| shard);
            let owner = match (node, current) {
                (Some(node), Some(shard))
                    if topology.shards.get(shard).is_some_and(|s| Arc::ptr_eq(&s.primary, node)) =>
                {
                    current
                }
                (Some(node), _) => topology.shards.iter().position(|s| Arc::ptr_eq(&s.primary, node)),
                (None, _) => None,
            };
            if owner != current {
                if let Some((shard, first)) = run.take()
                    && let Some(s) = shards.get_mut(shard)
                {
                    s.ranges.push([first, slot - 1]);
                    s.slots += (slot - first) as usize;
                }
                run = owner.map(|shard| (shard, slot));
            }
        }
        ClusterStatus {
            version: env!("CARGO_PKG_VERSION"),
            uptime_seconds: m.started.elapsed().as_secs_f64(),
            topology_version: proxy.map.version(),
            topology_epoch: topology.epoch,
            topology_refreshes: Metrics::get(&m.topology_refreshes),
            topology_refresh_failures: Metrics::get(&m.topology_refresh_failures),
            slot_count: SLOT_COUNT,
            slots_covered: topology.covered_slots(),
            connected_clients: Metrics::get(&m.connected_clients),
            connections_received: Metrics::get(&m.total_connections),
            rejected_connections: Metrics::get(&m.rejected_connections),
            commands: Metrics::get(&m.total_commands),
            error_replies: proxy.observe.commands.error_replies(),
            slowlog_length: proxy.observe.slowlog.len(),
            slowlog_entries: proxy.observe.slowlog.logged(),
            hot_keys: proxy
                .observe
                .hotkeys
                .top(HOT_KEYS_SHOWN)
                .into_iter()
                .map(|(key, n)| (String::from_utf8_lossy(&key).into_owned(), n))
                .collect(),
            command_stats: proxy
                .observe
                .commands
                .used()
                .into_iter()
                .map(|(name, totals)| CommandStatus { name, totals })
                .collect(),
            redirects: Redirects { moved: Metrics::get(&m.redirects_moved), ask: Metrics::get(&m.redirects_ask) },
            leased_connections: proxy.leases.in_use(),
            nodes: node_statuses(proxy, &topology),
            shards,
            clients: listed_clients(proxy),
        }
    }
}

/// One row per node address, its primary and replica-read connections together.
fn node_statuses(proxy: &Proxy, topology: &Topology) -> Vec<NodeStatus> {
    let mut rows: Vec<NodeStatus> = Vec::new();
    for (node, _readonly) in proxy.pool.nodes() {
        let up = node.reachable.load(Ordering::Relaxed);
        let latency = node.stats.latency.snapshot();
        match rows.last_mut() {
            // Sorted by address: a second entry for the same node follows the first.
            Some(row) if row.addr == *node.addr => {
                row.up &= up;
                row.connections += node.stats.connections();
                row.latency.add(&latency);
            }
            _ => rows.push(NodeStatus {
                addr: node.addr.to_string(),
                role: if topology.shards.iter().any(|s| s.primary.addr == node.addr) { "primary" } else { "replica" },
                up,
                connections: node.stats.connections(),
                latency,
            }),
        }
    }
    rows
}

/// The first clients of the registry, read from its `CLIENT LIST` lines (Redis's
/// own `key=value` format, the registry's only view of all rows).
fn listed_clients(proxy: &Proxy) -> Vec<ClientStatus> {
    proxy
        .clients
        .list(None, Default::default())
        .lines()
        .take(LISTED_CLIENTS)
        .map(|line| {
            let field = |key: &str| {
                line.split(' ').find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=')).unwrap_or("").to_string()
            };
            ClientStatus {
                id: field("id").parse().unwrap_or(0),
                addr: field("addr"),
                name: field("name"),
                lib: [field("lib-name"), field("lib-ver")].join(" ").trim().to_string(),
                age_seconds: field("age").parse().unwrap_or(0),
            }
        })
        .collect()
}
