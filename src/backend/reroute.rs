//! What a node connection hands back to routing when a reply is not the client's to
//! have (a redirect, a `NOSCRIPT` slotway can heal) or a request cannot reach its
//! node. The backend owns this trait and routing implements it, so the backend
//! never imports routing: the decision travels up as a call through this seam.

use bytes::Bytes;

use super::request::BackendRequest;
use crate::protocol::reply::Redirect;

pub trait Rerouter: Send + Sync {
    /// A node answered `req` with `MOVED`, `ASK` or `TRYAGAIN`.
    fn follow(&self, req: BackendRequest, redirect: Redirect, from: &str);
    /// A node answered `req` with `NOSCRIPT` (`reply`).
    fn heal_noscript(&self, req: BackendRequest, reply: Bytes, node_addr: &str);
    /// `req` could not reach `dead`: send it to its slot's owner now if that is
    /// another node; give it back otherwise.
    fn reroute_from(&self, req: BackendRequest, dead: &str) -> Result<(), BackendRequest>;
    /// The topology may have changed: ask for a new snapshot soon (coalesced).
    fn request_refresh(&self);
}

/// What connections hold: routing may be gone (shutdown), and must not be kept alive
/// by its own connections.
pub type RerouterRef = std::sync::Weak<dyn Rerouter>;
