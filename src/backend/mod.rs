//! Connections to cluster nodes: each one multiplexed and pipelined, shared by every client.

pub mod connection;
pub mod lease;
pub mod pool;
pub mod timeouts;
