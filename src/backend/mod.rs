//! Connections to cluster nodes: each one multiplexed and pipelined, shared by every client.
//!
//! Nothing here imports routing or clients: a reply that needs routing's decision
//! goes up through [`reroute::Rerouter`], which routing implements.

pub mod connection;
pub mod lease;
pub mod pool;
pub mod reach;
mod reader;
pub mod request;
pub mod reroute;
pub mod timeouts;
