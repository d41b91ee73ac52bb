//! Slots as the cluster itself reports them, asked of a node directly (never of
//! slotway), so the tests do not grade slotway with its own arithmetic; keys chosen
//! to land on given primaries; and moving a slot behind slotway's back the way
//! redis-cli does.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::cluster::{TestCluster, port_of};
use super::direct::{Cmd, admin_ok, cmd, node_id, pipeline};
use super::resp::{Value, connect};

/// `CLUSTER KEYSLOT` of each key, asked of `node` in one pipeline.
pub fn keyslots(node: &str, keys: &[Vec<u8>]) -> Vec<u16> {
    let cmds: Vec<Cmd> = keys.iter().map(|k| cmd([&b"CLUSTER"[..], b"KEYSLOT", k])).collect();
    pipeline(node, &cmds)
        .into_iter()
        .map(|v| match v {
            Value::Int(s) => s as u16,
            other => panic!("CLUSTER KEYSLOT on {node}: {other:?}"),
        })
        .collect()
}

/// The slot of one key, asked of a real node.
pub fn keyslot(node: &str, key: &str) -> u16 {
    match connect(node).cmd(&["CLUSTER", "KEYSLOT", key]) {
        Value::Int(slot) => slot as u16,
        other => panic!("CLUSTER KEYSLOT {key} on {node}: {other:?}"),
    }
}

/// The primary that owns `key`'s slot now (per `CLUSTER NODES`).
pub fn key_owner(cluster: &TestCluster, key: &str) -> String {
    cluster.node_for_slot(keyslot(&cluster.seed(), key))
}

/// Owner ("ip:port") of every slot, from `CLUSTER SLOTS` on `node`.
pub fn slot_owners(node: &str) -> Vec<String> {
    let Value::Array(ranges) = connect(node).cmd(&["CLUSTER", "SLOTS"]) else {
        panic!("CLUSTER SLOTS on {node} is not an array");
    };
    let mut owners = vec![String::new(); 16384];
    for range in ranges {
        let Value::Array(fields) = range else { panic!("bad CLUSTER SLOTS entry {range:?}") };
        let (Value::Int(start), Value::Int(end), Value::Array(primary)) = (&fields[0], &fields[1], &fields[2]) else {
            panic!("bad CLUSTER SLOTS entry {fields:?}");
        };
        let (Some(ip), Value::Int(port)) = (primary[0].text(), &primary[1]) else {
            panic!("bad CLUSTER SLOTS node {primary:?}");
        };
        for s in *start..=*end {
            owners[s as usize] = format!("{ip}:{port}");
        }
    }
    assert!(owners.iter().all(|o| !o.is_empty()), "CLUSTER SLOTS on {node} leaves slots unowned");
    owners
}

/// The primary owning each key, per the cluster.
pub fn owners_of(node: &str, keys: &[String]) -> Vec<String> {
    let owners = slot_owners(node);
    let raw: Vec<Vec<u8>> = keys.iter().map(|k| k.as_bytes().to_vec()).collect();
    keyslots(node, &raw).into_iter().map(|s| owners[s as usize].clone()).collect()
}

/// `GET key` on the primary that owns it.
pub fn get_on_owner(node: &str, key: &str) -> Value {
    let owner = &owners_of(node, &[key.to_string()])[0];
    connect(owner).cmd(&["GET", key])
}

/// `GET` of each key, read straight from the primary that owns its slot (per
/// `CLUSTER SLOTS` on `node`), one pipeline per primary; replies in key order.
pub fn get_from_owners(node: &str, keys: &[Vec<u8>]) -> Vec<(String, Value)> {
    let owners = slot_owners(node);
    let slots = keyslots(node, keys);
    let mut by_owner: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, &slot) in slots.iter().enumerate() {
        by_owner.entry(owners[slot as usize].as_str()).or_default().push(i);
    }
    let mut out = vec![(String::new(), Value::Nil); keys.len()];
    for (owner, idx) in by_owner {
        let gets: Vec<Cmd> = idx.iter().map(|&i| cmd([&b"GET"[..], &keys[i]])).collect();
        for (&i, reply) in idx.iter().zip(pipeline(owner, &gets)) {
            out[i] = (owner.to_string(), reply);
        }
    }
    out
}

/// `per_primary` keys `{prefix}{n}` on each primary, each in a slot of its own,
/// interleaved across primaries; with the owner of each.
pub fn spread_keys(cluster: &TestCluster, prefix: &str, per_primary: usize) -> Vec<(String, String)> {
    let primaries = cluster.primaries();
    let candidates: Vec<String> = (0..200 * per_primary.max(1)).map(|i| format!("{prefix}{i}")).collect();
    let raw: Vec<Vec<u8>> = candidates.iter().map(|k| k.as_bytes().to_vec()).collect();
    let seed = cluster.seed();
    let owners = slot_owners(&seed);
    let slots = keyslots(&seed, &raw);
    let mut by_owner: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    let mut used_slots = HashSet::new();
    for (i, &slot) in slots.iter().enumerate() {
        let list = by_owner.entry(&owners[slot as usize]).or_default();
        if list.len() < per_primary && used_slots.insert(slot) {
            list.push(i);
        }
    }
    assert_eq!(by_owner.len(), primaries.len(), "candidate keys reach every primary");
    let mut out = Vec::new();
    for round in 0..per_primary {
        for (owner, list) in &by_owner {
            let i = *list.get(round).unwrap_or_else(|| panic!("not enough keys for {owner}"));
            out.push((candidates[i].clone(), owner.to_string()));
        }
    }
    out
}

/// `n` distinct keys sharing the hash tag `tag`, so they all live in one slot.
pub fn tagged_keys(tag: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{{{tag}}}:key:{i}")).collect()
}

/// The slot of `key`, its owner, and another primary to move it to.
pub fn slot_and_nodes(cluster: &TestCluster, key: &str) -> (u16, String, String) {
    let slot = keyslot(&cluster.seed(), key);
    let src = cluster.node_for_slot(slot);
    let dst = cluster.primaries().into_iter().find(|p| *p != src).expect("a second primary");
    (slot, src, dst)
}

/// `CLUSTER SETSLOT IMPORTING` on `dst`, then `MIGRATING` on `src`.
pub fn start_migration(slot: u16, src: &str, dst: &str) {
    let s = slot.to_string();
    admin_ok(dst, &["CLUSTER", "SETSLOT", &s, "IMPORTING", &node_id(src)]);
    admin_ok(src, &["CLUSTER", "SETSLOT", &s, "MIGRATING", &node_id(dst)]);
}

/// `MIGRATE ... KEYS` of `keys` from `src` to `dst`.
pub fn migrate_keys(src: &str, dst: &str, keys: &[impl AsRef<str>]) {
    let mut args = vec!["MIGRATE", "127.0.0.1", port_of(dst), "", "0", "5000", "KEYS"];
    args.extend(keys.iter().map(AsRef::as_ref));
    admin_ok(src, &args);
}

/// `SETSLOT NODE` on every primary, the new owner first (the order redis-cli uses).
pub fn finish_migration(cluster: &TestCluster, slot: u16, src: &str, dst: &str) {
    let s = slot.to_string();
    let dst_id = node_id(dst);
    admin_ok(dst, &["CLUSTER", "SETSLOT", &s, "NODE", &dst_id]);
    admin_ok(src, &["CLUSTER", "SETSLOT", &s, "NODE", &dst_id]);
    for p in cluster.primaries().iter().filter(|p| **p != src && **p != dst) {
        admin_ok(p, &["CLUSTER", "SETSLOT", &s, "NODE", &dst_id]);
    }
}

/// Moves `slot` with its `keys` from `src` to `dst` the way redis-cli does, without
/// telling slotway: IMPORTING/MIGRATING, MIGRATE (if there are keys), then SETSLOT
/// NODE on every primary.
pub fn move_slot(cluster: &TestCluster, slot: u16, src: &str, dst: &str, keys: &[&str]) {
    start_migration(slot, src, dst);
    if !keys.is_empty() {
        migrate_keys(src, dst, keys);
    }
    finish_migration(cluster, slot, src, dst);
}
