//! slotway: a Redis Cluster-aware routing proxy. A plain, cluster-unaware Redis
//! client connects to slotway and sees one Redis server; slotway routes every
//! command to the primary that owns its keys.
//!
//! # Data path
//!
//! client socket → [`listener`] → [`client::session`] (the socket loop, one task per
//! client) → [`protocol::request`] (framing, raw bytes kept) → [`client::dispatch`]
//! (one method per [`command::classify::Action`]: table lookup, keys,
//! [`cluster::slot`]; transactions in [`client::transaction`], subscribed mode in
//! `client::subscribed`) → [`route::dispatch`] (`Router::send` to a `Target`: the
//! slot's primary by the [`cluster::topology`] snapshot, a replica, a node, a lease;
//! fan-outs split and merged by [`route::fanout`] and [`route::merge`]) →
//! [`backend::connection`] (shared, pipelined, FIFO of in-flight requests) → node →
//! reply framed by [`backend`]'s reader (redirects and `NOSCRIPT` go back up through
//! [`backend::reroute::Rerouter`], which the router implements) →
//! [`client::reply_queue`] (request order) → client socket.
//!
//! [`proxy::Proxy`] holds the shared state and hands each part the narrow thing it
//! needs; imports point one way, down this path (ARCHITECTURE.md has the rule).
//!
//! Either socket may be TLS: [`net`] (plain or TLS streams, the TLS handshake with
//! clients, opening node connections).
//!
//! [`cluster::refresh`] keeps the topology current; [`error`] turns failures into
//! the replies clients see; [`config`] holds every knob.

#![forbid(unsafe_code)]
// No panics on the data path: a bad input or a surprise from a node must become an
// error reply, never a crash of every client's proxy.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::todo,
        clippy::unimplemented,
        clippy::indexing_slicing
    )
)]

pub mod admin;
pub mod backend;
pub mod client;
pub mod cluster;
pub mod command;
pub mod config;
pub mod config_file;
pub mod error;
pub mod listener;
pub mod metrics;
pub mod net;
pub mod observe;
pub mod protocol;
pub mod proxy;
pub mod pubsub;
pub mod reload;
pub mod route;
pub mod startup;
pub mod task;
pub mod users;
pub mod workers;

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tracing::{info, warn};

pub use config::Config;
pub use startup::Error;

/// The Redis version slotway reports (`HELLO`, `INFO`) until it has learned the
/// nodes' (`cluster::node_version`): the command set it routes.
pub const REDIS_VERSION: &str = "7.0.0";

/// Serves clients on `listener` (plain TCP) until `shutdown` completes.
///
/// Learns the topology from the seeds first; if no seed answers, returns an error
/// naming each seed and what went wrong with it.
pub async fn serve(listener: TcpListener, config: Config, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
    serve_with_reload(Listeners { plain: Some(listener), tls: None }, config, shutdown, None).await
}

/// The sockets clients connect to: `--listen` (plain) and `--tls-listen`.
pub struct Listeners {
    pub plain: Option<TcpListener>,
    pub tls: Option<TcpListener>,
}

impl Listeners {
    /// Binds `listen` (unless empty) and `tls-listen` (when set).
    pub async fn bind(config: &Config) -> Result<Listeners, Error> {
        let bind = |addr: String| async move {
            TcpListener::bind(&addr).await.map_err(|source| Error::Listen { addr, source })
        };
        let plain = match config.listen.as_str() {
            "" => None,
            addr => Some(bind(addr.to_string()).await?),
        };
        let tls = match &config.tls_listen {
            Some(addr) => Some(bind(addr.clone()).await?),
            None => None,
        };
        Ok(Listeners { plain, tls })
    }
}

/// Serves clients on `listeners`, also applying each configuration received on
/// `reloads` (SIGHUP): what can change live is applied, what cannot is reported in
/// the log. A TLS listener uses the `tls-*` settings; `node-tls` applies to the nodes.
pub async fn serve_with_reload(
    listeners: Listeners,
    config: Config,
    shutdown: impl Future<Output = ()>,
    reloads: Option<tokio::sync::mpsc::Receiver<Config>>,
) -> Result<(), Error> {
    let config = Arc::new(config);
    // TLS files are read before anything starts: a bad one stops slotway here.
    let tls = match listeners.tls {
        Some(l) => Some((l, tokio_rustls::TlsAcceptor::from(net::tls::server_config(&config)?))),
        None => None,
    };
    let connector = net::connect::NodeConnector::new(net::tls::node_config(&config)?);
    // Worker 0 is this runtime; the others start here and stop when serve returns.
    let (_worker_threads, workers) = workers::WorkerThreads::start(config.threads).map_err(Error::Runtime)?;
    let proxy = proxy::Proxy::with_workers(&config, connector, workers);
    // Bound before the seeds are asked, so a bad --admin-listen fails at once; the
    // guard stops the admin port however serve returns.
    let _admin = match &config.admin_listen {
        Some(addr) => Some(admin::start(addr, proxy.clone()).await?),
        None => None,
    };
    let refresher = proxy.refresher();
    if let Err(errors) = cluster::refresh::refresh_once(&refresher).await {
        return Err(Error::NoSeed(startup::SeedErrors(errors)));
    }
    announce_ready(&proxy, listeners.plain.as_ref(), tls.as_ref().map(|(l, _)| l));
    // Before clients come: their first HELLO already reports the nodes' version.
    let wait = proxy.live.load().reply_timeout();
    cluster::node_version::learn(&proxy.map, &proxy.node_version, wait).await;
    // And the commands they have: a newer server's are routed from the first request.
    cluster::commands::learn(&proxy.map, &proxy.commands, wait).await;
    let background = start_background(&proxy, refresher, reloads);
    let clients = listener::ClientListeners { plain: listeners.plain, tls };
    listener::accept_loop(clients, proxy.clone(), shutdown).await;
    drain(&proxy).await;
    drop(background);
    proxy.pool.clear();
    let _ = proxy.map.store(cluster::topology::Topology::empty());
    Ok(())
}

/// Logs that slotway serves, and warns when the cluster leaves slots unserved.
fn announce_ready(proxy: &proxy::Proxy, plain: Option<&TcpListener>, tls: Option<&TcpListener>) {
    let topology = proxy.map.load();
    let addr = |l: Option<&TcpListener>| l.and_then(|l| l.local_addr().ok()).map_or("-".to_string(), |a| a.to_string());
    info!(
        listen = %addr(plain),
        tls_listen = %addr(tls),
        node_tls = proxy.reach.connector.is_tls(),
        shards = topology.shards.len(),
        slots = topology.covered_slots(),
        "slotway ready"
    );
    if topology.covered_slots() < cluster::slot::SLOT_COUNT {
        warn!(covered = topology.covered_slots(), "not every slot is served by the cluster");
    }
}

/// The tasks that run beside the clients (rates, version and lag watches, the
/// topology refresher, reloads); each stops when its guard is dropped.
fn start_background(
    proxy: &Arc<proxy::Proxy>,
    refresher: cluster::refresh::Refresher,
    reloads: Option<tokio::sync::mpsc::Receiver<Config>>,
) -> Vec<task::AbortOnDrop> {
    let p = proxy;
    let mut tasks = vec![
        task::spawn_owned(metrics::sample_rates(p.metrics.clone())),
        task::spawn_owned(cluster::node_version::watch(p.map.clone(), p.node_version.clone(), p.live.clone())),
        task::spawn_owned(cluster::refresh::refresh_loop(refresher)),
        task::spawn_owned(cluster::commands::watch(
            p.map.clone(),
            p.node_version.clone(),
            p.commands.clone(),
            p.live.clone(),
        )),
        task::spawn_owned(cluster::replica_lag::watch(p.map.clone(), p.pool.clone(), p.live.clone())),
    ];
    if let Some(mut rx) = reloads {
        let proxy = proxy.clone();
        tasks.push(task::spawn_owned(async move {
            while let Some(new) = rx.recv().await {
                reload::apply(&proxy, new);
            }
        }));
    }
    tasks
}

/// Graceful: no new clients; sessions answer what they were sent, then close, for
/// at most `shutdown-grace-ms`.
async fn drain(proxy: &proxy::Proxy) {
    let grace = std::time::Duration::from_millis(proxy.live.load().shutdown_grace_ms);
    proxy.stopping.cancel();
    let deadline = tokio::time::Instant::now() + grace;
    while metrics::Metrics::get(&proxy.metrics.connected_clients) > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    info!(remaining_clients = metrics::Metrics::get(&proxy.metrics.connected_clients), "slotway stopped");
}
