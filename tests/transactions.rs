//! `MULTI` / `EXEC` / `DISCARD` / `WATCH` through slotway, against a real cluster.
//!
//! A transaction is pinned to one slot: slotway queues it itself and sends the
//! whole block (`MULTI` ... `EXEC`) to the slot's primary in one piece. These tests
//! check what a client sees (Redis's own replies and error texts, compared with a
//! node where a node can answer the same thing) and what the cluster holds
//! afterwards, read straight from its nodes.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use support::{
    RawConn, Standalone, TestCluster, Value, connect, encode, key_owner, keyslot, move_slot, pipeline_raw_within,
    slot_and_nodes, start_slotway, start_slotway_with,
};

const CROSSSLOT: &str = "CROSSSLOT Keys in request don't hash to the same slot";
const EXECABORT: &str = "EXECABORT Transaction discarded because of previous errors.";

fn queued() -> Value {
    Value::Simple("QUEUED".into())
}

fn bulk(s: &str) -> Value {
    Value::bulk(s)
}

fn err(text: &str) -> Value {
    Value::Error(text.into())
}

/// Runs each command in turn on `conn`, one request and one reply at a time.
fn run(conn: &mut RawConn, cmds: &[&[&str]]) -> Vec<Value> {
    cmds.iter().map(|c| conn.cmd(c)).collect()
}

/// Sends every command in one write, then reads one reply per command.
fn run_pipelined(conn: &mut RawConn, cmds: &[&[&str]]) -> Vec<Value> {
    let wire: Vec<u8> = cmds.iter().flat_map(|c| encode(c)).collect();
    conn.send(&wire);
    cmds.iter().map(|_| conn.read_reply()).collect()
}

/// Asserts `key` exists nowhere in the cluster: every primary has no key in its
/// slot, and its owner does not have it.
fn assert_nowhere(cluster: &TestCluster, key: &str) {
    let slot = keyslot(&cluster.seed(), key).to_string();
    for primary in cluster.primaries() {
        let count = connect(&primary).cmd(&["CLUSTER", "COUNTKEYSINSLOT", &slot]);
        assert_eq!(count, Value::Int(0), "{primary} holds keys of slot {slot} ({key})");
    }
    assert_eq!(connect(&key_owner(cluster, key)).cmd(&["EXISTS", key]), Value::Int(0), "{key} was written");
}

#[test]
fn a_same_slot_transaction_queues_every_command_and_exec_returns_every_reply() {
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());
    let mut client = connect(&proxy.addr);

    // One request at a time: +OK, +QUEUED for each command (PING and ECHO too), then
    // EXEC's array with every reply in order.
    let replies = run(
        &mut client,
        &[
            &["MULTI"],
            &["SET", "{acct}:balance", "100"],
            &["INCR", "{acct}:balance"],
            &["INCRBY", "{acct}:deposits", "5"],
            &["GET", "{acct}:balance"],
            &["PING"],
            &["ECHO", "hello from the transaction"],
            &["PING", "with a message"],
        ],
    );
    assert_eq!(replies[0], Value::ok(), "MULTI");
    for (i, r) in replies.iter().enumerate().skip(1) {
        assert_eq!(*r, queued(), "command {i} inside MULTI");
    }
    let exec = client.cmd(&["EXEC"]);
    assert_eq!(
        exec,
        Value::Array(vec![
            Value::ok(),
            Value::Int(101),
            Value::Int(5),
            bulk("101"),
            Value::Simple("PONG".into()),
            bulk("hello from the transaction"),
            bulk("with a message"),
        ])
    );
    // It ran on the slot's owner, and the client is out of MULTI again.
    let node = key_owner(&cluster, "{acct}:balance");
    assert_eq!(connect(&node).cmd(&["GET", "{acct}:balance"]), bulk("101"));
    assert_eq!(connect(&node).cmd(&["GET", "{acct}:deposits"]), bulk("5"));
    assert_eq!(client.cmd(&["GET", "{acct}:balance"]), bulk("101"));
    assert_eq!(client.cmd(&["EXEC"]), err("ERR EXEC without MULTI"));

    // The same transaction in one write gives the same replies as the node itself.
    let tx: &[&[&str]] = &[
        &["MULTI"],
        &["SET", "{acct}:pipelined", "1"],
        &["INCR", "{acct}:pipelined"],
        &["PING"],
        &["ECHO", "e"],
        &["GET", "{acct}:pipelined"],
        &["DEL", "{acct}:pipelined"],
        &["EXEC"],
        &["EXISTS", "{acct}:pipelined"],
    ];
    let via_node = run_pipelined(&mut connect(&node), tx);
    let via_proxy = run_pipelined(&mut client, tx);
    assert_eq!(via_proxy, via_node);
    assert_eq!(
        via_proxy[7],
        Value::Array(vec![
            Value::ok(),
            Value::Int(2),
            Value::Simple("PONG".into()),
            bulk("e"),
            bulk("2"),
            Value::Int(1)
        ])
    );

    // A transaction with no key at all runs too (on any primary).
    let replies = run(&mut client, &[&["MULTI"], &["PING"], &["ECHO", "x"], &["EXEC"]]);
    assert_eq!(
        replies,
        vec![Value::ok(), queued(), queued(), Value::Array(vec![Value::Simple("PONG".into()), bulk("x")])]
    );
}

#[test]
fn a_cross_slot_transaction_is_refused_aborted_and_writes_nothing() {
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());
    let (a, b) = ("{first}:k", "{second}:k");
    assert_ne!(key_owner(&cluster, a), key_owner(&cluster, b), "the two tags should live on different primaries");
    let mut client = connect(&proxy.addr);

    // The first keyed command fixes the slot; one for another slot is refused with
    // Redis's CROSSSLOT; later commands are still queued (as Redis does after an
    // error); EXEC aborts the whole transaction.
    let replies = run(
        &mut client,
        &[
            &["MULTI"],
            &["SET", a, "1"],
            &["SET", b, "2"],
            &["SET", "{first}:other", "3"],
            &["INCR", "{first}:counter"],
            &["EXEC"],
        ],
    );
    assert_eq!(replies, vec![Value::ok(), queued(), err(CROSSSLOT), queued(), queued(), err(EXECABORT)]);

    // A keyless command first does not fix the slot; a multi-key command spanning
    // slots is refused by itself.
    let replies = run(&mut client, &[&["MULTI"], &["PING"], &["SET", b, "1"], &["MSET", a, "x", b, "y"], &["EXEC"]]);
    assert_eq!(replies, vec![Value::ok(), queued(), queued(), err(CROSSSLOT), err(EXECABORT)]);

    // Pipelined in one write: same replies.
    let replies = run_pipelined(
        &mut client,
        &[&["MULTI"], &["SET", b, "1"], &["SET", a, "1"], &["EXEC"], &["GET", a], &["GET", b]],
    );
    assert_eq!(replies, vec![Value::ok(), queued(), err(CROSSSLOT), err(EXECABORT), Value::Nil, Value::Nil]);

    // Nothing was written anywhere: every primary, checked directly, for every key.
    for key in [a, b, "{first}:other", "{first}:counter"] {
        assert_nowhere(&cluster, key);
    }
    // The client is out of MULTI and works normally.
    assert_eq!(client.cmd(&["EXEC"]), err("ERR EXEC without MULTI"));
    assert_eq!(client.cmd(&["SET", a, "after"]), Value::ok());
    assert_eq!(connect(&key_owner(&cluster, a)).cmd(&["GET", a]), bulk("after"));
}

#[test]
fn transaction_errors_are_the_same_as_a_nodes() {
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());
    const KEY: &str = "{errors}:k";
    let key = KEY;
    let node = key_owner(&cluster, key);

    // Each script runs on a fresh connection to the node (the slot's owner, so it
    // answers rather than redirects) and then to slotway; the key is deleted before
    // each run, so both start from the same state.
    let scripts: Vec<Vec<&[&str]>> = vec![
        vec![&["MULTI"], &["MULTI"], &["SET", KEY, "v"], &["EXEC"], &["GET", KEY]],
        vec![&["EXEC"], &["DISCARD"], &["UNWATCH"]],
        vec![&["MULTI"], &["SET", KEY, "1"], &["NOSUCHCMD", "x", "y"], &["EXEC"], &["GET", KEY]],
        vec![&["MULTI"], &["SET", KEY, "1"], &["GET"], &["INCR", KEY], &["EXEC"], &["GET", KEY]],
        vec![&["MULTI"], &["SET", KEY, "1"], &["DISCARD"], &["GET", KEY], &["EXEC"], &["DISCARD"]],
        vec![&["MULTI"], &["EXEC"]],
        vec![&["MULTI"], &["WATCH", KEY], &["SET", KEY, "1"], &["EXEC"]],
        vec![&["MULTI"], &["SET", KEY, "text"], &["INCR", KEY], &["GET", KEY], &["EXEC"]],
        vec![&["MULTI"], &["PING"], &["ECHO", "hi"], &["EXEC"]],
        // An odd MSET is the command's own error when it runs: queued, failing in EXEC.
        vec![&["MULTI"], &["MSET", KEY, "1", "{errors}:b"], &["SET", KEY, "2"], &["EXEC"], &["GET", KEY]],
        vec![&["MSET", KEY, "1", "{errors}:b"], &["MSETNX", KEY, "1", "{errors}:b"]],
        // A command the server flags no_multi: its error, as it gives it, and EXECABORT
        // (slotway refuses SAVE outside a transaction, for its own reason).
        vec![&["MULTI"], &["SAVE"], &["SAVE", "x"], &["SET", KEY, "1"], &["EXEC"], &["GET", KEY]],
    ];
    for script in &scripts {
        assert!(matches!(connect(&node).cmd(&["DEL", key]), Value::Int(_)));
        let want = run(&mut connect(&node), script);
        assert!(matches!(connect(&node).cmd(&["DEL", key]), Value::Int(_)));
        let got = run(&mut connect(&proxy.addr), script);
        assert_eq!(got, want, "{script:?}");
    }

    // The texts themselves, as the server has them (the loop above proves the node
    // agrees): Redis's own for a nested MULTI; Valkey flags MULTI no_multi, refusing
    // it as any command a transaction cannot hold.
    let mut client = connect(&proxy.addr);
    assert_eq!(client.cmd(&["MULTI"]), Value::ok());
    let nested = match cluster.server_version().is_valkey() {
        true => "ERR Command not allowed inside a transaction",
        false => "ERR MULTI calls can not be nested",
    };
    assert_eq!(client.cmd(&["MULTI"]), err(nested));
    assert_eq!(client.cmd(&["DISCARD"]), Value::ok());
    assert_eq!(client.cmd(&["EXEC"]), err("ERR EXEC without MULTI"));
    assert_eq!(client.cmd(&["DISCARD"]), err("ERR DISCARD without MULTI"));
    let replies = run(&mut client, &[&["MULTI"], &["SET", key, "1"], &["NOSUCHCMD", "x"], &["EXEC"]]);
    assert_eq!(
        replies,
        vec![
            Value::ok(),
            queued(),
            err("ERR unknown command 'NOSUCHCMD', with args beginning with: 'x' "),
            err(EXECABORT),
        ]
    );
    // DISCARD drops the queue: nothing reaches the node.
    let replies = run(&mut client, &[&["MULTI"], &["SET", key, "discarded"], &["INCR", "{errors}:n"], &["DISCARD"]]);
    assert_eq!(replies, vec![Value::ok(), queued(), queued(), Value::ok()]);
    assert_nowhere(&cluster, key);
    assert_nowhere(&cluster, "{errors}:n");
    // An empty transaction is an empty array.
    assert_eq!(run(&mut client, &[&["MULTI"], &["EXEC"]]), vec![Value::ok(), Value::Array(vec![])]);
}

/// A WATCH ended (UNWATCH, DISCARD, RESET, an aborted EXEC) while the WATCH and
/// the reads that follow it on its connection are still on their way: they are
/// answered, as by one server, not failed with the connection; and requests around
/// a WATCH keep their order, though it has a connection of its own.
#[test]
fn ending_a_watch_in_a_pipeline_answers_what_was_sent_before() {
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());
    let redis = Standalone::start();
    const K: &str = "{w}:k";
    let pipelines: Vec<Vec<&[&str]>> = vec![
        vec![&["SET", K, "v"], &["WATCH", K], &["GET", K], &["UNWATCH"], &["GET", K]],
        vec![&["WATCH", K], &["GET", K], &["MULTI"], &["GET", K], &["DISCARD"], &["GET", K]],
        vec![&["WATCH", K], &["GET", K], &["RESET"], &["GET", K]],
        vec![&["WATCH", K], &["GET", K], &["MULTI"], &["NOSUCHCMD"], &["EXEC"], &["GET", K]],
        vec![&["WATCH", K], &["MULTI"], &["INCR", "{w}:n"], &["EXEC"], &["WATCH", K], &["UNWATCH"], &["GET", "{w}:n"]],
        // Nor may the WATCH overtake what came before it, nor what follows overtake it.
        vec![&["SET", K, "a"], &["WATCH", K], &["MULTI"], &["GET", K], &["EXEC"]],
        vec![&["WATCH", K], &["GET", K], &["UNWATCH"], &["SET", K, "b"], &["GET", K]],
    ];
    for cmds in pipelines {
        let wire: Vec<u8> = cmds.iter().flat_map(|c| encode(c)).collect();
        let want = pipeline_raw_within(&redis.addr, wire.clone(), cmds.len(), Duration::from_secs(10));
        let got = pipeline_raw_within(&proxy.addr, wire, cmds.len(), Duration::from_secs(10));
        assert_eq!(got, want, "{cmds:?}");
    }
}

/// A raw connection whose replies are compared byte for byte: a failed `EXEC` after
/// `WATCH` must be exactly the null array `*-1`, which the RESP parser cannot tell
/// from a null bulk string.
struct Wire {
    stream: TcpStream,
}

impl Wire {
    fn connect(addr: &str) -> Wire {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Wire { stream }
    }

    fn expect(&mut self, args: &[&str], reply: &str) {
        self.stream.write_all(&encode(args)).unwrap();
        let mut got = vec![0; reply.len()];
        self.stream.read_exact(&mut got).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        assert_eq!(String::from_utf8_lossy(&got), reply, "reply to {args:?}");
    }
}

#[test]
fn watch_aborts_exec_only_when_a_watched_key_changed() {
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());
    let node = key_owner(&cluster, "{w}");
    let get = |key: &str| connect(&node).cmd(&["GET", key]);
    let mut other = connect(&proxy.addr);

    // Another client changes the watched key: EXEC is the null array, the value is theirs.
    let mut client = Wire::connect(&proxy.addr);
    client.expect(&["WATCH", "{w}:k1"], "+OK\r\n");
    assert_eq!(other.cmd(&["SET", "{w}:k1", "theirs"]), Value::ok());
    client.expect(&["MULTI"], "+OK\r\n");
    client.expect(&["SET", "{w}:k1", "mine"], "+QUEUED\r\n");
    client.expect(&["EXEC"], "*-1\r\n");
    assert_eq!(get("{w}:k1"), bulk("theirs"));
    // The failed EXEC ended the watch: the next transaction runs.
    client.expect(&["MULTI"], "+OK\r\n");
    client.expect(&["SET", "{w}:k1", "mine"], "+QUEUED\r\n");
    client.expect(&["EXEC"], "*1\r\n+OK\r\n");
    assert_eq!(get("{w}:k1"), bulk("mine"));

    // No interference: EXEC succeeds, also when other keys of the same slot change.
    let mut client = connect(&proxy.addr);
    assert_eq!(client.cmd(&["WATCH", "{w}:k2", "{w}:k3"]), Value::ok());
    assert_eq!(other.cmd(&["SET", "{w}:unwatched", "x"]), Value::ok());
    assert_eq!(other.cmd(&["GET", "{w}:k2"]), Value::Nil);
    let replies = run(&mut client, &[&["MULTI"], &["SET", "{w}:k2", "mine"], &["INCR", "{w}:k3"], &["EXEC"]]);
    assert_eq!(replies, vec![Value::ok(), queued(), queued(), Value::Array(vec![Value::ok(), Value::Int(1)])]);
    assert_eq!(get("{w}:k2"), bulk("mine"));

    // UNWATCH, then interference: EXEC succeeds and overwrites.
    assert_eq!(client.cmd(&["WATCH", "{w}:k4"]), Value::ok());
    assert_eq!(client.cmd(&["UNWATCH"]), Value::ok());
    assert_eq!(other.cmd(&["SET", "{w}:k4", "theirs"]), Value::ok());
    let replies = run(&mut client, &[&["MULTI"], &["SET", "{w}:k4", "mine"], &["EXEC"]]);
    assert_eq!(replies, vec![Value::ok(), queued(), Value::Array(vec![Value::ok()])]);
    assert_eq!(get("{w}:k4"), bulk("mine"));

    // DISCARD also ends the watch.
    assert_eq!(client.cmd(&["WATCH", "{w}:k5"]), Value::ok());
    assert_eq!(run(&mut client, &[&["MULTI"], &["DISCARD"]]), vec![Value::ok(), Value::ok()]);
    assert_eq!(other.cmd(&["SET", "{w}:k5", "theirs"]), Value::ok());
    let replies = run(&mut client, &[&["MULTI"], &["SET", "{w}:k5", "mine"], &["EXEC"]]);
    assert_eq!(replies[2], Value::Array(vec![Value::ok()]));
    assert_eq!(get("{w}:k5"), bulk("mine"));

    // The watching client's own write to the key counts too, as on Redis; its other
    // commands for the watched slot keep their order with the WATCH.
    let mut client = Wire::connect(&proxy.addr);
    client.expect(&["WATCH", "{w}:k6"], "+OK\r\n");
    client.expect(&["SET", "{w}:k6", "own"], "+OK\r\n");
    client.expect(&["GET", "{w}:k6"], "$3\r\nown\r\n");
    client.expect(&["MULTI"], "+OK\r\n");
    client.expect(&["SET", "{w}:k6", "mine"], "+QUEUED\r\n");
    client.expect(&["EXEC"], "*-1\r\n");
    assert_eq!(get("{w}:k6"), bulk("own"));

    // Watched keys must share a slot, in one WATCH or across several; and the
    // transaction is then pinned to the watched slot.
    assert_ne!(keyslot(&node, "{w}:a"), keyslot(&node, "{v}:b"));
    let mut client = connect(&proxy.addr);
    assert_eq!(client.cmd(&["WATCH", "{w}:a", "{v}:b"]), err(CROSSSLOT));
    assert_eq!(client.cmd(&["WATCH", "{w}:a"]), Value::ok());
    assert_eq!(client.cmd(&["WATCH", "{v}:b"]), err(CROSSSLOT));
    let replies = run(&mut client, &[&["MULTI"], &["SET", "{v}:b", "1"], &["EXEC"]]);
    assert_eq!(replies, vec![Value::ok(), err(CROSSSLOT), err(EXECABORT)]);
    assert_nowhere(&cluster, "{v}:b");
    // The refused WATCH did not spoil the first: interference on {w}:a still aborts.
    assert_eq!(client.cmd(&["WATCH", "{w}:a"]), Value::ok());
    assert_eq!(other.cmd(&["SET", "{w}:a", "theirs"]), Value::ok());
    let replies = run(&mut client, &[&["MULTI"], &["SET", "{w}:a", "mine"], &["EXEC"]]);
    assert_eq!(replies, vec![Value::ok(), queued(), Value::Nil]);
    assert_eq!(get("{w}:a"), bulk("theirs"));
}

#[test]
fn transactions_interleaved_with_another_clients_big_pipeline_stay_whole_and_in_order() {
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());
    // The pipeline's counter and the transactions' keys: different slots of one primary.
    let counter = "{pipe}:counter";
    let primary = key_owner(&cluster, counter);
    let tag = (0..)
        .map(|i| format!("{{tx{i}}}"))
        .find(|t| keyslot(&primary, t) != keyslot(&primary, counter) && key_owner(&cluster, t) == primary)
        .unwrap();
    let (tx_a, tx_b) = (format!("{tag}:a"), format!("{tag}:b"));

    const N: usize = 10_000;
    let pipeline_done = Arc::new(AtomicBool::new(false));
    // The pipeline starts once the transactions are under way, and they keep
    // running until the pipeline's last reply is in.
    let (started_tx, started) = std::sync::mpsc::channel();
    let transactions = {
        let addr = proxy.addr.clone();
        let done = pipeline_done.clone();
        let (a, b) = (tx_a.clone(), tx_b.clone());
        std::thread::spawn(move || {
            let mut client = connect(&addr);
            let mut i: i64 = 0;
            // At least 50 transactions, and keep going while the pipeline runs.
            while i < 50 || !done.load(Ordering::SeqCst) {
                let script: &[&[&str]] =
                    &[&["MULTI"], &["INCR", &a], &["INCRBY", &b, "2"], &["INCR", &a], &["GET", &b]];
                // Three ways in turn: one request at a time, all in one write, and
                // under WATCH (on a connection of its own).
                let mut replies = match i % 3 {
                    0 => run(&mut client, script),
                    1 => run_pipelined(&mut client, script),
                    _ => {
                        assert_eq!(client.cmd(&["WATCH", &a]), Value::ok());
                        run(&mut client, script)
                    }
                };
                replies.push(client.cmd(&["EXEC"]));
                let want = vec![
                    Value::ok(),
                    queued(),
                    queued(),
                    queued(),
                    queued(),
                    Value::Array(vec![
                        Value::Int(2 * i + 1),
                        Value::Int(2 * i + 2),
                        Value::Int(2 * i + 2),
                        bulk(&(2 * i + 2).to_string()),
                    ]),
                ];
                assert_eq!(replies, want, "transaction {i}");
                if i == 0 {
                    started_tx.send(()).unwrap();
                }
                i += 1;
            }
            i
        })
    };
    let pipe = {
        let addr = proxy.addr.clone();
        let done = pipeline_done.clone();
        started.recv_timeout(Duration::from_secs(10)).expect("the first transaction");
        std::thread::spawn(move || {
            let wire: Vec<u8> = (0..N).flat_map(|_| encode(&["INCR", counter])).collect();
            let replies = pipeline_raw_within(&addr, wire, N, Duration::from_secs(30));
            done.store(true, Ordering::SeqCst);
            replies
        })
    };
    let replies = pipe.join().expect("pipeline thread");
    let done = transactions.join().expect("transaction thread");
    for (i, r) in replies.iter().enumerate() {
        assert_eq!(*r, Value::Int(i as i64 + 1), "pipelined INCR {i}");
    }
    let mut node = connect(&primary);
    assert_eq!(node.cmd(&["GET", counter]), bulk(&N.to_string()));
    assert_eq!(node.cmd(&["GET", &tx_a]), bulk(&(2 * done).to_string()));
    assert_eq!(node.cmd(&["GET", &tx_b]), bulk(&(2 * done).to_string()));
}

/// [`move_slot`] (without telling slotway), then checks the cluster agrees `dst`
/// owns the slot now.
fn move_slot_and_check(cluster: &TestCluster, slot: u16, src: &str, dst: &str, keys: &[&str]) {
    move_slot(cluster, slot, src, dst, keys);
    assert_eq!(cluster.node_for_slot(slot), dst);
}

#[test]
fn a_transaction_after_its_slot_moved_runs_once_on_the_new_owner() {
    let cluster = TestCluster::start();
    // Only redirects make slotway refresh: its topology is stale after each move.
    let mut config = slotway::Config::with_seeds(cluster.addrs());
    config.refresh_interval_s = 3600;
    let proxy = start_slotway_with(config);
    let mut client = connect(&proxy.addr);

    // Without WATCH: the old owner refuses the block (MOVED, EXECABORT), slotway sends
    // the whole block again to the new owner, and the client sees one normal EXEC.
    let key = "{moving}:counter";
    let (slot, src, dst) = slot_and_nodes(&cluster, key);
    assert_eq!(client.cmd(&["SET", key, "10"]), Value::ok());
    move_slot_and_check(&cluster, slot, &src, &dst, &[key]);
    let replies = run(&mut client, &[&["MULTI"], &["INCR", key], &["GET", key], &["EXEC"]]);
    assert_eq!(replies, vec![Value::ok(), queued(), queued(), Value::Array(vec![Value::Int(11), bulk("11")])]);
    assert_eq!(client.cmd(&["PING"]), Value::Simple("PONG".into()), "no reply beyond EXEC's");
    assert_eq!(connect(&dst).cmd(&["GET", key]), bulk("11"), "incremented once, on the new owner");
    assert_eq!(connect(&src).cmd(&["CLUSTER", "COUNTKEYSINSLOT", &slot.to_string()]), Value::Int(0));

    // With WATCH on the old owner, then the move: EXEC is either the null array (the
    // watch could not hold across the move) or a success; never a wrong value.
    let key = "{watched-move}:counter";
    let (slot, src, dst) = slot_and_nodes(&cluster, key);
    assert_eq!(client.cmd(&["SET", key, "20"]), Value::ok());
    assert_eq!(client.cmd(&["WATCH", key]), Value::ok());
    move_slot_and_check(&cluster, slot, &src, &dst, &[key]);
    let replies = run(&mut client, &[&["MULTI"], &["INCR", key], &["EXEC"]]);
    assert_eq!(replies[..2], [Value::ok(), queued()]);
    let expected = match &replies[2] {
        Value::Nil => "20",
        Value::Array(a) if *a == [Value::Int(21)] => "21",
        other => panic!("EXEC after the watched slot moved: {other:?}"),
    };
    assert_eq!(connect(&dst).cmd(&["GET", key]), bulk(expected));
    // The client carries on: a new transaction on the key runs once, on the new owner.
    let replies = run(&mut client, &[&["MULTI"], &["INCR", key], &["EXEC"]]);
    let after: i64 = expected.parse::<i64>().unwrap() + 1;
    assert_eq!(replies[2], Value::Array(vec![Value::Int(after)]));
    assert_eq!(connect(&dst).cmd(&["GET", key]), bulk(&after.to_string()));
}
