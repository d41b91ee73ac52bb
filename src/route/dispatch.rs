//! The router: sends each request to the primary that owns its slot, and follows
//! `MOVED` / `ASK` / `TRYAGAIN` replies with a bounded number of hops, so clients
//! never see a redirect.

use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use super::scripts::{ScriptCache, evalsha_digest};
use crate::backend::connection::{BackendRequest, ConnSettings, ReplyResult};
use crate::backend::lease::Leases;
use crate::backend::pool::{Node, Pool};
use crate::backend::timeouts::Timeouts;
use crate::cluster::refresh::ClusterMap;
use crate::cluster::topology::Topology;
use crate::config::Config;
use crate::error::CommandError;
use crate::metrics::Metrics;
use crate::net::connect::{NodeConnector, NodeLogin};
use crate::protocol::reply::Redirect;
use crate::pubsub::conn::NodeReach;
use crate::pubsub::hub::Hub;
use crate::workers::Workers;
use tokio_util::sync::CancellationToken;

/// Pause before retrying after `TRYAGAIN`, multiplied by the hop count.
const TRYAGAIN_PAUSE: Duration = Duration::from_millis(25);

/// Who a request is for, as far as routing cares: the client's id picks its pinned
/// connection, and RESP3 clients use the nodes' RESP3 connections.
#[derive(Debug, Clone, Copy)]
pub struct ClientTag {
    pub id: u64,
    pub resp3: bool,
}

/// Who slotway's own requests (replica lag, node version checks) are for.
pub const OWN_REQUESTS: ClientTag = ClientTag { id: 0, resp3: false };

/// The text of a bulk-string reply (`INFO ...`) to one of slotway's own requests, or
/// `None` when it does not come within `wait` or is not a bulk string.
pub async fn reply_text(rx: oneshot::Receiver<ReplyResult>, wait: Duration) -> Option<String> {
    let reply = tokio::time::timeout(wait, rx).await.ok()?.ok()?.ok()?;
    let body = crate::protocol::reply::bulk_body(&reply)?;
    Some(String::from_utf8_lossy(body).into_owned())
}

pub struct Router {
    pub map: ClusterMap,
    pub pool: Pool,
    pub seeds: Vec<String>,
    /// Node-side timeouts, changed live by a reload.
    pub timeouts: Arc<Timeouts>,
    /// Plain TCP or TLS to the nodes.
    pub connector: NodeConnector,
    /// How slotway logs in to the nodes (`--node-user`/`--node-password`).
    pub login: Option<NodeLogin>,
    pub metrics: Metrics,
    /// The nodes' Redis version, as `HELLO` and `INFO` report it.
    pub node_version: crate::cluster::node_version::NodeVersion,
    /// Per-command counters, slow log, hot keys.
    pub observe: Arc<crate::observe::Observer>,
    pub scripts: ScriptCache,
    /// The worker threads clients and node connections are spread over.
    pub workers: Workers,
    pub leases: Leases,
    pub hub: Arc<Hub>,
    pub clients: crate::client::registry::Registry,
    /// Who may log in; swapped whole on reload (SIGHUP).
    pub users: crate::client::auth::LiveUsers,
    /// The configuration in force; swapped whole on reload. Read when a client
    /// connects, so changed limits apply to new clients.
    pub live: arc_swap::ArcSwap<Config>,
    /// Cancelled when slotway shuts down: sessions finish what they have and close.
    pub stopping: CancellationToken,
}

impl Router {
    /// A router for `config`. TLS settings that cannot be loaded make every node
    /// connection fail saying why; `serve` checks them first (see [`Router::with_connector`]).
    pub fn new(config: &Config) -> Arc<Router> {
        Router::with_connector(config, NodeConnector::from_config(config))
    }

    pub fn with_connector(config: &Config, connector: NodeConnector) -> Arc<Router> {
        Router::with_workers(config, connector, Workers::this_runtime())
    }

    /// A router whose node connections are spread over `workers` (thread-per-core).
    pub fn with_workers(config: &Config, connector: NodeConnector, workers: Workers) -> Arc<Router> {
        let settings = ConnSettings {
            connector: connector.clone(),
            resp3: false,
            login: config.node_password.clone().map(|password| NodeLogin { user: config.node_user.clone(), password }),
            readonly: false,
            reachable: None,
            stats: None,
            reconnect: true,
            timeouts: Arc::new(Timeouts::new(config)),
            timed_replies: true,
            max_in_flight: config.backend_queue.max(1) * 4,
        };
        Arc::new_cyclic(|me: &Weak<Router>| Router {
            map: ClusterMap::new(),
            pool: Pool::new(
                settings.clone(),
                config.conns_per_node,
                config.backend_queue.max(1),
                me.clone(),
                config.read_from,
                workers.clone(),
            ),
            workers,
            seeds: config.seeds.clone(),
            timeouts: settings.timeouts.clone(),
            connector: connector.clone(),
            login: settings.login.clone(),
            metrics: Metrics::default(),
            node_version: Default::default(),
            observe: Arc::new(crate::observe::Observer::new(config)),
            scripts: ScriptCache::default(),
            leases: Leases::new(config.max_leased_conns, settings.clone(), me.clone()),
            hub: Hub::new(
                me.clone(),
                config.pubsub_limit(),
                NodeReach { connector, timeouts: settings.timeouts.clone(), login: settings.login.clone() },
            ),
            clients: Default::default(),
            users: crate::client::auth::LiveUsers::new(crate::client::auth::Users::from_config(config)),
            live: arc_swap::ArcSwap::from_pointee(config.clone()),
            stopping: CancellationToken::new(),
        })
    }

    pub fn request_refresh(&self) {
        self.map.request_refresh();
    }

    /// Queues `bytes` for the primary of `slot` (any primary when `None`) on the
    /// connection `client_id` is pinned to; the receiver yields the reply.
    pub async fn send(
        &self,
        bytes: Bytes,
        slot: Option<u16>,
        client: ClientTag,
    ) -> Result<oneshot::Receiver<ReplyResult>, CommandError> {
        let (tx, rx) = oneshot::channel();
        self.route(BackendRequest::new(bytes, tx, slot, client)).await?;
        Ok(rx)
    }

    /// [`Router::send`] by a snapshot the caller holds (a session's [`TopologyCache`](crate::cluster::refresh::TopologyCache)).
    pub async fn send_by(
        &self,
        topology: &Topology,
        bytes: Bytes,
        slot: Option<u16>,
        client: ClientTag,
    ) -> Result<oneshot::Receiver<ReplyResult>, CommandError> {
        let (tx, rx) = oneshot::channel();
        let full = route_by(topology, BackendRequest::new(bytes, tx, slot, client))?;
        wait_enqueue(full).await?;
        Ok(rx)
    }

    /// Like [`Router::send`] for a read-only command: it may go to a replica of the
    /// slot, per `--read-from`.
    pub async fn send_read(
        &self,
        bytes: Bytes,
        slot: u16,
        client: ClientTag,
    ) -> Result<oneshot::Receiver<ReplyResult>, CommandError> {
        let (tx, rx) = oneshot::channel();
        let req = BackendRequest::new(bytes, tx, Some(slot), client);
        let full = {
            let topology = self.map.load();
            match topology.reader(slot, client.id, self.pool.read_from()) {
                Some(node) => try_enqueue(node, req)?,
                None => return self.send(req.bytes, Some(slot), client).await,
            }
        };
        wait_enqueue(full).await?;
        Ok(rx)
    }

    /// Sends a transaction block (`MULTI`, the queued commands, `EXEC`, as one run of
    /// bytes producing `frames` replies) over the shared connection: nothing of another
    /// client can come between its commands. A moved slot replays the whole block.
    pub async fn send_block(
        &self,
        bytes: Bytes,
        frames: u32,
        slot: Option<u16>,
        client: ClientTag,
    ) -> Result<oneshot::Receiver<ReplyResult>, CommandError> {
        let (tx, rx) = oneshot::channel();
        let req = BackendRequest { frames, ..BackendRequest::new(bytes, tx, slot, client) };
        self.route(req).await?;
        Ok(rx)
    }

    /// Queues `req` for the primary of its slot (any primary when it has none).
    async fn route(&self, req: BackendRequest) -> Result<(), CommandError> {
        let full = route_by(&self.map.load(), req)?;
        wait_enqueue(full).await
    }

    /// Queues `bytes` for `node` itself (broadcasts to every node).
    pub async fn send_to(
        &self,
        node: &Node,
        bytes: Bytes,
        client: ClientTag,
    ) -> Result<oneshot::Receiver<ReplyResult>, CommandError> {
        let (tx, rx) = oneshot::channel();
        let req = BackendRequest::new(bytes, tx, None, client);
        let full = try_enqueue(node, req)?;
        wait_enqueue(full).await?;
        Ok(rx)
    }

    /// `PUBLISH` to any primary; with the receiver
    /// count's correction for that primary (`Hub::publish_adjustment`).
    pub async fn publish(
        &self,
        bytes: Bytes,
        channel: &[u8],
        client: ClientTag,
    ) -> Result<(oneshot::Receiver<ReplyResult>, i64), CommandError> {
        let node = self.map.load().any_primary(client.id).cloned().ok_or(CommandError::NoTopology)?;
        let adjust = self.hub.publish_adjustment(&node.addr, channel);
        Ok((self.send_to(&node, bytes, client).await?, adjust))
    }

    /// The address of the primary for `slot` (any primary for `None`).
    pub fn primary_addr(&self, slot: Option<u16>, client_id: u64) -> Result<Arc<str>, CommandError> {
        let topology = self.map.load();
        let node = match slot {
            Some(slot) => topology.primary(slot),
            None => topology.any_primary(client_id),
        };
        match node {
            Some(node) => Ok(node.addr.clone()),
            None if topology.shards.is_empty() => Err(CommandError::NoTopology),
            None => Err(CommandError::SlotNotServed),
        }
    }

    /// Every primary, and with `replicas` every replica too, of the current topology.
    pub fn all_nodes(&self, replicas: bool) -> Vec<Arc<Node>> {
        let topology = self.map.load();
        let mut nodes: Vec<Arc<Node>> = topology.shards.iter().map(|s| s.primary.clone()).collect();
        if replicas {
            for shard in &topology.shards {
                nodes.extend(shard.replicas.iter().map(|r| self.pool.node(r)));
            }
        }
        nodes
    }

    /// Acts on a redirect reply `from` a node for `req`.
    pub fn follow(self: &Arc<Self>, mut req: BackendRequest, redirect: Redirect, from: &str) {
        if req.leased {
            // Its WATCH lives on this connection; elsewhere the transaction would run
            // unwatched. Answer as Redis does when a watched key may have changed.
            let reply = match req.frames {
                1 => crate::error::error_reply("TRYAGAIN the slot moved while the client had keys WATCHed"),
                _ if req.resp3 => Bytes::from_static(b"_\r\n"),
                _ => Bytes::from_static(b"*-1\r\n"),
            };
            let _ = req.reply.send(Ok(reply));
            return;
        }
        if req.hops >= self.live.load().max_redirects {
            let hops = req.hops;
            return req.fail(CommandError::TooManyRedirects(hops));
        }
        req.hops += 1;
        match redirect {
            Redirect::Moved { addr, .. } => {
                Metrics::add(&self.metrics.redirects_moved, 1);
                self.request_refresh();
                req.asking = false;
                let node = self.pool.node(&full_addr(&addr, from));
                forward(&node, req);
            }
            Redirect::Ask { addr, .. } => {
                Metrics::add(&self.metrics.redirects_ask, 1);
                req.asking = true;
                let node = self.pool.node(&full_addr(&addr, from));
                forward(&node, req);
            }
            Redirect::TryAgain => {
                let router = self.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(TRYAGAIN_PAUSE * req.hops as u32).await;
                    req.asking = false;
                    let topology = router.map.load();
                    match req.slot.and_then(|s| topology.primary(s)).cloned() {
                        Some(node) => forward(&node, req),
                        None => req.fail(CommandError::SlotNotServed),
                    }
                });
            }
        }
    }
}

impl Router {
    /// A node answered `NOSCRIPT`: if the request is an `EVALSHA` of a script slotway
    /// has seen, load the script on that node and send the request again behind it.
    /// Otherwise (or after too many tries) the client gets the node's reply.
    pub fn heal_noscript(&self, mut req: BackendRequest, reply: Bytes, node_addr: &str) {
        let load = match evalsha_digest(&req.bytes) {
            Some(sha) if req.hops < self.live.load().max_redirects => self.scripts.load_request(sha),
            _ => None,
        };
        let Some(load) = load else {
            let _ = req.reply.send(Ok(reply));
            return;
        };
        req.hops += 1;
        let node = self.pool.node(node_addr);
        let (tx, _dropped) = oneshot::channel();
        // On the client's own connection, so the load is ahead of the request there
        // (on another worker's connection the request could overtake it).
        let client = ClientTag { id: req.client_id, resp3: req.resp3 };
        forward(&node, BackendRequest::new(load, tx, None, client));
        forward(&node, req);
    }
}

impl Router {
    /// Sends `req`, which could not reach `dead`, to its slot's owner now, if that is
    /// another node; gives it back otherwise.
    pub fn reroute_from(&self, req: BackendRequest, dead: &str) -> Result<(), BackendRequest> {
        let topology = self.map.load();
        let node = match req.slot {
            Some(slot) => topology.primary(slot),
            None => topology.shards.iter().map(|s| &s.primary).find(|p| &*p.addr != dead),
        };
        match node {
            Some(node) if &*node.addr != dead => {
                forward(node, req);
                Ok(())
            }
            _ => Err(req),
        }
    }
}

/// Queues `req` for the primary of its slot in `topology` (any primary when it has
/// none), without waiting; `Some` when the queue is full.
fn route_by(topology: &Topology, req: BackendRequest) -> Result<Full, CommandError> {
    let node = match req.slot {
        Some(slot) => topology.primary(slot),
        None => topology.any_primary(req.client_id),
    };
    match node {
        Some(node) => try_enqueue(node, req),
        None if topology.shards.is_empty() => Err(CommandError::NoTopology),
        None => Err(CommandError::SlotNotServed),
    }
}

/// A request that found its node's queue full, with what is needed to wait for room.
type Full = Option<(mpsc::Sender<BackendRequest>, BackendRequest, Arc<str>)>;

/// Queues `req` without waiting; `Some` when the queue is full.
fn try_enqueue(node: &Node, req: BackendRequest) -> Result<Full, CommandError> {
    let conn = node.conn(req.client_id, req.resp3);
    match conn.try_send(req) {
        Ok(()) => Ok(None),
        Err(mpsc::error::TrySendError::Full(req)) => Ok(Some((conn.clone(), req, node.addr.clone()))),
        Err(mpsc::error::TrySendError::Closed(_)) => Err(CommandError::NodeUnreachable(node.addr.to_string())),
    }
}

/// Waits for room in a full queue (the client is not read meanwhile: backpressure).
async fn wait_enqueue(full: Full) -> Result<(), CommandError> {
    if let Some((conn, req, addr)) = full {
        conn.send(req).await.map_err(|_| CommandError::NodeUnreachable(addr.to_string()))?;
    }
    Ok(())
}

/// Queues a redirected request on `node`. The node's reader calls this, so it must
/// not wait: when the queue is full, a task waits instead.
fn forward(node: &Arc<Node>, req: BackendRequest) {
    let conn = node.conn(req.client_id, req.resp3);
    match conn.try_send(req) {
        Ok(()) => {}
        Err(mpsc::error::TrySendError::Full(req)) => {
            let conn = conn.clone();
            let addr = node.addr.clone();
            tokio::spawn(async move {
                if let Err(mpsc::error::SendError(req)) = conn.send(req).await {
                    req.fail(CommandError::NodeUnreachable(addr.to_string()));
                }
            });
        }
        Err(mpsc::error::TrySendError::Closed(req)) => req.fail(CommandError::NodeUnreachable(node.addr.to_string())),
    }
}

/// Redis may name a node as `:port` when it does not know its own IP: that means the
/// host of the node that replied.
fn full_addr(addr: &str, from: &str) -> String {
    match addr.strip_prefix(':') {
        Some(port) => format!("{}:{port}", from.rsplit_once(':').map_or(from, |(h, _)| h)),
        None => addr.to_string(),
    }
}
