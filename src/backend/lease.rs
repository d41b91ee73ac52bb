//! Connections lent to one client for a while: for a blocking command (it may wait
//! for minutes, and must not hold up a shared connection), or from `WATCH` to
//! `EXEC` (the watch lives on the connection). Their number is bounded; a lease
//! given back closes its connection, so no state leaks to the next user.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use super::connection::{self, ConnSettings};
use super::request::{BackendRequest, ClientTag};
use super::reroute::RerouterRef;
use crate::error::CommandError;
use crate::task::AbortOnDrop;

/// A connection to `node` that only its holder uses.
pub struct Lease {
    conn: mpsc::Sender<BackendRequest>,
    pub node: Arc<str>,
    /// Lent to a blocking command (which may never be answered), not to `WATCH`.
    pub blocking: bool,
    _task: AbortOnDrop,
    _permit: OwnedSemaphorePermit,
    _blocked: Option<Blocked>,
}

/// Counts a blocking lease in [`Leases::blocked`] while it lives.
struct Blocked(Arc<AtomicUsize>);

impl Drop for Blocked {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease").field("node", &self.node).finish()
    }
}

impl Lease {
    /// Queues `req` on the leased connection (marked leased: never redirected elsewhere).
    pub fn send(&self, mut req: BackendRequest) -> Result<(), CommandError> {
        req.leased = true;
        self.conn.try_send(req).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => CommandError::Overloaded(self.node.to_string()),
            mpsc::error::TrySendError::Closed(_) => CommandError::ConnectionLost(self.node.to_string()),
        })
    }
}

pub struct Leases {
    permits: Arc<Semaphore>,
    limit: usize,
    settings: ConnSettings,
    router: RerouterRef,
    /// Leases held by blocking commands now (`INFO`'s `blocked_clients`).
    blocked: Arc<AtomicUsize>,
}

/// Requests one holder may queue on its lease (a transaction is one request).
const LEASE_QUEUE: usize = 256;

impl Leases {
    pub fn new(limit: usize, settings: ConnSettings, router: RerouterRef) -> Self {
        Leases { permits: Arc::new(Semaphore::new(limit)), limit, settings, router, blocked: Default::default() }
    }

    /// A new connection to `node`. `blocking`: no reply timeout (the command's own
    /// timeout applies). Fails at once past the configured number of leases.
    pub fn lease(&self, node: Arc<str>, blocking: bool, client: ClientTag) -> Result<Lease, CommandError> {
        let permit = self.permits.clone().try_acquire_owned().map_err(|_| CommandError::TooManyLeases(self.limit))?;
        let settings = ConnSettings {
            resp3: client.resp3,
            no_touch: client.no_touch,
            reconnect: false,
            timed_replies: !blocking && self.settings.timed_replies,
            ..self.settings.clone()
        };
        let (conn, rx) = mpsc::channel(LEASE_QUEUE);
        let task = AbortOnDrop(tokio::spawn(connection::run(node.clone(), rx, settings, self.router.clone())));
        let blocked = blocking.then(|| {
            self.blocked.fetch_add(1, Relaxed);
            Blocked(self.blocked.clone())
        });
        Ok(Lease { conn, node, blocking, _task: task, _permit: permit, _blocked: blocked })
    }

    /// Clients waiting in a blocking command now (one lease each).
    pub fn blocked(&self) -> usize {
        self.blocked.load(Relaxed)
    }

    /// Leases in use now.
    pub fn in_use(&self) -> usize {
        self.limit - self.permits.available_permits()
    }
}
