//! Commands a client sees answered as by one Redis server: the ones slotway answers
//! itself, Redis's error texts, inline commands, and multi-key rules.
//! Where Redis has an answer, it is asked too and the two must be identical.

mod support;

use support::{
    RawBytesConn, TestCluster, Value, connect, expect_eof, get_from_owners, pipeline_raw, spread_keys, start_slotway,
};

/// The same commands on one connection to slotway and one to a real node.
fn both(proxy: &str, node: &str, cmds: &[&[&str]]) -> Vec<(Value, Value)> {
    let (mut p, mut n) = (connect(proxy), connect(node));
    cmds.iter().map(|c| (p.cmd(c), n.cmd(c))).collect()
}

#[test]
fn local_commands_and_errors_match_a_cluster_node() {
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());
    let node = cluster.seed();

    // Same answers, word for word, from slotway and from a node.
    let same: &[&[&str]] = &[
        &["PING"],
        &["PING", "hello there"],
        &["ping", ""],
        &["ECHO", "echo \r\n me"],
        &["SELECT", "0"],
        &["SELECT", "1"],
        &["SELECT", "x"],
        &["COMMAND", "COUNT"],
        &["foo", "a"],
        &["foo", "a", "b c", ""],
        &["FOO"],
        &["GET"],
        &["SET", "k"],
        &["ECHO"],
        &["PING", "a", "b"],
        &["CLIENT", "GETNAME"],
        &["CLIENT", "NOSUCHSUB"],
    ];
    for (c, (via_slotway, via_node)) in same.iter().zip(both(&proxy.addr, &node, same)) {
        assert_eq!(via_slotway, via_node, "{c:?}");
    }

    // And those answers are the ones a Redis Cluster client expects.
    let mut client = connect(&proxy.addr);
    assert_eq!(client.cmd(&["PING"]), Value::Simple("PONG".into()));
    assert_eq!(client.cmd(&["PING", "msg"]), Value::bulk("msg"));
    assert_eq!(client.cmd(&["ECHO", "hi"]), Value::bulk("hi"));
    assert_eq!(client.cmd(&["SELECT", "0"]), Value::ok());
    assert_eq!(client.cmd(&["SELECT", "1"]), Value::Error("ERR SELECT is not allowed in cluster mode".into()));
    assert_eq!(
        client.cmd(&["foo", "a"]),
        Value::Error("ERR unknown command 'foo', with args beginning with: 'a' ".into())
    );
    assert_eq!(client.cmd(&["GET"]), Value::Error("ERR wrong number of arguments for 'get' command".into()));
    assert_eq!(
        client.cmd(&["PING", "a", "b"]),
        Value::Error("ERR wrong number of arguments for 'ping' command".into())
    );
    // A node says CROSSSLOT here (it looks at the keys first); a single server, whose
    // answer slotway gives since it splits MSET, counts the arguments.
    assert_eq!(
        client.cmd(&["MSET", "a", "1", "b"]),
        Value::Error("ERR wrong number of arguments for 'mset' command".into())
    );
    let Value::Int(count) = client.cmd(&["COMMAND", "COUNT"]) else { panic!("COMMAND COUNT") };
    assert!(count > 200, "COMMAND COUNT {count}");

    // The client's name belongs to its connection.
    assert_eq!(client.cmd(&["CLIENT", "GETNAME"]), Value::Nil);
    assert_eq!(client.cmd(&["CLIENT", "SETNAME", "worker-1"]), Value::ok());
    assert_eq!(client.cmd(&["CLIENT", "GETNAME"]), Value::bulk("worker-1"));
    assert_eq!(connect(&proxy.addr).cmd(&["CLIENT", "GETNAME"]), Value::Nil, "another connection has no name");
    let bad_name = both(&proxy.addr, &node, &[&["CLIENT", "SETNAME", "has space"]]);
    assert_eq!(bad_name[0].0, bad_name[0].1, "CLIENT SETNAME with a space");
    assert!(bad_name[0].0.is_error());
    assert_eq!(client.cmd(&["CLIENT", "GETNAME"]), Value::bulk("worker-1"), "a refused name changes nothing");

    // QUIT: +OK, then the connection closes; on a node as on slotway.
    for addr in [&proxy.addr, &node] {
        let mut c = connect(addr);
        c.send(b"*1\r\n$4\r\nQUIT\r\n*1\r\n$4\r\nPING\r\n");
        assert_eq!(c.read_reply(), Value::ok(), "QUIT on {addr}");
        expect_eof(&mut c, &format!("after QUIT on {addr}"));
    }
    // Other clients are unaffected.
    assert_eq!(client.cmd(&["PING"]), Value::Simple("PONG".into()));
}

/// `MSET`/`MGET`/`DEL`/`EXISTS` across slots are split by slot and merged (as a
/// single Redis would answer them); commands that cannot be split without losing
/// atomicity (`MSETNX`, `RENAME`, `SINTERSTORE`, ...) get the cluster's `CROSSSLOT`
/// and change nothing.
#[test]
fn multi_key_commands_across_slots() {
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());
    let node = cluster.seed();
    let mut client = connect(&proxy.addr);
    let crossslot = Value::Error("CROSSSLOT Keys in request don't hash to the same slot".into());
    let bytes = |keys: &[&str]| keys.iter().map(|k| k.as_bytes().to_vec()).collect::<Vec<_>>();

    // "a", "b", "c" are in slots 15495, 3300, 7365: one per primary.
    let keys = ["a", "b", "c"];
    let owners: std::collections::HashSet<String> =
        get_from_owners(&node, &bytes(&keys)).into_iter().map(|(o, _)| o).collect();
    assert_eq!(owners.len(), 3, "the keys should live on three primaries");

    // Cannot be split: refused as a node refuses it, and nothing is written.
    for c in [
        &["MSETNX", "a", "1", "b", "2", "c", "3"][..],
        &["RENAME", "a", "b"],
        &["SINTERSTORE", "a", "b", "c"],
        &["RPOPLPUSH", "a", "b"],
        &["SMOVE", "a", "b", "m"],
    ] {
        assert_eq!(client.cmd(c), crossslot, "{c:?} via slotway");
        // A node checks slots before ownership, so any node answers the same.
        assert_eq!(connect(&node).cmd(c), crossslot, "{c:?} on a node");
    }
    for (k, (owner, v)) in keys.iter().zip(get_from_owners(&node, &bytes(&keys))) {
        assert_eq!(v, Value::Nil, "{k} on {owner} after refused cross-slot commands");
    }
    for p in cluster.primaries() {
        assert_eq!(connect(&p).cmd(&["DBSIZE"]), Value::Int(0), "DBSIZE on {p}");
    }

    // Splittable: the merged reply is what one Redis server gives.
    assert_eq!(client.cmd(&["MSET", "a", "1", "b", "2", "c", "3", "{a}x", "4"]), Value::ok());
    for (k, (owner, v)) in ["a", "b", "c", "{a}x"].iter().zip(get_from_owners(&node, &bytes(&["a", "b", "c", "{a}x"])))
    {
        let want = match *k {
            "a" => "1",
            "b" => "2",
            "c" => "3",
            _ => "4",
        };
        assert_eq!(v, Value::bulk(want), "{k} on its owner {owner}");
    }
    assert_eq!(
        client.cmd(&["MGET", "c", "nope", "a", "b", "{a}x", "a"]),
        Value::Array(vec![
            Value::bulk("3"),
            Value::Nil,
            Value::bulk("1"),
            Value::bulk("2"),
            Value::bulk("4"),
            Value::bulk("1")
        ])
    );
    assert_eq!(client.cmd(&["EXISTS", "a", "b", "nope", "a"]), Value::Int(3));
    assert_eq!(client.cmd(&["DBSIZE"]), Value::Int(4));
    assert_eq!(client.cmd(&["DEL", "a", "b", "nope"]), Value::Int(2));
    assert_eq!(client.cmd(&["MGET", "a", "b", "c"]), Value::Array(vec![Value::Nil, Value::Nil, Value::bulk("3")]));

    // Hash tags put keys in one slot: every multi-key command works on them.
    assert_eq!(client.cmd(&["MSET", "{user:7}:name", "Ada", "{user:7}:lang", "en", "{user:7}:n", "1"]), Value::ok());
    assert_eq!(
        client.cmd(&["MGET", "{user:7}:name", "{user:7}:lang", "{user:7}:missing"]),
        Value::Array(vec![Value::bulk("Ada"), Value::bulk("en"), Value::Nil])
    );
    assert_eq!(client.cmd(&["MSETNX", "{user:7}:x", "1", "{user:7}:name", "Bob"]), Value::Int(0));
    assert_eq!(client.cmd(&["RENAME", "{user:7}:n", "{user:7}:count"]), Value::ok());
    assert_eq!(client.cmd(&["EXISTS", "{user:7}:name", "{user:7}:count", "{user:7}:n"]), Value::Int(2));
    let owner = cluster.node_for_slot(support::keyslot(&node, "{user:7}"));
    assert_eq!(connect(&owner).cmd(&["GET", "{user:7}:name"]), Value::bulk("Ada"), "on the owner {owner}");
    assert_eq!(connect(&owner).cmd(&["GET", "{user:7}:count"]), Value::bulk("1"), "on the owner {owner}");
    // An odd MSET is an arity error, as on a node.
    let odd = ["MSET", "{user:7}:a", "1", "{user:7}:b"];
    assert_eq!(client.cmd(&odd), Value::Error("ERR wrong number of arguments for 'mset' command".into()));
    assert_eq!(client.cmd(&odd), connect(&node).cmd(&odd));
}

#[test]
fn inline_commands_from_a_telnet_like_client() {
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());

    let mut telnet = connect(&proxy.addr);
    telnet.send(b"PING\r\n");
    assert_eq!(telnet.read_reply(), Value::Simple("PONG".into()));
    telnet.send(b"SET greeting \"hello world\"\r\n");
    assert_eq!(telnet.read_reply(), Value::ok());
    telnet.send(b"GET greeting\r\n");
    assert_eq!(telnet.read_reply(), Value::bulk("hello world"));
    // A bare LF ends a line too, blank lines are skipped, quotes and escapes work.
    telnet.send(b"\r\n\nECHO 'single quoted' \n");
    assert_eq!(telnet.read_reply(), Value::bulk("single quoted"));
    telnet.send(b"SET  tab\\x \"a\\tb\\x41\"   \r\nGET tab\\x\r\n");
    assert_eq!(telnet.read_reply(), Value::ok());
    assert_eq!(telnet.read_reply(), Value::Bulk(b"a\tbA".to_vec()));
    // Inline and multibulk mixed in one write, answered in order.
    let replies = pipeline_raw(
        &proxy.addr,
        b"INCR visits\r\n*2\r\n$4\r\nINCR\r\n$6\r\nvisits\r\nGET visits\nget greeting\r\n".to_vec(),
        4,
    );
    assert_eq!(replies, vec![Value::Int(1), Value::Int(2), Value::bulk("2"), Value::bulk("hello world")]);

    // The values are real: a multibulk client, and the owning node, see them.
    assert_eq!(connect(&proxy.addr).cmd(&["GET", "greeting"]), Value::bulk("hello world"));
    let stored = get_from_owners(&cluster.seed(), &[b"greeting".to_vec(), b"tab\\x".to_vec()]);
    assert_eq!(stored[0].1, Value::bulk("hello world"), "on {}", stored[0].0);
    assert_eq!(stored[1].1, Value::Bulk(b"a\tbA".to_vec()), "on {}", stored[1].0);

    // Inline errors read like a node's.
    let mut node = connect(&cluster.seed());
    node.send(b"nosuch arg1 arg2\r\n");
    telnet.send(b"nosuch arg1 arg2\r\n");
    assert_eq!(telnet.read_reply(), node.read_reply());
}

/// Keys in different slots where Redis Cluster wants one: slotway finds the keys a
/// cluster node finds (its `getkeys` rules: `atoi` of numkeys, XREAD's options, SORT's
/// STORE ...) and answers exactly as the node does: CROSSSLOT, or the command's own
/// error where the node finds no keys to check. The keys all live on one primary,
/// asked directly, so its answer is never a redirect.
#[test]
fn keys_in_several_slots_answer_as_a_cluster_node() {
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());
    let keys = spread_keys(&cluster, "cs", 3);
    let node = keys[0].1.clone();
    let on_node: Vec<String> = keys.into_iter().filter(|(_, owner)| *owner == node).map(|(k, _)| k).collect();
    let [a, b, c] = [&on_node[0], &on_node[1], &on_node[2]].map(String::as_str);
    let cases: Vec<Vec<&str>> = vec![
        vec!["SINTER", a, b],
        vec!["SUNIONSTORE", a, b, c],
        vec!["RENAME", a, b],
        vec!["RENAMENX", a, b],
        vec!["COPY", a, b],
        vec!["MSETNX", a, "1", b, "2"],
        vec!["LMOVE", a, b, "LEFT", "RIGHT"],
        vec!["LMOVE", a, b, "UP", "DOWN"],
        vec!["RPOPLPUSH", a, b],
        vec!["BLMOVE", a, b, "LEFT", "LEFT", "0.01"],
        vec!["SMOVE", a, b, "m"],
        vec!["ZUNIONSTORE", a, "2", b, c],
        vec!["ZINTERSTORE", a, "1", b],
        vec!["SINTERCARD", "2", a, b],
        vec!["BITOP", "AND", a, b, c],
        vec!["PFMERGE", a, b],
        vec!["PFCOUNT", a, b],
        vec!["EVAL", "return 1", "2", a, b],
        vec!["XREAD", "STREAMS", a, b, "0", "0"],
        // Argument errors with keys in different slots: which error comes first.
        vec!["RENAME", a],
        vec!["MSETNX", a, "1", b],
        vec!["SINTERCARD", "3", a, b],
        vec!["SINTERCARD", "0", a, b],
        vec!["SINTERCARD", "-1", a, b],
        vec!["SINTERCARD", "x", a, b],
        vec!["ZUNIONSTORE", a, "3", b, c],
        vec!["ZUNIONSTORE", a, "-1", b, c],
        vec!["ZUNIONSTORE", a, "x", b, c],
        vec!["EVAL", "return 1", "3", a, b],
        vec!["EVAL", "return 1", "-1", a],
        vec!["XREAD", "STREAMS", a, b, "0"],
        vec!["XREAD", "STREAMS", a, b, c, "0", "0"],
        vec!["XREAD", "STREAMS", a],
        vec!["XREAD", "NOSUCH", "STREAMS", a, b, "0", "0"],
        vec!["SORT", a, "STORE", b],
        vec!["SORT", a, "GET", "STORE", "LIMIT", "0", "1"],
        vec!["SORT_RO", a, "STORE", b],
        vec!["MIGRATE", "127.0.0.1", "1", a, "0", "10", "KEYS", b, c],
        vec!["SINTERCARD", "2x", a, b],
        vec!["SINTERCARD", "18446744073709551618", a, b],
        // numkeys reaching into the options: the node takes `LIMIT` for a key.
        vec!["SINTERCARD", "3", "{t}a", "{t}b", "LIMIT", "1"],
        vec!["ZUNIONSTORE", "{t}d", "3", "{t}a", "{t}b", "WEIGHTS", "1", "2"],
    ];
    let mut p = RawBytesConn::connect(&proxy.addr);
    let mut n = RawBytesConn::connect(&node);
    let mut diffs = Vec::new();
    for case in &cases {
        let (got, want) = (p.cmd(case), n.cmd(case));
        if got != want {
            let show = |b: &[u8]| String::from_utf8_lossy(b).escape_debug().to_string();
            diffs.push(format!("{case:?}\n    slotway: {}\n    node:    {}", show(&got), show(&want)));
        }
    }
    assert!(diffs.is_empty(), "slotway vs a cluster node:\n{}", diffs.join("\n"));
    // The first cases are the plain CROSSSLOT refusals.
    assert_eq!(p.cmd(&cases[0]), b"-CROSSSLOT Keys in request don't hash to the same slot\r\n");
}
