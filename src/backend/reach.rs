//! How to open and log in on a connection to a node: shared by the data
//! connections, the subscription connections and the topology queries.

use std::sync::Arc;

use super::timeouts::Timeouts;
use crate::net::connect::{NodeConnector, NodeLogin};

#[derive(Debug, Clone)]
pub struct NodeReach {
    /// Plain TCP or TLS; the connect timeout covers the handshake too.
    pub connector: NodeConnector,
    /// Node-side timeouts, changed live by a reload.
    pub timeouts: Arc<Timeouts>,
    /// How slotway logs in to the nodes (`--node-user`/`--node-password`).
    pub login: Option<NodeLogin>,
}
