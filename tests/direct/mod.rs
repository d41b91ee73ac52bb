//! Asking the cluster itself, for the fan-out, scan, script, cluster-client and RESP3
//! tests: slots and owners as the nodes report them (never slotway's arithmetic),
//! large pipelines that cannot deadlock, and keys chosen to land on every primary.

// Each test file uses only part of this module.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::support::{TestCluster, Value, connect, parse_reply};

/// One command as its arguments.
pub type Cmd = Vec<Vec<u8>>;

/// A command from anything byte-like: `cmd(["SET", "k", "v"])`.
pub fn cmd<I, A>(args: I) -> Cmd
where
    I: IntoIterator<Item = A>,
    A: AsRef<[u8]>,
{
    args.into_iter().map(|a| a.as_ref().to_vec()).collect()
}

/// RESP multibulk encoding of one command.
pub fn encode(args: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Every command in one write on a fresh connection, replies in arrival order. A
/// writer thread sends while this one reads: a server that stops reading until its
/// replies are read (slotway's pipeline limit) cannot deadlock the test.
pub fn pipeline(addr: &str, cmds: &[Cmd]) -> Vec<Value> {
    let mut wire = Vec::with_capacity(cmds.len() * 32);
    for c in cmds {
        wire.extend_from_slice(&encode(c));
    }
    let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    stream.set_nodelay(true).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let writing = std::thread::spawn(move || writer.write_all(&wire));
    let mut reader = BufReader::with_capacity(64 * 1024, stream);
    let n = cmds.len();
    let out = (0..n)
        .map(|i| parse_reply(&mut reader).unwrap_or_else(|e| panic!("{addr}: reply {i} of {n}: {e}")))
        .collect();
    writing.join().expect("writer thread").expect("write pipeline");
    out
}

/// The integer of an integer reply.
pub fn int(v: &Value) -> i64 {
    match v {
        Value::Int(n) => *n,
        other => panic!("expected an integer, got {other:?}"),
    }
}

/// The bytes of a bulk string reply.
pub fn bulk(v: &Value) -> Vec<u8> {
    match v {
        Value::Bulk(b) => b.clone(),
        other => panic!("expected a bulk string, got {other:?}"),
    }
}

/// The elements of an array reply.
pub fn array(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items.clone(),
        other => panic!("expected an array, got {other:?}"),
    }
}

/// A bulk string reply as text.
pub fn text(v: &Value) -> String {
    String::from_utf8(bulk(v)).expect("UTF-8 reply")
}

/// `CLUSTER KEYSLOT` of each key, asked of a real node in one pipeline.
pub fn keyslots(node: &str, keys: &[Vec<u8>]) -> Vec<u16> {
    let cmds: Vec<Cmd> = keys.iter().map(|k| cmd([&b"CLUSTER"[..], b"KEYSLOT", k])).collect();
    pipeline(node, &cmds).iter().map(|v| int(v) as u16).collect()
}

pub fn keyslot(node: &str, key: &str) -> u16 {
    keyslots(node, &[key.as_bytes().to_vec()])[0]
}

/// Owner ("ip:port") of every slot, from `CLUSTER SLOTS` on a real node.
pub fn slot_owners(node: &str) -> Vec<String> {
    let mut owners = vec![String::new(); 16384];
    for range in array(&connect(node).cmd(&["CLUSTER", "SLOTS"])) {
        let fields = array(&range);
        let primary = array(&fields[2]);
        let addr = format!("{}:{}", text(&primary[0]), int(&primary[1]));
        for s in int(&fields[0])..=int(&fields[1]) {
            owners[s as usize] = addr.clone();
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
    let mut used_slots = std::collections::HashSet::new();
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

/// `GET key` on the primary that owns it.
pub fn get_on_owner(node: &str, key: &str) -> Value {
    let owner = &owners_of(node, &[key.to_string()])[0];
    connect(owner).cmd(&["GET", key])
}

/// `DBSIZE` of each primary, straight from the nodes.
pub fn dbsizes(cluster: &TestCluster) -> Vec<(String, i64)> {
    cluster.primaries().into_iter().map(|p| {
        let n = int(&connect(&p).cmd(&["DBSIZE"]));
        (p, n)
    }).collect()
}

/// Runs a command on a node and insists on `+OK`.
pub fn admin_ok(addr: &str, args: &[&str]) {
    assert_eq!(connect(addr).cmd(args), Value::ok(), "{args:?} on {addr}");
}
