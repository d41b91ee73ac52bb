//! RESP3 after `HELLO 3`: every reply a client gets through slotway is, byte for
//! byte, what the owning node sends a RESP3 client for the same command; `HELLO 2`
//! switches back; RESP2 is the default. Replies are compared as raw bytes, framed
//! by the RESP3 framer in `support` (independent of slotway's own).

mod support;

use support::{RawBytesConn, TestCluster, Value, cmd, owners_of, pipeline, start_slotway};

fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts slotway's reply equals the owner's for the same command, and starts with `kind`.
fn same_bytes(proxy: &mut RawBytesConn, node: &mut RawBytesConn, args: &[&str], kind: u8) -> Vec<u8> {
    let (got, want) = (proxy.cmd(args), node.cmd(args));
    assert_eq!(show(&got), show(&want), "{args:?}: slotway vs the owning node");
    assert_eq!(got[0], kind, "{args:?}: reply type {:?}, want {:?}", got[0] as char, kind as char);
    got
}

#[test]
fn resp3_replies_are_the_nodes_own_bytes_and_hello_2_switches_back() {
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());
    let seed = cluster.seed();

    // The data, written through slotway in RESP2.
    let setup = [
        cmd(["HSET", "r3:hash", "f1", "v1", "f2", "v2", "f3", "3"]),
        cmd(["SADD", "r3:set", "a", "b", "c"]),
        cmd(["ZADD", "r3:zset", "1.5", "m", "2", "n"]),
        cmd(["SET", "r3:counter", "10"]),
        cmd(["RPUSH", "r3:list", "x", "y"]),
    ];
    for r in pipeline(&proxy.addr, &setup) {
        assert!(matches!(r, Value::Int(_) | Value::Simple(_)), "{r:?}");
    }
    let keys: Vec<String> =
        ["r3:hash", "r3:missing", "r3:set", "r3:zset", "r3:counter", "r3:list"].map(String::from).into();
    let owners = owners_of(&seed, &keys);
    let owner = |key: &str| owners[keys.iter().position(|k| k == key).unwrap()].clone();
    assert!(
        owners.iter().collect::<std::collections::HashSet<_>>().len() >= 2,
        "keys on several primaries: {owners:?}"
    );

    // HELLO 3: a map with proto 3, shaped like a node's.
    let mut p = RawBytesConn::connect(&proxy.addr);
    let hello = p.cmd(&["HELLO", "3"]);
    let mut n = RawBytesConn::connect(&seed);
    let node_hello = n.cmd(&["HELLO", "3"]);
    assert!(hello.starts_with(b"%7\r\n"), "HELLO 3 through slotway: {}", show(&hello));
    assert!(node_hello.starts_with(b"%7\r\n"), "HELLO 3 on a node: {}", show(&node_hello));
    assert!(show(&hello).contains("$5\r\nproto\r\n:3\r\n"), "{}", show(&hello));
    for key in ["server", "version", "proto", "id", "mode", "role", "modules"] {
        let needle = format!("${}\r\n{key}\r\n", key.len());
        let at = |h: &[u8]| show(h).find(&needle);
        assert!(at(&hello).is_some() && at(&node_hello).is_some(), "HELLO field {key}");
    }

    // One RESP3 connection per owner, to get the node's own bytes.
    let node_conn = |key: &str| {
        let mut c = RawBytesConn::connect(&owner(key));
        assert!(c.cmd(&["HELLO", "3"]).starts_with(b"%"));
        c
    };
    same_bytes(&mut p, &mut node_conn("r3:hash"), &["HGETALL", "r3:hash"], b'%');
    same_bytes(&mut p, &mut node_conn("r3:missing"), &["GET", "r3:missing"], b'_');
    assert_eq!(p.cmd(&["GET", "r3:missing"]), b"_\r\n");
    same_bytes(&mut p, &mut node_conn("r3:set"), &["SMEMBERS", "r3:set"], b'~');
    same_bytes(&mut p, &mut node_conn("r3:zset"), &["ZSCORE", "r3:zset", "m"], b',');
    same_bytes(&mut p, &mut node_conn("r3:zset"), &["ZRANGE", "r3:zset", "0", "-1", "WITHSCORES"], b'*');
    // A write answers once: undo slotway's INCR on the node, then let the node do it.
    let got = p.cmd(&["INCR", "r3:counter"]);
    let mut counter_owner = node_conn("r3:counter");
    assert_eq!(counter_owner.cmd(&["DECR", "r3:counter"]), b":10\r\n");
    assert_eq!(show(&got), show(&counter_owner.cmd(&["INCR", "r3:counter"])), "INCR: slotway vs the owning node");
    assert_eq!(got, b":11\r\n");
    same_bytes(&mut p, &mut node_conn("r3:hash"), &["HEXISTS", "r3:hash", "f1"], b':');
    same_bytes(&mut p, &mut node_conn("r3:list"), &["LPOS", "r3:list", "nope"], b'_');
    same_bytes(&mut p, &mut node_conn("r3:hash"), &["HGET", "r3:hash", "nope"], b'_');
    same_bytes(&mut p, &mut node_conn("r3:set"), &["SADD", "r3:set", "a"], b':');
    same_bytes(&mut p, &mut node_conn("r3:hash"), &["CONFIG", "GET", "maxmemory-policy"], b'%');
    same_bytes(&mut p, &mut node_conn("r3:zset"), &["HGETALL", "r3:zset"], b'-');

    // MGET across slots: an array holding each owner's own RESP3 reply for its key.
    let mget_keys = ["r3:counter", "r3:missing", "r3:list", "r3:nothing", "r3:counter"];
    for k in ["r3:a", "r3:b", "r3:c"] {
        assert_eq!(p.cmd(&["SET", k, k]), b"+OK\r\n");
    }
    let mget_keys: Vec<&str> = mget_keys.iter().copied().chain(["r3:a", "r3:b", "r3:c"]).collect();
    let mget_owners = owners_of(&seed, &mget_keys.iter().map(|k| k.to_string()).collect::<Vec<_>>());
    assert!(mget_owners.iter().collect::<std::collections::HashSet<_>>().len() == 3, "MGET keys on every primary");
    let mut want = format!("*{}\r\n", mget_keys.len()).into_bytes();
    for (k, o) in mget_keys.iter().zip(&mget_owners) {
        let mut c = RawBytesConn::connect(o);
        c.cmd(&["HELLO", "3"]);
        // GET on a list is an error; MGET gives null for a key of another type.
        let single = c.cmd(&["GET", k]);
        want.extend(if single.starts_with(b"-") { b"_\r\n".to_vec() } else { single });
    }
    let mut args = vec!["MGET"];
    args.extend(&mget_keys);
    let got = p.cmd(&args);
    assert_eq!(show(&got), show(&want), "MGET across slots in RESP3");
    assert!(show(&got).contains("_\r\n") && !show(&got).contains("$-1"));

    // Merged replies stay valid RESP3: sums, nulls, arrays.
    assert_eq!(p.cmd(&["EXISTS", "r3:a", "r3:b", "r3:c", "r3:missing"]), b":3\r\n");
    assert_eq!(p.cmd(&["DEL", "r3:a", "r3:b", "r3:c"]), b":3\r\n");
    assert_eq!(p.cmd(&["CLIENT", "GETNAME"]), n.cmd(&["CLIENT", "GETNAME"]), "a local null");
    let info = p.cmd(&["CLUSTER", "INFO"]);
    assert!(info.starts_with(b"=") && n.cmd(&["CLUSTER", "INFO"]).starts_with(b"="), "verbatim CLUSTER INFO");

    // HELLO 2: back to RESP2, on slotway as on a node.
    let hello2 = p.cmd(&["HELLO", "2"]);
    assert!(hello2.starts_with(b"*14\r\n"), "{}", show(&hello2));
    assert!(n.cmd(&["HELLO", "2"]).starts_with(b"*14\r\n"));
    assert_eq!(p.cmd(&["GET", "r3:missing"]), b"$-1\r\n");
    let mut hash_owner = RawBytesConn::connect(&owner("r3:hash"));
    same_bytes(&mut p, &mut hash_owner, &["HGETALL", "r3:hash"], b'*');
    let mut zset_owner = RawBytesConn::connect(&owner("r3:zset"));
    same_bytes(&mut p, &mut zset_owner, &["ZSCORE", "r3:zset", "m"], b'$');
    let mut args = vec!["MGET"];
    args.extend(["r3:counter", "r3:missing", "r3:list"]);
    let got = show(&p.cmd(&args));
    assert!(got.starts_with("*3\r\n") && got.contains("$-1\r\n") && !got.contains("_\r\n"), "{got}");
}

#[test]
fn resp2_is_the_default() {
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());
    let seed = cluster.seed();
    let mut p = RawBytesConn::connect(&proxy.addr);

    // An empty cluster: RANDOMKEY's null, then data.
    assert_eq!(p.cmd(&["RANDOMKEY"]), RawBytesConn::connect(&seed).cmd(&["RANDOMKEY"]));
    assert_eq!(p.cmd(&["RANDOMKEY"]), b"$-1\r\n");
    assert_eq!(p.cmd(&["HSET", "d:hash", "a", "1", "b", "2"]), b":2\r\n");
    assert_eq!(p.cmd(&["ZADD", "d:zset", "2.5", "m"]), b":1\r\n");
    let owners = owners_of(&seed, &["d:hash".into(), "d:missing".into(), "d:zset".into()]);
    same_bytes(&mut p, &mut RawBytesConn::connect(&owners[0]), &["HGETALL", "d:hash"], b'*');
    same_bytes(&mut p, &mut RawBytesConn::connect(&owners[1]), &["GET", "d:missing"], b'$');
    same_bytes(&mut p, &mut RawBytesConn::connect(&owners[2]), &["ZSCORE", "d:zset", "m"], b'$');
    assert_eq!(p.cmd(&["GET", "d:missing"]), b"$-1\r\n");
    assert_eq!(p.cmd(&["MGET", "d:missing", "d:other"]), b"*2\r\n$-1\r\n$-1\r\n");
    let hello = p.cmd(&["HELLO"]);
    assert!(hello.starts_with(b"*14\r\n") && show(&hello).contains("$5\r\nproto\r\n:2\r\n"), "{}", show(&hello));

    // In RESP3, the empty-cluster RANDOMKEY null is RESP3's, as a node's is.
    assert_eq!(p.cmd(&["FLUSHALL"]), b"+OK\r\n");
    assert!(p.cmd(&["HELLO", "3"]).starts_with(b"%7\r\n"));
    let mut node = RawBytesConn::connect(&seed);
    node.cmd(&["HELLO", "3"]);
    assert_eq!(p.cmd(&["RANDOMKEY"]), node.cmd(&["RANDOMKEY"]));
    assert_eq!(p.cmd(&["RANDOMKEY"]), b"_\r\n");
}
