//! The proxy's shared state, built once: the one module that knows every
//! subsystem. It hands each part the narrow thing it needs (the topology map, the
//! pool, the counters, the live config) and nothing else; the parts below it never
//! see the whole.

use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;

use crate::backend::connection::ConnSettings;
use crate::backend::lease::Leases;
use crate::backend::pool::Pool;
use crate::backend::reach::NodeReach;
use crate::backend::reroute::RerouterRef;
use crate::backend::timeouts::Timeouts;
use crate::cluster::node_version::NodeVersion;
use crate::cluster::refresh::{ClusterMap, Refresher};
use crate::command::commands::CommandTable;
use crate::config::{Config, LiveConfig};
use crate::metrics::Metrics;
use crate::net::connect::{NodeConnector, NodeLogin};
use crate::observe::Observer;
use crate::observe::clients::Registry;
use crate::pubsub::hub::Hub;
use crate::route::dispatch::{Router, RouterParts};
use crate::users::{LiveUsers, Users};
use crate::workers::Workers;

pub struct Proxy {
    /// Sends requests to the nodes and follows redirects.
    pub router: Arc<Router>,
    /// The topology snapshot and its refresh trigger.
    pub map: Arc<ClusterMap>,
    /// The shared node connections (the router's).
    pub pool: Arc<Pool>,
    /// Connections lent to one client (blocking commands, `WATCH`).
    pub leases: Leases,
    /// Subscriptions of every client, over shared node subscriptions.
    pub hub: Arc<Hub>,
    /// How to connect and log in to a node.
    pub reach: NodeReach,
    /// Where the topology is first learned.
    pub seeds: Vec<String>,
    pub metrics: Arc<Metrics>,
    /// The nodes' Redis version, as `HELLO` and `INFO` report it.
    pub node_version: Arc<NodeVersion>,
    /// The command table in force: built in, adjusted by what the primaries say.
    pub commands: Arc<ArcSwap<CommandTable>>,
    /// Per-command counters, slow log, hot keys.
    pub observe: Arc<Observer>,
    /// The worker threads clients and node connections are spread over.
    pub workers: Workers,
    /// slotway's own clients, for `CLIENT LIST`.
    pub clients: Registry,
    /// Who may log in; swapped whole on reload (SIGHUP).
    pub users: LiveUsers,
    /// The configuration in force; swapped whole on reload. Read when a client
    /// connects, so changed limits apply to new clients.
    pub live: LiveConfig,
    /// Cancelled when slotway shuts down: sessions finish what they have and close.
    pub stopping: CancellationToken,
}

impl Proxy {
    /// A proxy for `config`. TLS settings that cannot be loaded make every node
    /// connection fail saying why; `serve` checks them first (see [`Proxy::with_connector`]).
    pub fn new(config: &Config) -> Arc<Proxy> {
        Proxy::with_connector(config, NodeConnector::from_config(config))
    }

    pub fn with_connector(config: &Config, connector: NodeConnector) -> Arc<Proxy> {
        Proxy::with_workers(config, connector, Workers::this_runtime())
    }

    /// A proxy whose node connections are spread over `workers` (thread-per-core).
    pub fn with_workers(config: &Config, connector: NodeConnector, workers: Workers) -> Arc<Proxy> {
        let reach = NodeReach {
            connector,
            timeouts: Arc::new(Timeouts::new(config)),
            login: config.node_password.clone().map(|password| NodeLogin { user: config.node_user.clone(), password }),
        };
        let settings = ConnSettings {
            reach: reach.clone(),
            resp3: false,
            readonly: false,
            no_touch: false,
            reachable: None,
            stats: None,
            reconnect: true,
            timed_replies: true,
            max_in_flight: config.backend_queue.max(1) * 4,
        };
        let map = Arc::new(ClusterMap::new());
        let metrics = Arc::new(Metrics::default());
        let live: LiveConfig = Arc::new(arc_swap::ArcSwap::from_pointee(config.clone()));
        let parts = RouterParts {
            map: map.clone(),
            settings: settings.clone(),
            workers: workers.clone(),
            live: live.clone(),
            metrics: metrics.clone(),
        };
        let router = Router::new(config, parts);
        let rerouter: RerouterRef = Arc::downgrade(&router) as RerouterRef;
        Arc::new(Proxy {
            pool: router.pool().clone(),
            leases: Leases::new(config.max_leased_conns, settings, rerouter),
            hub: Hub::new(map.clone(), config.pubsub_limit(), reach.clone()),
            router,
            map,
            reach,
            seeds: config.seeds.clone(),
            metrics,
            node_version: Default::default(),
            commands: Default::default(),
            observe: Arc::new(Observer::new(config)),
            workers,
            clients: Default::default(),
            users: LiveUsers::new(Users::from_config(config)),
            live,
            stopping: CancellationToken::new(),
        })
    }

    /// What the topology refresher needs, and what it tells when the topology changes:
    /// subscriptions follow their slots and primaries.
    pub fn refresher(&self) -> Refresher {
        let hub = Arc::downgrade(&self.hub);
        Refresher {
            map: self.map.clone(),
            pool: self.pool.clone(),
            seeds: self.seeds.clone(),
            reach: self.reach.clone(),
            metrics: self.metrics.clone(),
            live: self.live.clone(),
            on_change: Arc::new(move || {
                if let Some(hub) = hub.upgrade() {
                    hub.reconcile();
                }
            }),
        }
    }
}
