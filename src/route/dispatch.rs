//! The router: sends each request where its [`Target`] says (the primary of its
//! slot, a replica for a read, a given node, a leased connection), and follows
//! `MOVED` / `ASK` / `TRYAGAIN` replies with a bounded number of hops, so clients
//! never see a redirect. It implements the backend's [`Rerouter`]: a node
//! connection hands it the replies that need a routing decision.

use std::sync::{Arc, Weak};
use std::time::Duration;

use arc_swap::Guard;
use bytes::Bytes;
use tokio::sync::oneshot;

use super::scripts::{ScriptCache, evalsha_digest};
use crate::backend::connection::ConnSettings;
use crate::backend::lease::Lease;
use crate::backend::pool::{Node, Pool};
use crate::backend::request::{BackendRequest, ClientTag, ReplyResult};
use crate::backend::reroute::{Rerouter, RerouterRef};
use crate::cluster::refresh::ClusterMap;
use crate::cluster::topology::Topology;
use crate::config::{Config, LiveConfig};
use crate::error::CommandError;
use crate::metrics::Metrics;
use crate::protocol::reply::Redirect;
use crate::workers::Workers;

/// Pause before retrying after `TRYAGAIN`, multiplied by the hop count.
const TRYAGAIN_PAUSE: Duration = Duration::from_millis(25);

/// Where a request goes.
pub enum Target<'a> {
    /// The primary of `slot` in `view` (the client's own primary when `None`).
    Primary { slot: Option<u16>, view: &'a Topology },
    /// A replica of `slot` or its primary, per `--read-from` (read-only commands).
    Reader { slot: u16, view: &'a Topology },
    /// This node itself (broadcasts, `PUBLISH`).
    Node(&'a Node),
    /// A connection lent to this client (`WATCH`, blocking commands): never
    /// redirected elsewhere.
    Lease(&'a Lease),
}

/// What a client sends: the bytes exactly as received, how many replies they
/// produce (a transaction block one per command, `EXEC`'s last), and for whom.
pub struct Outgoing {
    pub bytes: Bytes,
    pub frames: u32,
    pub client: ClientTag,
    /// The slot it is routed by, if any: needed to route it again after `TRYAGAIN`.
    pub slot: Option<u16>,
}

impl Outgoing {
    /// One request with one reply.
    pub fn one(bytes: Bytes, slot: Option<u16>, client: ClientTag) -> Self {
        Outgoing { bytes, frames: 1, client, slot }
    }

    /// A transaction block (`MULTI` ... `EXEC`) producing `frames` replies.
    pub fn block(bytes: Bytes, frames: u32, slot: Option<u16>, client: ClientTag) -> Self {
        Outgoing { bytes, frames, client, slot }
    }

    fn into_request(self, reply: oneshot::Sender<ReplyResult>) -> BackendRequest {
        BackendRequest { frames: self.frames, ..BackendRequest::new(self.bytes, reply, self.slot, self.client) }
    }
}

/// What routing needs: the topology, the node connections, the scripts it heals
/// `NOSCRIPT` with, the redirect bound (in the live config) and its counters.
pub struct Router {
    map: Arc<ClusterMap>,
    pool: Arc<Pool>,
    /// Shared with the tasks that remember a watched transaction's scripts.
    pub scripts: Arc<ScriptCache>,
    live: LiveConfig,
    metrics: Arc<Metrics>,
}

/// What the router is built from.
pub struct RouterParts {
    pub map: Arc<ClusterMap>,
    pub settings: ConnSettings,
    pub workers: Workers,
    pub live: LiveConfig,
    pub metrics: Arc<Metrics>,
}

impl Router {
    /// A router with its own pool of node connections, which hand replies that need
    /// a routing decision back to it.
    pub fn new(config: &Config, parts: RouterParts) -> Arc<Router> {
        Arc::new_cyclic(|me: &Weak<Router>| {
            let rerouter: RerouterRef = me.clone();
            let pool = Pool::new(
                parts.settings,
                config.conns_per_node,
                config.backend_queue.max(1),
                rerouter,
                config.read_from,
                parts.workers,
            );
            Router {
                map: parts.map,
                pool: Arc::new(pool),
                scripts: Default::default(),
                live: parts.live,
                metrics: parts.metrics,
            }
        })
    }

    /// The node connections this router sends on.
    pub fn pool(&self) -> &Arc<Pool> {
        &self.pool
    }

    /// The current topology snapshot, for callers that hold no cache of their own.
    pub fn topology(&self) -> Guard<Arc<Topology>> {
        self.map.load()
    }

    /// Queues `out` for `target`; the receiver yields the reply. Waits only for room
    /// in a full queue (backpressure: the client is not read meanwhile).
    pub async fn send(
        &self,
        target: Target<'_>,
        out: Outgoing,
    ) -> Result<oneshot::Receiver<ReplyResult>, CommandError> {
        let (tx, rx) = oneshot::channel();
        let req = out.into_request(tx);
        // Queued without waiting first; only a full queue is waited on (the common
        // case stays free of a future per request).
        let full = match target {
            Target::Primary { view, .. } => view.owner(req.slot, req.client_id)?.try_queue(req)?,
            Target::Reader { slot, view } => match view.reader(slot, req.client_id, self.pool.read_from()) {
                Some(node) => node.try_queue(req)?,
                None => view.owner(Some(slot), req.client_id)?.try_queue(req)?,
            },
            Target::Node(node) => node.try_queue(req)?,
            Target::Lease(lease) => {
                lease.send(req)?;
                None
            }
        };
        if let Some(full) = full {
            full.wait().await?;
        }
        Ok(rx)
    }

    /// A request was redirected: follow it, up to `max-redirects` hops.
    fn redirect(&self, mut req: BackendRequest, redirect: Redirect, from: &str) {
        if req.hops >= self.live.load().max_redirects {
            let hops = req.hops;
            return req.fail(CommandError::TooManyRedirects(hops));
        }
        req.hops += 1;
        match redirect {
            Redirect::Moved { addr, .. } => {
                Metrics::add(&self.metrics.redirects_moved, 1);
                self.map.request_refresh();
                req.asking = false;
                self.pool.node(&full_addr(&addr, from)).forward(req);
            }
            Redirect::Ask { addr, .. } => {
                Metrics::add(&self.metrics.redirects_ask, 1);
                req.asking = true;
                self.pool.node(&full_addr(&addr, from)).forward(req);
            }
            Redirect::TryAgain => {
                let map = self.map.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(TRYAGAIN_PAUSE * req.hops as u32).await;
                    req.asking = false;
                    let topology = map.load();
                    match req.slot.and_then(|s| topology.primary(s)).cloned() {
                        Some(node) => node.forward(req),
                        None => req.fail(CommandError::SlotNotServed),
                    }
                });
            }
        }
    }
}

impl Rerouter for Router {
    fn follow(&self, req: BackendRequest, redirect: Redirect, from: &str) {
        if req.leased {
            // Its WATCH lives on this connection; elsewhere the transaction would run
            // unwatched. Answer as Redis does when a watched key may have changed.
            let reply = match req.frames {
                1 => CommandError::MovedWhileWatched.to_reply(),
                _ if req.resp3 => Bytes::from_static(b"_\r\n"),
                _ => Bytes::from_static(b"*-1\r\n"),
            };
            let _ = req.reply.send(Ok(reply));
            return;
        }
        self.redirect(req, redirect, from);
    }

    /// If the request is an `EVALSHA` of a script slotway has seen, load the script
    /// on that node and send the request again behind it. Otherwise (or after too
    /// many tries) the client gets the node's reply.
    fn heal_noscript(&self, mut req: BackendRequest, reply: Bytes, node_addr: &str) {
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
        node.forward(BackendRequest::new(load, tx, None, req.tag()));
        node.forward(req);
    }

    fn reroute_from(&self, req: BackendRequest, dead: &str) -> Result<(), BackendRequest> {
        let topology = self.map.load();
        let node = match req.slot {
            Some(slot) => topology.primary(slot),
            None => topology.shards.iter().map(|s| &s.primary).find(|p| &*p.addr != dead),
        };
        match node {
            Some(node) if &*node.addr != dead => {
                node.forward(req);
                Ok(())
            }
            _ => Err(req),
        }
    }

    fn request_refresh(&self) {
        self.map.request_refresh();
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
