//! Blocking commands (BLPOP, BRPOP, BLMOVE, BZPOPMIN, BLMPOP, XREAD BLOCK ...)
//! through slotway, against a real cluster.
//!
//! Each blocking command gets a node connection of its own (a lease), so a client
//! waiting for minutes holds up nobody; the lease is given back with the reply or
//! when the client goes away, and the number of leases is bounded. Whether a client
//! is blocked is read from `CLIENT LIST` on the node itself. As on one server, a
//! client's later commands wait until its blocking command is answered.

mod support;

use std::time::{Duration, Instant};

use support::{
    Cmd, RawConn, Standalone, TestCluster, Value, client_list, cmd, connect, encode, key_owner, keyslot, pipeline,
    pipeline_raw_within, start_slotway, start_slotway_with,
};

const CROSSSLOT: &str = "CROSSSLOT Keys in request don't hash to the same slot";

fn bulk(s: &str) -> Value {
    Value::bulk(s)
}

fn array(items: &[&str]) -> Value {
    Value::Array(items.iter().map(|s| bulk(s)).collect())
}

/// Connections on `node` whose current (or last) command is `cmd` (lower case, as
/// `CLIENT LIST` shows it), and how many of those are blocked (flag `b`).
fn clients_in(node: &str, cmd: &str) -> (usize, usize) {
    let mut total = 0;
    let mut blocked = 0;
    for client in client_list(node) {
        if client.get("cmd").map(String::as_str) == Some(cmd) {
            total += 1;
            if client.get("flags").is_some_and(|f| f.contains('b')) {
                blocked += 1;
            }
        }
    }
    (total, blocked)
}

/// Polls `check` until it holds; panics with `what` after `limit`.
fn wait_until(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < limit, "gave up after {limit:?} waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until `node` has exactly `n` clients blocked in `cmd`.
fn wait_blocked(node: &str, cmd: &str, n: usize) {
    wait_until(&format!("{n} client(s) blocked in {cmd} on {node}"), Duration::from_secs(10), || {
        clients_in(node, cmd).1 == n
    });
}

/// Client `c`'s pipeline of 1,000 commands and the replies they must get: INCRs of
/// its own counter, SETs of its own keys, and GETs of the key set just before.
fn client_pipeline(c: usize) -> (Vec<u8>, Vec<Value>) {
    let mut wire = Vec::new();
    let mut want = Vec::new();
    for j in 0..1000 {
        match j % 3 {
            0 => {
                wire.extend(encode(&["INCR", &format!("client:{c}:counter")]));
                want.push(Value::Int(j as i64 / 3 + 1));
            }
            1 => {
                wire.extend(encode(&["SET", &format!("client:{c}:key:{j}"), &format!("value {c}/{j}")]));
                want.push(Value::ok());
            }
            _ => {
                wire.extend(encode(&["GET", &format!("client:{c}:key:{}", j - 1)]));
                want.push(bulk(&format!("value {c}/{}", j - 1)));
            }
        }
    }
    (wire, want)
}

#[test]
fn blpop_is_woken_by_a_push_while_fifty_clients_pipeline_through_slotway() {
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());
    let list = "{queue}:jobs";
    let node = key_owner(&cluster, list);

    let mut waiter = connect(&proxy.addr);
    waiter.send(&encode(&["BLPOP", list, "0"]));
    wait_blocked(&node, "blpop", 1);

    // Fifty clients at full speed, each with a pipeline of 1,000 commands in one write,
    // keys all over the cluster (the list's node included).
    let clients: Vec<_> = (0..50)
        .map(|c| {
            let addr = proxy.addr.clone();
            std::thread::spawn(move || {
                let (wire, want) = client_pipeline(c);
                (pipeline_raw_within(&addr, wire, want.len(), Duration::from_secs(30)), want)
            })
        })
        .collect();
    for (c, client) in clients.into_iter().enumerate() {
        let (got, want) = client.join().expect("pipelining client");
        assert_eq!(got.len(), want.len());
        for (j, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g, w, "client {c}, reply {j}");
        }
    }
    // They all finished while the BLPOP client is still blocked on the node.
    assert_eq!(clients_in(&node, "blpop").1, 1, "the BLPOP is still waiting");

    assert_eq!(connect(&proxy.addr).cmd(&["RPUSH", list, "job-1"]), Value::Int(1));
    assert_eq!(waiter.read_reply(), array(&[list, "job-1"]));
    assert_eq!(connect(&node).cmd(&["LLEN", list]), Value::Int(0));
    // The woken client goes on as usual.
    assert_eq!(waiter.cmd(&["PING"]), Value::Simple("PONG".into()));
    wait_blocked(&node, "blpop", 0);
}

/// Sends a blocking command on `conn` and returns how long its reply took.
fn timed(conn: &mut RawConn, args: &[&str]) -> (Value, Duration) {
    let start = Instant::now();
    let reply = conn.cmd(args);
    (reply, start.elapsed())
}

#[test]
fn blocking_commands_time_out_wake_up_and_refuse_cross_slot_keys_like_redis() {
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());
    let node = key_owner(&cluster, "{b}");
    let mut client = connect(&proxy.addr);
    let mut pusher = connect(&proxy.addr);

    // Timeouts on empty keys: a null reply once the timeout has passed.
    let timeouts: &[(&[&str], Duration)] = &[
        (&["BLPOP", "{b}:list", "1"], Duration::from_secs(1)),
        (&["BRPOP", "{b}:list", "{b}:list2", "0.5"], Duration::from_millis(500)),
        (&["BLMOVE", "{b}:src", "{b}:dst", "LEFT", "RIGHT", "0.5"], Duration::from_millis(500)),
        (&["BRPOPLPUSH", "{b}:src", "{b}:dst", "0.5"], Duration::from_millis(500)),
        (&["BZPOPMIN", "{b}:zset", "0.5"], Duration::from_millis(500)),
        (&["BZPOPMAX", "{b}:zset", "0.5"], Duration::from_millis(500)),
        (&["BLMPOP", "0.5", "2", "{b}:list", "{b}:list2", "LEFT"], Duration::from_millis(500)),
        (&["BZMPOP", "0.5", "1", "{b}:zset", "MIN"], Duration::from_millis(500)),
        (&["XREAD", "BLOCK", "500", "STREAMS", "{b}:stream", "$"], Duration::from_millis(500)),
    ];
    for (args, timeout) in timeouts {
        let (reply, took) = timed(&mut client, args);
        assert_eq!(reply, Value::Nil, "{args:?}");
        // Redis answered after the timeout, not before: the command really blocked.
        assert!(took >= *timeout - Duration::from_millis(50), "{args:?} answered after {took:?}");
    }

    // Woken by another client's write: each command sent, seen blocked on the node,
    // then woken with the element it was waiting for.
    let wakes: &[(&[&str], &str, &[&str], Value)] = &[
        (&["BRPOP", "{b}:l1", "{b}:l2", "0"], "brpop", &["RPUSH", "{b}:l2", "a", "b"], array(&["{b}:l2", "b"])),
        (&["BLPOP", "{b}:l3", "0"], "blpop", &["RPUSH", "{b}:l3", "v"], array(&["{b}:l3", "v"])),
        (&["BLMOVE", "{b}:src", "{b}:dst", "LEFT", "RIGHT", "0"], "blmove", &["RPUSH", "{b}:src", "x"], bulk("x")),
        (
            &["BZPOPMIN", "{b}:zset", "0"],
            "bzpopmin",
            &["ZADD", "{b}:zset", "2", "two", "1", "one"],
            array(&["{b}:zset", "one", "1"]),
        ),
        (
            &["BLMPOP", "0", "2", "{b}:m1", "{b}:m2", "RIGHT", "COUNT", "2"],
            "blmpop",
            &["RPUSH", "{b}:m2", "a", "b", "c"],
            Value::Array(vec![bulk("{b}:m2"), array(&["c", "b"])]),
        ),
        (
            &["XREAD", "BLOCK", "0", "STREAMS", "{b}:stream", "$"],
            "xread",
            &["XADD", "{b}:stream", "5-1", "field", "value"],
            Value::Array(vec![Value::Array(vec![
                bulk("{b}:stream"),
                Value::Array(vec![Value::Array(vec![bulk("5-1"), array(&["field", "value"])])]),
            ])]),
        ),
    ];
    for (args, name, push, want) in wakes {
        client.send(&encode(args));
        wait_blocked(&node, name, 1);
        // A write to another key of the slot wakes nobody.
        assert_eq!(pusher.cmd(&["LPUSH", "{b}:unrelated", "u"]), Value::Int(1));
        assert_eq!(pusher.cmd(&["LPOP", "{b}:unrelated"]), bulk("u"));
        assert_eq!(clients_in(&node, name).1, 1, "{args:?} still blocked");
        assert!(!pusher.cmd(push).is_error(), "{push:?}");
        assert_eq!(client.read_reply(), *want, "{args:?} woken by {push:?}");
        wait_blocked(&node, name, 0);
    }
    // An element already there is taken at once (the BRPOP above left "a").
    assert_eq!(client.cmd(&["BLPOP", "{b}:l1", "{b}:l2", "0"]), array(&["{b}:l2", "a"]));
    let mut direct = connect(&node);
    assert_eq!(direct.cmd(&["LRANGE", "{b}:dst", "0", "-1"]), array(&["x"]));
    assert_eq!(direct.cmd(&["ZRANGE", "{b}:zset", "0", "-1"]), array(&["two"]));
    assert_eq!(direct.cmd(&["LRANGE", "{b}:m2", "0", "-1"]), array(&["a"]));

    // A command pipelined behind a blocking one is answered after it, in order.
    client.send(&[encode(&["BLPOP", "{b}:empty", "0.3"]), encode(&["PING"]), encode(&["GET", "{other}"])].concat());
    assert_eq!(client.read_reply(), Value::Nil);
    assert_eq!(client.read_reply(), Value::Simple("PONG".into()));
    assert_eq!(client.read_reply(), Value::Nil);

    // Keys in two slots: the same CROSSSLOT as a node's, at once, nothing blocks.
    assert_ne!(keyslot(&node, "{b}:x"), keyslot(&node, "{c}:y"));
    let cross: &[&[&str]] = &[
        &["BLPOP", "{b}:x", "{c}:y", "1"],
        &["BRPOP", "{b}:x", "{c}:y", "1"],
        &["BLMOVE", "{b}:x", "{c}:y", "LEFT", "RIGHT", "1"],
        &["BRPOPLPUSH", "{b}:x", "{c}:y", "1"],
        &["BZPOPMIN", "{b}:x", "{c}:y", "1"],
        &["BLMPOP", "1", "2", "{b}:x", "{c}:y", "LEFT"],
        &["BZMPOP", "1", "2", "{b}:x", "{c}:y", "MAX"],
        &["XREAD", "BLOCK", "1000", "STREAMS", "{b}:x", "{c}:y", "$", "$"],
    ];
    for args in cross {
        assert_eq!(connect(&node).cmd(args), Value::Error(CROSSSLOT.into()), "a node's reply to {args:?}");
        assert_eq!(client.cmd(args), Value::Error(CROSSSLOT.into()), "{args:?}");
    }
}

#[test]
fn a_client_that_disconnects_while_blocked_frees_its_node_connection_at_once() {
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());
    let list = "{gone}:list";
    let node = key_owner(&cluster, list);
    assert_eq!(clients_in(&node, "blpop"), (0, 0));

    let mut client = connect(&proxy.addr);
    client.send(&encode(&["BLPOP", list, "0"]));
    wait_blocked(&node, "blpop", 1);
    drop(client);

    // The node connection it had is closed: no connection on the node is in BLPOP.
    wait_until("the node has no connection in BLPOP", Duration::from_secs(5), || clients_in(&node, "blpop").0 == 0);
    // Nobody takes a later push: the element stays in the list.
    assert_eq!(connect(&proxy.addr).cmd(&["RPUSH", list, "for whoever comes next"]), Value::Int(1));
    assert_eq!(connect(&node).cmd(&["LLEN", list]), Value::Int(1));

    // The same for a client that sent more behind its BLPOP, and for XREAD BLOCK.
    let mut client = connect(&proxy.addr);
    client.send(&[encode(&["BLPOP", "{gone}:empty", "0"]), encode(&["PING"])].concat());
    let mut reader = connect(&proxy.addr);
    reader.send(&encode(&["XREAD", "BLOCK", "0", "STREAMS", "{gone}:stream", "$"]));
    wait_blocked(&node, "blpop", 1);
    wait_blocked(&node, "xread", 1);
    drop(client);
    drop(reader);
    wait_until("the node has no connection in BLPOP or XREAD", Duration::from_secs(5), || {
        clients_in(&node, "blpop").0 == 0 && clients_in(&node, "xread").0 == 0
    });
    assert_eq!(connect(&proxy.addr).cmd(&["RPUSH", "{gone}:empty", "v"]), Value::Int(1));
    assert_eq!(connect(&node).cmd(&["LLEN", "{gone}:empty"]), Value::Int(1));
}

#[test]
fn leased_connections_are_bounded_and_given_back_when_a_client_is_woken() {
    let cluster = TestCluster::start();
    let mut config = slotway::Config::with_seeds(cluster.addrs());
    config.max_leased_conns = 3;
    let proxy = start_slotway_with(config);
    let primaries = cluster.primaries();

    let blocked_everywhere = || primaries.iter().map(|p| clients_in(p, "blpop").1).sum::<usize>();
    let keys = ["{lease}:1", "{lease}:2", "{lease}:3"];
    let mut waiters: Vec<RawConn> = keys
        .iter()
        .map(|k| {
            let mut c = connect(&proxy.addr);
            c.send(&encode(&["BLPOP", k, "0"]));
            c
        })
        .collect();
    wait_until("3 clients blocked in BLPOP", Duration::from_secs(10), || blocked_everywhere() == 3);

    // Every lease is taken: a 4th blocking command, and a WATCH (which needs a
    // connection of its own as well), get the error at once.
    let mut fourth = connect(&proxy.addr);
    for args in [&["BLPOP", "{lease}:4", "0"][..], &["BRPOP", "{lease}:4", "5"], &["WATCH", "{lease}:4"]] {
        match fourth.cmd(args) {
            Value::Error(text) => {
                assert!(text.starts_with("ERR "), "{args:?}: {text}");
                assert!(text.contains("max-leased-conns"), "{args:?}: {text}");
            }
            other => panic!("{args:?} with every lease taken: {other:?}"),
        }
    }
    // Commands on the shared connections are not affected.
    assert_eq!(fourth.cmd(&["SET", "{lease}:4", "x"]), Value::ok());
    assert_eq!(fourth.cmd(&["DEL", "{lease}:4"]), Value::Int(1));
    assert_eq!(blocked_everywhere(), 3);

    // One blocked client is woken; its lease is given back with its reply.
    assert_eq!(fourth.cmd(&["RPUSH", keys[0], "wake"]), Value::Int(1));
    assert_eq!(waiters[0].read_reply(), array(&[keys[0], "wake"]));
    fourth.send(&encode(&["BLPOP", "{lease}:4", "0"]));
    wait_until("3 clients blocked in BLPOP again", Duration::from_secs(10), || blocked_everywhere() == 3);
    assert_eq!(connect(&proxy.addr).cmd(&["RPUSH", "{lease}:4", "now"]), Value::Int(1));
    assert_eq!(fourth.read_reply(), array(&["{lease}:4", "now"]));

    // Wake the rest; every lease is free again and WATCH works.
    for (k, w) in keys.iter().zip(&mut waiters).skip(1) {
        assert_eq!(fourth.cmd(&["RPUSH", k, "bye"]), Value::Int(1));
        assert_eq!(w.read_reply(), array(&[k, "bye"]));
    }
    let mut watchers: Vec<RawConn> = (0..3).map(|_| connect(&proxy.addr)).collect();
    for (i, w) in watchers.iter_mut().enumerate() {
        assert_eq!(w.cmd(&["WATCH", &format!("{{lease}}:w{i}")]), Value::ok());
    }
}

/// Commands pipelined behind a blocking one run after it, as on one server (a
/// blocked client runs nothing more until it is answered): they cannot feed the
/// command they wait behind, and it cannot overtake the commands before it.
#[test]
fn commands_pipelined_around_a_blocking_one_keep_their_order() {
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());
    let redis = Standalone::start();
    let cmds: Vec<Cmd> = [
        &["BLPOP", "{p}:list", "0.2"][..],
        &["RPUSH", "{p}:list", "v"],
        &["LLEN", "{p}:list"],
        &["BZPOPMIN", "{p}:zset", "0.1"],
        &["ZADD", "{p}:zset", "1", "m"],
        &["XREAD", "BLOCK", "100", "STREAMS", "{p}:stream", "$"],
        &["XADD", "{p}:stream", "1-1", "f", "v"],
        &["DEL", "{p}:list"],
        &["BRPOP", "{p}:list", "0.1"],
        &["RPUSH", "{p}:other", "x"],
        &["BLMOVE", "{p}:other", "{p}:list", "LEFT", "LEFT", "0.1"],
        &["LRANGE", "{p}:list", "0", "-1"],
    ]
    .iter()
    .map(|c| cmd(*c))
    .collect();
    let want = pipeline(&redis.addr, &cmds);
    assert_eq!(want[0], Value::Nil, "one server: BLPOP times out before the RPUSH behind it runs");
    assert_eq!(pipeline(&proxy.addr, &cmds), want);
}
