//! Helpers shared by the routing, redirect, command and bad-input tests, on top of
//! `tests/support` (which belongs to the harness and is not edited here).
//!
//! - [`pipeline`]: many commands in one write, replies read concurrently, so a large
//!   pipeline can never deadlock on full socket buffers.
//! - [`slot_owners`] / [`keyslots`]: what the cluster itself says about slots, asked
//!   of a node directly (never of slotway), so the tests do not grade slotway with
//!   its own arithmetic.
//! - [`expect_error_then_eof`]: the "error reply, then the connection closes" check
//!   Redis applies to malformed input.

// Each test file uses only part of this module.
#![allow(dead_code)]

use std::io::{BufReader, ErrorKind, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::support::{RawConn, Value, connect, parse_reply};

/// One command as its arguments.
pub type Cmd = Vec<Vec<u8>>;

/// Builds a command from anything byte-like: `cmd(["SET", "k", "v"])`.
pub fn cmd<I, A>(args: I) -> Cmd
where
    I: IntoIterator<Item = A>,
    A: AsRef<[u8]>,
{
    args.into_iter().map(|a| a.as_ref().to_vec()).collect()
}

/// RESP multibulk encoding of one command, as a client sends it.
pub fn encode(args: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Sends every command of `cmds` to `addr` with one `write_all` on a fresh
/// connection, and returns the replies in the order they arrived.
pub fn pipeline(addr: &str, cmds: &[Cmd]) -> Vec<Value> {
    let mut wire = Vec::with_capacity(cmds.len() * 32);
    for c in cmds {
        wire.extend_from_slice(&encode(c));
    }
    pipeline_raw(addr, wire, cmds.len())
}

/// Writes `wire` in one `write_all` from a writer thread while this thread reads
/// `replies` replies: the server may stop reading until its replies are read.
pub fn pipeline_raw(addr: &str, wire: Vec<u8>, replies: usize) -> Vec<Value> {
    let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    // Generous: a hung server must fail the test, a slow CI machine must not.
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    stream.set_nodelay(true).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let writing = std::thread::spawn(move || writer.write_all(&wire));
    let mut reader = BufReader::with_capacity(64 * 1024, stream);
    let out = (0..replies)
        .map(|i| parse_reply(&mut reader).unwrap_or_else(|e| panic!("{addr}: reply {i} of {replies}: {e}")))
        .collect();
    writing.join().expect("writer thread").expect("write pipeline");
    out
}

/// `CLUSTER KEYSLOT` of each key, asked of `node` (a real cluster node) in one pipeline.
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
    keyslots(node, &[key.as_bytes().to_vec()])[0]
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

/// `GET` of each key, read straight from the primary that owns its slot (per
/// `CLUSTER SLOTS` on `node`), one pipeline per primary; replies in key order.
pub fn get_from_owners(node: &str, keys: &[Vec<u8>]) -> Vec<(String, Value)> {
    let owners = slot_owners(node);
    let slots = keyslots(node, keys);
    let mut by_owner: std::collections::HashMap<&str, Vec<usize>> = std::collections::HashMap::new();
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

/// Asserts the next read on `conn` finds the connection closed cleanly (EOF), not a
/// reply, a reset or a timeout.
pub fn expect_eof(conn: &mut RawConn, what: &str) {
    match conn.try_read_reply() {
        Err(e) if e.kind() == ErrorKind::UnexpectedEof => {}
        Err(e) => panic!("{what}: expected EOF, got error {e} ({:?})", e.kind()),
        Ok(v) => panic!("{what}: expected EOF, got another reply {v:?}"),
    }
}

/// Sends `bytes` on a new connection to `addr`; expects one error reply and then EOF.
/// Returns the error text (without the leading `-`).
pub fn expect_error_then_eof(addr: &str, bytes: &[u8], what: &str) -> String {
    let mut conn = connect(addr);
    conn.send(bytes);
    let reply = conn.try_read_reply().unwrap_or_else(|e| panic!("{what} on {addr}: no reply: {e}"));
    let Value::Error(text) = reply else { panic!("{what} on {addr}: expected an error, got {reply:?}") };
    expect_eof(&mut conn, &format!("{what} on {addr}"));
    text
}

/// Values of a reply that must be a bulk string.
pub fn bulk(v: &Value) -> &[u8] {
    match v {
        Value::Bulk(b) => b,
        other => panic!("expected a bulk string, got {other:?}"),
    }
}

/// Node id ("40 hex") of `addr`, asked with a raw connection.
pub fn node_id(addr: &str) -> String {
    bulk(&connect(addr).cmd(&["CLUSTER", "MYID"])).iter().map(|&b| b as char).collect()
}

/// Runs a command on a node and insists on `+OK`.
pub fn admin_ok(addr: &str, args: &[&str]) {
    let reply = connect(addr).cmd(args);
    assert_eq!(reply, Value::ok(), "{args:?} on {addr}");
}

/// Resident memory of this process in KiB (slotway runs in-process in these tests).
pub fn vm_rss_kib() -> u64 {
    proc_status_kib("VmRSS")
}

/// Virtual memory of this process in KiB: catches buffers reserved but not touched
/// yet, which resident memory does not show.
pub fn vm_size_kib() -> u64 {
    proc_status_kib("VmSize")
}

fn proc_status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"))
}

/// `n` distinct keys sharing the hash tag `tag`, so they all live in one slot.
pub fn tagged_keys(tag: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{{{tag}}}:key:{i}")).collect()
}
