//! The nodes slotway talks to, each with a fixed number of shared connections,
//! created on first use and kept while the node is part of the cluster.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use super::connection::{self, ConnSettings};
use super::request::{BackendRequest, ClientTag, OWN_REQUESTS, ReplyResult};
use super::reroute::RerouterRef;
use crate::config::ReadFrom;
use crate::error::CommandError;
use crate::observe::nodes::NodeStats;
use crate::workers::Workers;

/// A cluster node: its address and the senders of its connections.
#[derive(Debug)]
pub struct Node {
    pub addr: Arc<str>,
    /// Its connections by kind ([`kind`]): plain (made at once), RESP3 (after
    /// `HELLO 3`, for RESP3 clients), and both after `CLIENT NO-TOUCH ON`; the
    /// others are made on first use.
    conns: [OnceLock<Box<[mpsc::Sender<BackendRequest>]>>; 4],
    spawn: Spawner,
    /// False while its connections cannot reach it (replica reads skip it then).
    pub reachable: Arc<AtomicBool>,
    /// A replica further behind its primary than the configured bound (replica
    /// reads skip it then). Set by `cluster::replica_lag`; always false for primaries.
    pub lagging: AtomicBool,
    /// Reply latency and open connections, for `/metrics`.
    pub stats: Arc<NodeStats>,
}

/// What a node needs to start more connections later.
#[derive(Debug, Clone)]
struct Spawner {
    settings: ConnSettings,
    /// Connections per worker thread.
    count: usize,
    workers: Workers,
    queue: usize,
    router: RerouterRef,
}

impl Spawner {
    /// `count` connections for each worker, each running on its worker: worker `w`'s
    /// are at `w * count ..`. Always at least one: [`Node::conn`] relies on it.
    fn start(
        &self,
        addr: &Arc<str>,
        client: ClientTag,
        reachable: &Arc<AtomicBool>,
        stats: &Arc<NodeStats>,
    ) -> Box<[mpsc::Sender<BackendRequest>]> {
        let settings = ConnSettings {
            resp3: client.resp3,
            no_touch: client.no_touch,
            reachable: Some(reachable.clone()),
            stats: Some(stats.clone()),
            ..self.settings.clone()
        };
        let per_worker = self.count.max(1);
        (0..per_worker * self.workers.count())
            .map(|index| {
                let (tx, rx) = mpsc::channel(self.queue);
                let conn = connection::run(addr.clone(), rx, settings.clone(), self.router.clone());
                self.workers.spawn(index / per_worker, conn);
                tx
            })
            .collect()
    }
}

impl Node {
    /// The connection a client uses for this node: one of its worker's. A client
    /// always uses the same one, so its commands to one node are executed in the
    /// order it sent them.
    // In bounds: both sets of connections come from `Spawner::start`, which makes at
    // least one, and the index is taken modulo their number. (A `get` would need a
    // fallback sender that does not exist, or an `Option` for every caller to handle.)
    #[allow(clippy::indexing_slicing)]
    pub fn conn(&self, client: ClientTag) -> &mpsc::Sender<BackendRequest> {
        let client_id = client.id;
        let conns =
            self.conns[kind(client)].get_or_init(|| self.spawn.start(&self.addr, client, &self.reachable, &self.stats));
        let workers = self.spawn.workers.count() as u64;
        let per_worker = (conns.len() as u64 / workers).max(1);
        let index = self.spawn.workers.of_client(client_id) as u64 * per_worker + (client_id / workers) % per_worker;
        &conns[(index % conns.len() as u64) as usize]
    }
}

/// Which of a node's connection sets serves `client` (an index into `Node::conns`).
fn kind(client: ClientTag) -> usize {
    usize::from(client.resp3) | usize::from(client.no_touch) << 1
}

/// A request that found its connection's queue full, with what is needed to wait
/// for room.
pub struct Full(mpsc::Sender<BackendRequest>, BackendRequest, Arc<str>);

impl Full {
    /// Waits for room (the client is not read meanwhile: backpressure).
    pub async fn wait(self) -> Result<(), CommandError> {
        let Full(conn, req, addr) = self;
        conn.send(req).await.map_err(|_| CommandError::NodeUnreachable(addr.to_string()))
    }
}

impl Node {
    /// Queues `req` on its client's connection without waiting; `Some` when the
    /// queue is full.
    pub fn try_queue(&self, req: BackendRequest) -> Result<Option<Full>, CommandError> {
        let conn = self.conn(req.tag());
        match conn.try_send(req) {
            Ok(()) => Ok(None),
            Err(mpsc::error::TrySendError::Full(req)) => Ok(Some(Full(conn.clone(), req, self.addr.clone()))),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(CommandError::NodeUnreachable(self.addr.to_string())),
        }
    }

    /// Queues `req`, waiting for room when the queue is full.
    pub async fn queue(&self, req: BackendRequest) -> Result<(), CommandError> {
        match self.try_queue(req)? {
            Some(full) => full.wait().await,
            None => Ok(()),
        }
    }

    /// Sends `bytes` to this node for `client`; the receiver yields the reply.
    pub async fn send(&self, bytes: Bytes, client: ClientTag) -> Result<oneshot::Receiver<ReplyResult>, CommandError> {
        let (tx, rx) = oneshot::channel();
        self.queue(BackendRequest::new(bytes, tx, None, client)).await?;
        Ok(rx)
    }

    /// Queues a redirected request. A node's reader calls this, so it must not wait:
    /// when the queue is full, a task waits instead.
    pub fn forward(&self, req: BackendRequest) {
        let conn = self.conn(req.tag());
        match conn.try_send(req) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(req)) => {
                let conn = conn.clone();
                let addr = self.addr.clone();
                tokio::spawn(async move {
                    if let Err(mpsc::error::SendError(req)) = conn.send(req).await {
                        req.fail(CommandError::NodeUnreachable(addr.to_string()));
                    }
                });
            }
            Err(mpsc::error::TrySendError::Closed(req)) => {
                req.fail(CommandError::NodeUnreachable(self.addr.to_string()))
            }
        }
    }
}

pub struct Pool {
    nodes: Mutex<HashMap<String, Arc<Node>>>,
    /// Replicas reached over `READONLY` connections, for replica reads.
    readers: Mutex<HashMap<String, Arc<Node>>>,
    /// The `ReadFrom` in force, as its `u8`: changed live by a reload.
    read_from: AtomicU8,
    settings: ConnSettings,
    conns_per_node: usize,
    queue: usize,
    router: RerouterRef,
    workers: Workers,
}

impl Pool {
    pub fn new(
        settings: ConnSettings,
        conns_per_node: usize,
        queue: usize,
        router: RerouterRef,
        read_from: ReadFrom,
        workers: Workers,
    ) -> Self {
        Pool {
            nodes: Mutex::new(HashMap::new()),
            readers: Mutex::new(HashMap::new()),
            read_from: AtomicU8::new(read_from as u8),
            settings,
            conns_per_node: conns_per_node.max(1),
            queue,
            router,
            workers,
        }
    }

    /// Where read-only commands go now.
    pub fn read_from(&self) -> ReadFrom {
        ReadFrom::from_u8(self.read_from.load(Ordering::Relaxed))
    }

    pub fn set_read_from(&self, policy: ReadFrom) {
        self.read_from.store(policy as u8, Ordering::Relaxed);
    }

    /// The node at `addr`, starting its connection tasks if it is new.
    pub fn node(&self, addr: &str) -> Arc<Node> {
        self.get_or_start(&self.nodes, addr, false)
    }

    /// The replica at `addr`, over connections that sent `READONLY`.
    pub fn reader(&self, addr: &str) -> Arc<Node> {
        self.get_or_start(&self.readers, addr, true)
    }

    fn get_or_start(&self, map: &Mutex<HashMap<String, Arc<Node>>>, addr: &str, readonly: bool) -> Arc<Node> {
        let mut nodes = map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(node) = nodes.get(addr) {
            return node.clone();
        }
        let addr_arc: Arc<str> = Arc::from(addr);
        let spawn = Spawner {
            settings: ConnSettings { readonly, ..self.settings.clone() },
            count: self.conns_per_node,
            workers: self.workers.clone(),
            queue: self.queue,
            router: self.router.clone(),
        };
        let reachable = Arc::new(AtomicBool::new(true));
        let stats = Arc::new(NodeStats::default());
        let conns: [OnceLock<_>; 4] = Default::default();
        let _ = conns[0].set(spawn.start(&addr_arc, OWN_REQUESTS, &reachable, &stats));
        let node = Arc::new(Node { addr: addr_arc, conns, spawn, reachable, lagging: AtomicBool::new(false), stats });
        nodes.insert(addr.to_string(), node.clone());
        node
    }

    /// Every node with connections now: the primaries' (`false`) and, for replica
    /// reads, the replicas' `READONLY` ones (`true`). Sorted by address.
    pub fn nodes(&self) -> Vec<(Arc<Node>, bool)> {
        let mut all = Vec::new();
        for (map, readonly) in [(&self.nodes, false), (&self.readers, true)] {
            let map = map.lock().unwrap_or_else(|e| e.into_inner());
            all.extend(map.values().map(|node| (node.clone(), readonly)));
        }
        all.sort_by(|a, b| (&a.0.addr, a.1).cmp(&(&b.0.addr, b.1)));
        all
    }

    /// Forgets nodes no longer in the cluster; their connections close once no
    /// topology snapshot refers to them any more.
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        for map in [&self.nodes, &self.readers] {
            map.lock().unwrap_or_else(|e| e.into_inner()).retain(|addr, _| keep(addr));
        }
    }

    /// Drops every node (shutdown): connection tasks end when their queues drain.
    pub fn clear(&self) {
        for map in [&self.nodes, &self.readers] {
            map.lock().unwrap_or_else(|e| e.into_inner()).clear();
        }
    }
}
