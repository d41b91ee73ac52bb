//! Asking servers directly, with no client library in between: commands built from
//! anything byte-like, large pipelines that cannot deadlock, typed views of replies,
//! and a few node administration helpers.

use std::collections::HashMap;
use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::cluster::TestCluster;
use super::resp::{Value, connect, encode, parse_reply};

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

/// Sends every command of `cmds` to `addr` with one `write_all` on a fresh
/// connection, and returns the replies in the order they arrived.
pub fn pipeline(addr: &str, cmds: &[Cmd]) -> Vec<Value> {
    let mut wire = Vec::with_capacity(cmds.len() * 32);
    for c in cmds {
        wire.extend_from_slice(&encode(c));
    }
    pipeline_raw(addr, wire, cmds.len())
}

/// [`pipeline_raw_within`] with a generous read timeout of 60 s: a hung server must
/// fail the test, a slow CI machine must not.
pub fn pipeline_raw(addr: &str, wire: Vec<u8>, replies: usize) -> Vec<Value> {
    pipeline_raw_within(addr, wire, replies, Duration::from_secs(60))
}

/// Writes `wire` in one `write_all` from a writer thread while this thread reads
/// `replies` replies, each within `read_timeout`: a server that stops reading until
/// its replies are read (slotway's pipeline limit) cannot deadlock the test.
pub fn pipeline_raw_within(addr: &str, wire: Vec<u8>, replies: usize, read_timeout: Duration) -> Vec<Value> {
    let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    stream.set_read_timeout(Some(read_timeout)).unwrap();
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

/// Runs a command on a node and insists on `+OK`.
pub fn admin_ok(addr: &str, args: &[&str]) {
    assert_eq!(connect(addr).cmd(args), Value::ok(), "{args:?} on {addr}");
}

/// Node id ("40 hex") of `addr`, from `CLUSTER MYID`.
pub fn node_id(addr: &str) -> String {
    myid(connect(addr), addr)
}

/// `CLUSTER MYID` over `conn`, a connection to `addr`.
pub(super) fn myid(mut conn: super::resp::RawConn, addr: &str) -> String {
    match conn.cmd(&["CLUSTER", "MYID"]) {
        Value::Bulk(id) => String::from_utf8(id).expect("node id is ASCII"),
        other => panic!("CLUSTER MYID on {addr}: {other:?}"),
    }
}

/// `DBSIZE` of each primary, straight from the nodes.
pub fn dbsizes(cluster: &TestCluster) -> Vec<(String, i64)> {
    cluster
        .primaries()
        .into_iter()
        .map(|p| {
            let n = int(&connect(&p).cmd(&["DBSIZE"]));
            (p, n)
        })
        .collect()
}

/// `field=value` pairs of each `CLIENT LIST` line of `node`.
pub fn client_list(node: &str) -> Vec<HashMap<String, String>> {
    let text = connect(node).cmd(&["CLIENT", "LIST"]).text().expect("CLIENT LIST is text");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.split_whitespace()
                .filter_map(|f| f.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}
