//! The servers slotway is tested against, each as a real six-node cluster from
//! `cluster-testbed/ensure-server.sh` (Debian 12's Redis 7.0, Valkey 8.1 from PyPI,
//! Redis 8.0 built from Debian 13's source): slotway routes plain commands, a
//! cross-slot MSET/MGET, a transaction and a script on each, whatever
//! `SLOTWAY_TEST_SERVER` says. Each test first checks, asking every node directly,
//! that the cluster runs the server it is named for, so it fails if the wrong one runs.
//!
//! What slotway says about itself (its INFO, its refusal of commands newer than
//! Redis 7.0) is not asserted here.

mod support;

use support::{TestCluster, Value, connect, get_from_owners, spread_keys, start_slotway, tagged_keys};

/// `field:value` lines of an INFO section, as the server wrote them.
fn info_field(info: &str, field: &str) -> Option<String> {
    info.lines().find_map(|l| l.strip_prefix(field)?.strip_prefix(':')).map(|v| v.trim().to_string())
}

/// Every node's `INFO server`, asked of the node itself (not through slotway).
fn nodes_info(cluster: &TestCluster) -> Vec<(String, String)> {
    cluster
        .addrs()
        .into_iter()
        .map(|addr| {
            let info = connect(&addr).cmd(&["INFO", "server"]).text().expect("INFO server is a bulk string");
            (addr, info)
        })
        .collect()
}

/// Real routing through slotway against `cluster`: every shard, cross-slot, MULTI, EVAL.
fn routes_through_slotway(cluster: &TestCluster) {
    let proxy = start_slotway(cluster.addrs());
    let mut client = connect(&proxy.addr);

    // Two keys on each primary, each in a slot of its own; read back through slotway
    // and straight from the owner, so a key must have landed where the cluster wants it.
    let keys = spread_keys(cluster, "servers:", 2);
    assert_eq!(keys.len(), 6);
    for (key, _) in &keys {
        assert_eq!(client.cmd(&["SET", key, &format!("v-{key}")]), Value::ok(), "SET {key}");
    }
    for (key, _) in &keys {
        assert_eq!(client.cmd(&["GET", key]), Value::bulk(&format!("v-{key}")), "GET {key}");
    }
    let raw: Vec<Vec<u8>> = keys.iter().map(|(k, _)| k.as_bytes().to_vec()).collect();
    for ((key, owner), (read_from, value)) in keys.iter().zip(get_from_owners(&cluster.seed(), &raw)) {
        assert_eq!(&read_from, owner, "{key}'s owner");
        assert_eq!(value, Value::bulk(&format!("v-{key}")), "{key} on its owner {owner}");
    }

    // Cross-slot MSET/MGET: slotway splits them over the three primaries.
    let mut mset = vec!["MSET"];
    let values: Vec<String> = keys.iter().map(|(k, _)| format!("m-{k}")).collect();
    for ((key, _), value) in keys.iter().zip(&values) {
        mset.extend([key.as_str(), value.as_str()]);
    }
    assert_eq!(client.cmd(&mset), Value::ok(), "cross-slot MSET");
    let mut mget = vec!["MGET"];
    mget.extend(keys.iter().map(|(k, _)| k.as_str()));
    mget.push("servers:missing");
    let mut want: Vec<Value> = values.iter().map(|v| Value::bulk(v)).collect();
    want.push(Value::Nil);
    assert_eq!(client.cmd(&mget), Value::Array(want), "cross-slot MGET");

    // MULTI/EXEC on one slot (a hash tag).
    let tx = tagged_keys("servers-tx", 2);
    assert_eq!(client.cmd(&["MULTI"]), Value::ok());
    let queued = Value::Simple("QUEUED".into());
    assert_eq!(client.cmd(&["SET", &tx[0], "1"]), queued);
    assert_eq!(client.cmd(&["INCRBY", &tx[0], "41"]), queued);
    assert_eq!(client.cmd(&["RPUSH", &tx[1], "a", "b"]), queued);
    assert_eq!(
        client.cmd(&["EXEC"]),
        Value::Array(vec![Value::ok(), Value::Int(42), Value::Int(2)]),
        "EXEC on one slot"
    );
    assert_eq!(client.cmd(&["GET", &tx[0]]), Value::bulk("42"));

    // EVAL with keys of one slot runs on their primary and sees both.
    let script =
        "redis.call('SET', KEYS[1], ARGV[1]); return {redis.call('GET', KEYS[1]), redis.call('LLEN', KEYS[2])}";
    assert_eq!(
        client.cmd(&["EVAL", script, "2", &tx[0], &tx[1], "from-lua"]),
        Value::Array(vec![Value::bulk("from-lua"), Value::Int(2)]),
        "EVAL"
    );
    assert_eq!(client.cmd(&["GET", &tx[0]]), Value::bulk("from-lua"));
}

#[test]
fn redis_7_0_cluster_through_slotway() {
    let cluster = TestCluster::start_server("redis-7.0");
    for (addr, info) in nodes_info(&cluster) {
        assert_eq!(info_field(&info, "redis_version").as_deref(), Some("7.0.15"), "{addr}:\n{info}");
        assert_eq!(info_field(&info, "server_name"), None, "{addr} is not Redis:\n{info}");
    }
    routes_through_slotway(&cluster);
}

#[test]
fn valkey_8_1_cluster_through_slotway() {
    let cluster = TestCluster::start_server("valkey-8.1");
    for (addr, info) in nodes_info(&cluster) {
        assert_eq!(info_field(&info, "server_name").as_deref(), Some("valkey"), "{addr}:\n{info}");
        assert_eq!(info_field(&info, "valkey_version").as_deref(), Some("8.1.8"), "{addr}:\n{info}");
    }
    routes_through_slotway(&cluster);
}

#[test]
fn redis_8_0_cluster_through_slotway() {
    // The first run on a machine builds Redis 8.0 (ensure-server.sh says so on stderr).
    let cluster = TestCluster::start_server("redis-8.0");
    for (addr, info) in nodes_info(&cluster) {
        assert_eq!(info_field(&info, "redis_version").as_deref(), Some("8.0.2"), "{addr}:\n{info}");
        assert_eq!(info_field(&info, "server_name"), None, "{addr} is not Redis:\n{info}");
    }
    routes_through_slotway(&cluster);
}
