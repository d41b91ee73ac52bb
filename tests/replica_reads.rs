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
    config.read_from = slotway::config::ReadFrom::PreferReplica;
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

/// The replica that serves `primary`'s slots.
fn replica_of(cluster: &TestCluster, primary: &str) -> String {
    let primary_id = cluster.node_id(primary);
    cluster
        .replicas()
        .into_iter()
        .find(|r| {
            cluster.redis_cli(r, &["CLUSTER", "NODES"]).lines().any(|l| l.contains("myself") && l.contains(&primary_id))
        })
        .unwrap_or_else(|| panic!("no replica of {primary}"))
}

/// A cluster and a slotway reading from replicas (`tweak` adjusts its config), with
/// `key` set to "v1" and read once from its replica; returns the replica's address
/// and the client that read it.
fn reading_from_a_replica(
    key: &str,
    tweak: impl FnOnce(&mut slotway::Config),
) -> (TestCluster, support::SlotwayHandle, String, support::RawConn) {
    let cluster = TestCluster::start();
    let mut config = slotway::Config::with_seeds(cluster.addrs());
    config.read_from = slotway::config::ReadFrom::PreferReplica;
    config.replica_check_interval_ms = 100;
    tweak(&mut config);
    let proxy = start_slotway_with(config);
    let primary = cluster.node_for_slot(slotway::cluster::slot::hash_slot(key.as_bytes()));
    let replica = replica_of(&cluster, &primary);
    let mut c = connect(&proxy.addr);
    assert_eq!(c.cmd(&["SET", key, "v1"]), Value::ok());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let before = calls(&replica, "get");
        if c.cmd(&["GET", key]) == Value::bulk("v1") && calls(&replica, "get") > before {
            break;
        }
        assert!(Instant::now() < deadline, "reads never reached the replica {replica}");
        std::thread::sleep(Duration::from_millis(100));
    }
    (cluster, proxy, replica, c)
}

#[test]
fn a_replica_behind_its_primary_is_skipped_until_it_catches_up() {
    let key = "lag:key";
    // At first the replica serves the reads.
    let (cluster, proxy, replica, mut c) = reading_from_a_replica(key, |config| {
        config.replica_max_lag_bytes = 1_000;
        // A read sent to the stopped replica would hang this long: far past the check below.
        config.reply_timeout_ms = 8_000;
    });

    // The replica stops (it cannot acknowledge the stream) while its primary takes
    // writes: it falls more than 1,000 bytes behind.
    let resume = support::stop_node(cluster.pid_of(&replica).expect("the replica's pidfile"));
    let value = "x".repeat(100);
    for i in 0..50 {
        assert_eq!(c.cmd(&["SET", &format!("{{{key}}}:{i}"), &value]), Value::ok());
    }
    assert_eq!(c.cmd(&["SET", key, "v2"]), Value::ok());
    std::thread::sleep(Duration::from_millis(600));

    // Reads now go to the primary: answered at once, with the latest value (the
    // stopped replica would not answer before the 8 s reply timeout).
    let mut fresh = connect(&proxy.addr);
    let started = Instant::now();
    assert_eq!(fresh.cmd(&["GET", key]), Value::bulk("v2"));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the read waited {:?}: it went to the stopped replica",
        started.elapsed()
    );

    // Resumed, the replica catches up and serves reads again.
    drop(resume);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let before = calls(&replica, "get");
        let got = fresh.cmd(&["GET", key]);
        assert_eq!(got, Value::bulk("v2"));
        if calls(&replica, "get") > before {
            break;
        }
        assert!(Instant::now() < deadline, "the replica never served reads again after catching up");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `backend_nodes_down` in slotway's `INFO slotway`.
fn nodes_down(proxy: &str) -> u64 {
    let info = connect(proxy).cmd(&["INFO", "slotway"]).text().unwrap_or_default();
    info.lines().find_map(|l| l.strip_prefix("backend_nodes_down:")).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

#[test]
fn a_replica_that_comes_back_serves_reads_again() {
    let key = "back:key";
    // No periodic refresh: a new topology would make a fresh replica connection and
    // hide whether the old one is ever tried again.
    let (cluster, proxy, replica, mut c) = reading_from_a_replica(key, |config| config.refresh_interval_s = 3_600);

    // The replica dies; reads meanwhile find it unreachable and go to the primary.
    support::kill9_pid(cluster.pid_of(&replica).expect("the replica's pidfile"), &replica);
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.cmd(&["GET", key]) != Value::bulk("v1") || nodes_down(&proxy.addr) == 0 {
        assert!(Instant::now() < deadline, "slotway never saw the replica down");
        std::thread::sleep(Duration::from_millis(50));
    }
    // It comes back at once, before the cluster could mark it failed (2 s), so the
    // topology never drops it: only slotway's own retry can bring reads back to it.
    let conf = cluster.dir().join(support::port_of(&replica)).join("redis.conf");
    assert!(std::process::Command::new(cluster.server()).arg(&conf).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(20);
    // Synced first: a replica still loading would answer the GET without the key.
    while !(std::net::TcpStream::connect(&replica).is_ok()
        && connect(&replica).cmd(&["INFO", "replication"]).text().unwrap_or_default().contains("master_link_status:up"))
    {
        assert!(Instant::now() < deadline, "{replica} did not sync again after its restart");
        std::thread::sleep(Duration::from_millis(50));
    }
    loop {
        let before = calls(&replica, "get");
        assert_eq!(c.cmd(&["GET", key]), Value::bulk("v1"));
        if calls(&replica, "get") > before {
            break;
        }
        assert!(Instant::now() < deadline, "the restarted replica never served reads again");
        std::thread::sleep(Duration::from_millis(100));
    }
}
