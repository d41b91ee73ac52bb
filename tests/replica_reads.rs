//! `--read-from`: read-only commands may go to replicas (over READONLY
//! connections); writes never do.

mod support;

use std::time::{Duration, Instant};

use support::{TestCluster, Value, connect, start_slotway_with};

/// `calls=` of one command in a node's INFO commandstats.
fn calls(addr: &str, command: &str) -> u64 {
    let Value::Bulk(info) = connect(addr).cmd(&["INFO", "commandstats"]) else { panic!("no INFO from {addr}") };
    let info = String::from_utf8_lossy(&info).into_owned();
    let prefix = format!("cmdstat_{command}:calls=");
    info.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[test]
fn prefer_replica_sends_reads_to_replicas_and_writes_to_primaries() {
    let cluster = TestCluster::start();
    let mut config = slotway::Config::with_seeds(cluster.addrs());
    config.read_from = slotway::backend::pool::ReadFrom::PreferReplica;
    let proxy = start_slotway_with(config);
    let replicas = cluster.replicas();
    let primaries = cluster.primaries();
    assert_eq!(replicas.len(), 3);

    // Writes, then wait until every replica has them (replication is asynchronous).
    let mut c = connect(&proxy.addr);
    for i in 0..100 {
        assert_eq!(c.cmd(&["SET", &format!("rr:{i}"), &i.to_string()]), Value::ok());
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    for i in 0..100 {
        let key = format!("rr:{i}");
        let slot = slotway::cluster::slot::hash_slot(key.as_bytes());
        let primary = cluster.node_for_slot(slot);
        let primary_id = cluster.node_id(&primary);
        for r in &replicas {
            let nodes = cluster.redis_cli(r, &["CLUSTER", "NODES"]);
            let mine = nodes.lines().any(|l| l.contains("myself") && l.contains(&primary_id));
            if mine {
                let mut conn = connect(r);
                assert_eq!(conn.cmd(&["READONLY"]), Value::ok());
                while conn.cmd(&["GET", &key]) != Value::bulk(&i.to_string()) {
                    assert!(Instant::now() < deadline, "{key} never reached its replica");
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
    }

    let before_replicas: u64 = replicas.iter().map(|r| calls(r, "get")).sum();
    let before_primaries: u64 = primaries.iter().map(|p| calls(p, "get")).sum();
    let sets_on_replicas: u64 = replicas.iter().map(|r| calls(r, "set")).sum();
    for i in 0..100 {
        assert_eq!(c.cmd(&["GET", &format!("rr:{i}")]), Value::bulk(&i.to_string()));
    }
    let after_replicas: u64 = replicas.iter().map(|r| calls(r, "get")).sum();
    let after_primaries: u64 = primaries.iter().map(|p| calls(p, "get")).sum();
    assert_eq!(after_replicas - before_replicas, 100, "every GET went to a replica");
    assert_eq!(after_primaries, before_primaries, "no GET went to a primary");

    // Writes still go to primaries: replicas only see them through replication.
    assert_eq!(c.cmd(&["SET", "rr:new", "x"]), Value::ok());
    let owner = cluster.node_for_slot(slotway::cluster::slot::hash_slot(b"rr:new"));
    assert_eq!(connect(&owner).cmd(&["GET", "rr:new"]), Value::bulk("x"));
    assert!(replicas.iter().map(|r| calls(r, "set")).sum::<u64>() >= sets_on_replicas);
    assert!(!c.cmd(&["INCR", "rr:counter"]).is_error(), "writes are never refused as READONLY");
}
