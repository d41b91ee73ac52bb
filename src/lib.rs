//! slotway: a Redis Cluster-aware routing proxy. A plain, cluster-unaware Redis
//! client connects to slotway and sees one Redis server; slotway routes every
//! command to the primary that owns its keys.
//!
//! # Data path
//!
//! client socket → [`listener`] → [`client::session`] (one task per client)
//! → [`protocol::request`] (framing, raw bytes kept) → [`command::classify`]
//! (table lookup, keys, [`cluster::slot`]) → [`route::dispatch`] (slot → primary via
//! the [`cluster::topology`] snapshot) → [`backend::connection`] (shared, pipelined,
//! FIFO of in-flight requests) → node → reply framed by [`protocol::reply`]
//! (redirects go back to [`route::dispatch`]) → [`client::reply_queue`] (request
//! order) → client socket.
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
pub mod pubsub;
pub mod reload;
pub mod route;
pub mod workers;

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tracing::{info, warn};

pub use config::Config;
pub use error::Error;

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
    let router = route::dispatch::Router::with_workers(&config, connector, workers);
    // Bound before the seeds are asked, so a bad --admin-listen fails at once; the
    // guard stops the admin port however serve returns.
    let _admin = match &config.admin_listen {
        Some(addr) => Some(admin::start(addr, router.clone()).await?),
        None => None,
    };
    if let Err(errors) = cluster::refresh::refresh_once(&router).await {
        return Err(Error::NoSeed(
            errors.iter().map(|(addr, e)| format!("{addr}: {e}")).collect::<Vec<_>>().join("; "),
        ));
    }
    let topology = router.map.load();
    let addr = |l: Option<&TcpListener>| l.and_then(|l| l.local_addr().ok()).map_or("-".to_string(), |a| a.to_string());
    info!(
        listen = %addr(listeners.plain.as_ref()),
        tls_listen = %addr(tls.as_ref().map(|(l, _)| l)),
        node_tls = router.connector.is_tls(),
        shards = topology.shards.len(),
        slots = topology.covered_slots(),
        "slotway ready"
    );
    if topology.covered_slots() < cluster::slot::SLOT_COUNT {
        warn!(covered = topology.covered_slots(), "not every slot is served by the cluster");
    }
    drop(topology);
    // Before clients come: their first HELLO already reports the nodes' version.
    cluster::node_version::learn(&router, router.live.load().reply_timeout()).await;
    let rates = backend::connection::AbortOnDrop(tokio::spawn(metrics::sample_rates(router.clone())));
    let version_watch = backend::connection::AbortOnDrop(tokio::spawn(cluster::node_version::watch(router.clone())));
    let refresher = tokio::spawn(cluster::refresh::refresh_loop(router.clone()));
    let lag_watch = backend::connection::AbortOnDrop(tokio::spawn(cluster::replica_lag::watch(router.clone())));
    let reloader = reloads.map(|mut rx| {
        let router = router.clone();
        tokio::spawn(async move {
            while let Some(new) = rx.recv().await {
                reload::apply(&router, new);
            }
        })
    });
    let clients = listener::ClientListeners { plain: listeners.plain, tls };
    listener::accept_loop(clients, router.clone(), shutdown).await;
    if let Some(task) = reloader {
        task.abort();
    }
    // Graceful: no new clients; sessions answer what they were sent, then close.
    let grace = std::time::Duration::from_millis(router.live.load().shutdown_grace_ms);
    router.stopping.cancel();
    let deadline = tokio::time::Instant::now() + grace;
    while metrics::Metrics::get(&router.metrics.connected_clients) > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    info!(remaining_clients = metrics::Metrics::get(&router.metrics.connected_clients), "slotway stopped");
    refresher.abort();
    drop(lag_watch);
    drop(version_watch);
    drop(rates);
    router.pool.clear();
    let _ = router.map.store(cluster::topology::Topology::empty());
    Ok(())
}
