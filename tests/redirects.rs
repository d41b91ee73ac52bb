//! Slots that move behind slotway's back: a finished move (`MOVED`) and a move in
//! progress (`ASK`). Clients must see neither redirect, only the right values.
//!
//! slotway runs with a one-hour refresh interval, so its topology is stale when the
//! commands below arrive: they reach the old owner and must follow its redirect.

mod support;

use support::{
    Cmd, RawConn, TestCluster, Value, cmd, connect, finish_migration, migrate_keys, pipeline, slot_and_nodes,
    slot_owners, start_migration, start_slotway_with, tagged_keys,
};

/// slotway that only refreshes its topology when a redirect or failure asks it to.
fn stale_slotway(cluster: &TestCluster) -> support::SlotwayHandle {
    let mut config = slotway::Config::with_seeds(cluster.addrs());
    config.refresh_interval_s = 3600;
    start_slotway_with(config)
}

fn set_all(addr: &str, keys: &[String], value: impl Fn(&str) -> String) {
    let sets: Vec<Cmd> = keys.iter().map(|k| cmd(["SET", k, &value(k)])).collect();
    for (k, r) in keys.iter().zip(pipeline(addr, &sets)) {
        assert_eq!(r, Value::ok(), "SET {k} via {addr}");
    }
}

fn assert_values(addr: &str, keys: &[String], value: impl Fn(&str) -> String) {
    let gets: Vec<Cmd> = keys.iter().map(|k| cmd(["GET", k])).collect();
    for (k, r) in keys.iter().zip(pipeline(addr, &gets)) {
        assert_eq!(r, Value::bulk(&value(k)), "GET {k} via {addr}");
    }
}

/// `ASKING` then `GET key` on one connection: a read on the importing node.
fn asking_get(node: &str, key: &str) -> Value {
    let mut conn: RawConn = connect(node);
    assert_eq!(conn.cmd(&["ASKING"]), Value::ok());
    conn.cmd(&["GET", key])
}

#[test]
fn moved_slots_are_followed_and_the_data_is_on_the_new_owner() {
    let cluster = TestCluster::start();
    let proxy = stale_slotway(&cluster);
    let (slot, src, dst) = slot_and_nodes(&cluster, "{moved}");
    let keys = tagged_keys("moved", 50);
    let v1 = |k: &str| format!("first value of {k}");
    set_all(&proxy.addr, &keys, v1);
    assert_values(&proxy.addr, &keys, v1);

    start_migration(slot, &src, &dst);
    migrate_keys(&src, &dst, &keys);
    finish_migration(&cluster, slot, &src, &dst);
    assert_eq!(slot_owners(&dst)[slot as usize], dst, "the new owner knows it owns slot {slot}");
    assert_eq!(
        connect(&src).cmd(&["GET", &keys[0]]),
        Value::Error(format!("MOVED {slot} {dst}")),
        "the old owner redirects now"
    );

    // One pipeline through slotway, all of it sent while slotway still believes `src`
    // owns the slot: every GET is redirected, followed, and answered in order.
    let mut mixed = Vec::new();
    let mut want = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        mixed.push(cmd(["GET", k]));
        want.push(Value::bulk(&v1(k)));
        if i % 5 == 0 {
            mixed.push(cmd(["SET", k, &format!("second value of {k}")]));
            want.push(Value::ok());
            mixed.push(cmd(["GET", k]));
            want.push(Value::bulk(&format!("second value of {k}")));
        }
    }
    let got = pipeline(&proxy.addr, &mixed);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "reply {i} to {:?}", String::from_utf8_lossy(&mixed[i][1]));
    }

    // New keys in the moved slot, written and read through slotway.
    let new_keys: Vec<String> = (0..10).map(|i| format!("{{moved}}:new:{i}")).collect();
    let v3 = |k: &str| format!("written after the move: {k}");
    set_all(&proxy.addr, &new_keys, v3);
    assert_values(&proxy.addr, &new_keys, v3);

    // The data really is on the new owner, and no longer on the old one.
    let mut dst_conn = connect(&dst);
    for (i, k) in keys.iter().enumerate() {
        let want = if i % 5 == 0 { format!("second value of {k}") } else { v1(k) };
        assert_eq!(dst_conn.cmd(&["GET", k]), Value::bulk(&want), "{k} on the new owner {dst}");
    }
    for k in &new_keys {
        assert_eq!(dst_conn.cmd(&["GET", k]), Value::bulk(&v3(k)), "{k} on the new owner {dst}");
    }
    assert_eq!(
        connect(&src).cmd(&["CLUSTER", "COUNTKEYSINSLOT", &slot.to_string()]),
        Value::Int(0),
        "the old owner {src} keeps nothing of slot {slot}"
    );
    assert_eq!(
        dst_conn.cmd(&["CLUSTER", "COUNTKEYSINSLOT", &slot.to_string()]),
        Value::Int((keys.len() + new_keys.len()) as i64)
    );
}

#[test]
fn ask_redirects_during_a_migration_are_followed() {
    let cluster = TestCluster::start();
    let proxy = stale_slotway(&cluster);
    let (slot, src, dst) = slot_and_nodes(&cluster, "{asking}");
    let keys = tagged_keys("asking", 20);
    let (moved, staying) = keys.split_at(10);
    let v1 = |k: &str| format!("value of {k}");
    set_all(&proxy.addr, &keys, v1);

    start_migration(slot, &src, &dst);
    migrate_keys(&src, &dst, moved);
    // The nodes are mid-migration: the source answers ASK for what it no longer has.
    assert_eq!(connect(&src).cmd(&["GET", &moved[0]]), Value::Error(format!("ASK {slot} {dst}")));
    assert_eq!(connect(&src).cmd(&["GET", &staying[0]]), Value::bulk(&v1(&staying[0])));

    // A migrated key (via ASK) and one not yet migrated (served by the source).
    let mut client = connect(&proxy.addr);
    assert_eq!(client.cmd(&["GET", &moved[0]]), Value::bulk(&v1(&moved[0])), "migrated key");
    assert_eq!(client.cmd(&["GET", &staying[0]]), Value::bulk(&v1(&staying[0])), "key still on the source");
    // All of them in one pipeline, interleaved: answers stay in order.
    assert_values(&proxy.addr, &keys, v1);

    // A new key in the migrating slot: the source answers ASK, so it is created on
    // the importing node, and read back from there.
    let fresh = "{asking}:fresh";
    assert_eq!(client.cmd(&["SET", fresh, "created during the migration"]), Value::ok());
    assert_eq!(client.cmd(&["GET", fresh]), Value::bulk("created during the migration"));
    assert_eq!(asking_get(&dst, fresh), Value::bulk("created during the migration"), "created on {dst}");
    let Value::Array(on_src) = connect(&src).cmd(&["CLUSTER", "GETKEYSINSLOT", &slot.to_string(), "1000"]) else {
        panic!("CLUSTER GETKEYSINSLOT on {src}");
    };
    assert!(!on_src.contains(&Value::bulk(fresh)), "{fresh} created on the source {src}: {on_src:?}");
    assert_eq!(on_src.len(), staying.len(), "the source {src} holds just the keys not migrated yet");

    // Overwriting a migrated key goes to its new place too.
    assert_eq!(client.cmd(&["SET", &moved[1], "overwritten"]), Value::ok());
    assert_eq!(client.cmd(&["GET", &moved[1]]), Value::bulk("overwritten"));
    assert_eq!(asking_get(&dst, &moved[1]), Value::bulk("overwritten"));

    // Finishing the migration turns the ASKs into MOVEDs, still invisible to clients.
    migrate_keys(&src, &dst, staying);
    finish_migration(&cluster, slot, &src, &dst);
    let want = |k: &str| if k == moved[1] { "overwritten".to_string() } else { v1(k) };
    assert_values(&proxy.addr, &keys, want);
    assert_eq!(client.cmd(&["GET", fresh]), Value::bulk("created during the migration"));
    let mut dst_conn = connect(&dst);
    for k in &keys {
        assert_eq!(dst_conn.cmd(&["GET", k]), Value::bulk(&want(k)), "{k} on {dst}");
    }
}
