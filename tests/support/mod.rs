//! Shared support for integration tests (`mod support;` in a test file).
//!
//! - [`TestCluster`]: a real six-node Redis Cluster of local processes, one per test,
//!   started by `cluster-testbed/testbed.sh` on free random ports.
//! - [`start_slotway`]: the proxy in-process on port 0, stopped when its handle drops.
//! - [`connect`]: a blocking raw RESP client, for talking to slotway and to nodes alike.

// Every test file compiles this module and uses only part of it.
#![allow(dead_code, unused_imports)]

mod cluster;
mod proxy;
mod resp;

pub use cluster::{ClusterNode, TestCluster};
pub use proxy::{SlotwayHandle, start_slotway, start_slotway_with};
pub use resp::{RawConn, Value, connect, parse_reply};
