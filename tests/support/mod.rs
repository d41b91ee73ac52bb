//! Shared support for integration tests (`mod support;` in a test file).
//!
//! - [`TestCluster`]: a real six-node Redis Cluster of local processes, one per test,
//!   started by `cluster-testbed/testbed.sh` on free random ports.
//! - [`start_slotway`]: the proxy in-process on port 0, stopped when its handle drops.
//! - [`connect`]: a blocking raw RESP client, for talking to slotway and to nodes alike;
//!   [`encode`] for hand-made requests.
//! - `direct`: asking servers directly: [`pipeline`] (large pipelines that cannot
//!   deadlock), typed reply views ([`int`], [`bulk`], [`array`], [`text`]),
//!   [`admin_ok`], [`node_id`], [`client_list`].
//! - `slots`: what the cluster itself says about slots ([`keyslot`], [`slot_owners`],
//!   [`key_owner`] ...), keys placed on given primaries, and moving a slot behind
//!   slotway's back ([`move_slot`] and its steps).
//! - `admin`: slotway with its admin port, HTTP GETs, `/metrics` parsed ([`scrape`], [`sample`]).
//! - `tls`: certificates made at test time ([`Certs`]) and a TLS client ([`tls_connect`]);
//!   [`TestCluster::start_tls`] and [`start_slotway_tls`] for the servers.
//! - [`TestCluster::start_requirepass`] and [`TestCluster::start_acl_user`]: clusters
//!   whose nodes want a login; [`TestCluster::connect_node`] logs in.
//! - [`Standalone`]: a standalone redis-server, the reference for what one Redis answers.
//! - `resp3`: replies as exact bytes ([`RawBytesConn`]) and typed RESP2/RESP3 trees ([`Reply`]).
//! - `procs`: node processes ([`process_id`], [`kill9`]) and this process's memory.
//! - [`ServerVersion`]: which server a node runs (`INFO server`), for expectations that
//!   differ between Redis 7.0, Valkey 8.1 and Redis 8.0 ([`TestCluster::server_version`]).
//! - `fake_node`: scripted fake nodes ([`FakeCluster`], [`Script`], [`Action`]) for
//!   redirect and failure edge cases a real cluster cannot stage on demand.

// Every test file compiles this module and uses only part of it.
#![allow(dead_code, unused_imports)]

mod admin;
mod cluster;
mod direct;
mod fake_node;
mod procs;
mod proxy;
mod resp;
mod resp3;
mod slots;
mod standalone;
mod tls;
mod version;

pub use admin::{
    HttpReply, counter_or_zero, get, latency_count, sample, scrape, start_with_admin, start_with_admin_and, try_get,
};
pub use cluster::{ClusterNode, Login, TestCluster, cluster_nodes, parse_cluster_nodes, port_of};
pub use direct::{
    Cmd, admin_ok, array, bulk, client_list, cmd, dbsizes, int, node_id, pipeline, pipeline_raw, pipeline_raw_within,
    text,
};
pub use fake_node::{
    Action, FakeCluster, FakeNode, NodeCtx, Script, Then, answer_as_owner, fake_value, get_key, hash_slot, is_cmd,
    plain_node, script, show, wait_until,
};
pub use procs::{Stopped, kill9, kill9_pid, process_id, send_kill9, stop_node, vm_rss_kib, vm_size_kib};
pub use proxy::{SlotwayHandle, start_error, start_slotway, start_slotway_tls, start_slotway_with};
pub use resp::{RawConn, Value, connect, encode, expect_eof, expect_error_then_eof, parse_reply, try_connect};
pub use resp3::{RawBytesConn, Reply, decode, frame_len};
pub use slots::{
    finish_migration, get_from_owners, get_on_owner, key_owner, keyslot, keyslots, migrate_keys, move_slot, owners_of,
    slot_and_nodes, slot_owners, spread_keys, start_migration, tagged_keys,
};
pub use standalone::Standalone;
pub use tls::{Certs, tls_client, tls_connect};
pub use version::ServerVersion;
