//! Lua scripts and functions through slotway: `EVAL`/`EVALSHA`/`FCALL` routed by
//! their keys, `SCRIPT LOAD`/`FUNCTION LOAD` on every primary, `SCRIPT EXISTS`
//! merged, and an `EVALSHA` healed when one node lost the script.

mod support;

use support::{Standalone, TestCluster, Value, array, connect, encode, owners_of, spread_keys, start_slotway, text};

const CROSSSLOT: &str = "CROSSSLOT Keys in request don't hash to the same slot";
const SET_AND_GET: &str = "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('GET', KEYS[1])";

#[test]
fn eval_evalsha_and_the_script_cache_across_primaries() {
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());
    let seed = cluster.seed();
    let primaries = cluster.primaries();
    let mut client = connect(&proxy.addr);

    // EVAL with keys of one slot (hash tag): runs on their primary.
    let both = "redis.call('SET', KEYS[1], ARGV[1]); redis.call('SET', KEYS[2], ARGV[2]); return redis.call('MGET', KEYS[1], KEYS[2])";
    let reply = client.cmd(&["EVAL", both, "2", "{user:1}:a", "{user:1}:b", "x", "y"]);
    assert_eq!(reply, Value::Array(vec![Value::bulk("x"), Value::bulk("y")]));
    let owner = &owners_of(&seed, &["{user:1}:a".to_string()])[0];
    assert_eq!(
        connect(owner).cmd(&["MGET", "{user:1}:a", "{user:1}:b"]),
        Value::Array(vec![Value::bulk("x"), Value::bulk("y")]),
        "the script ran on the owner {owner}"
    );

    // Keys in two slots: CROSSSLOT, as a node answers, and nothing runs.
    let cross = ["EVAL", both, "2", "eval:a", "eval:b", "1", "2"];
    let from_node = connect(&seed).cmd(&cross);
    assert_eq!(from_node, Value::Error(CROSSSLOT.into()), "a node's answer");
    assert_eq!(client.cmd(&cross), from_node);
    for p in &primaries {
        assert_eq!(connect(p).cmd(&["KEYS", "eval:*"]), Value::Array(vec![]), "nothing written on {p}");
    }

    // No keys: any primary runs it, with the node's answer.
    for script in [
        "return 42",
        "return {1, 'two', {3}}",
        "return redis.status_reply('FINE')",
        "return redis.error_reply('MYERR oops')",
    ] {
        assert_eq!(client.cmd(&["EVAL", script, "0"]), connect(&seed).cmd(&["EVAL", script, "0"]), "EVAL {script:?} 0");
    }

    // SCRIPT LOAD through slotway: loaded on every primary.
    let sha = text(&client.cmd(&["SCRIPT", "LOAD", SET_AND_GET]));
    assert_eq!(sha.len(), 40, "a SHA1: {sha}");
    for p in &primaries {
        assert_eq!(
            connect(p).cmd(&["SCRIPT", "EXISTS", &sha]),
            Value::Array(vec![Value::Int(1)]),
            "SCRIPT EXISTS on {p}"
        );
    }
    // EVALSHA for a key on each primary.
    let keys = spread_keys(&cluster, "sha:", 1);
    for (key, owner) in &keys {
        assert_eq!(client.cmd(&["EVALSHA", &sha, "1", key, "v1"]), Value::bulk("v1"), "EVALSHA for {key}");
        assert_eq!(connect(owner).cmd(&["GET", key]), Value::bulk("v1"), "{key} on {owner}");
    }

    // One primary loses its scripts: SCRIPT EXISTS through slotway still says 1, as
    // one server would (EVALSHA works everywhere: slotway loads it where it is missing).
    let (key, flushed) = &keys[0];
    assert_eq!(connect(flushed).cmd(&["SCRIPT", "FLUSH"]), Value::ok());
    assert_eq!(connect(flushed).cmd(&["SCRIPT", "EXISTS", &sha]), Value::Array(vec![Value::Int(0)]));
    assert_eq!(
        client.cmd(&["SCRIPT", "EXISTS", &sha]),
        Value::Array(vec![Value::Int(1)]),
        "merged: 1 if on any primary"
    );
    // EVALSHA for a key there still works: slotway loads the script again and resends.
    assert_eq!(
        client.cmd(&["EVALSHA", &sha, "1", key, "v2"]),
        Value::bulk("v2"),
        "EVALSHA after SCRIPT FLUSH on {flushed}"
    );
    assert_eq!(connect(flushed).cmd(&["GET", key]), Value::bulk("v2"));
    assert_eq!(
        connect(flushed).cmd(&["SCRIPT", "EXISTS", &sha]),
        Value::Array(vec![Value::Int(1)]),
        "healed on {flushed}"
    );
    assert_eq!(client.cmd(&["SCRIPT", "EXISTS", &sha]), Value::Array(vec![Value::Int(1)]));
    // Uppercase SHA, as Redis accepts it.
    assert_eq!(client.cmd(&["EVALSHA", &sha.to_uppercase(), "1", key, "v3"]), Value::bulk("v3"));

    // A script slotway saw only through EVAL is healed too.
    let body = "return 'from eval ' .. KEYS[1]";
    assert_eq!(client.cmd(&["EVAL", body, "1", key]), Value::bulk(&format!("from eval {key}")));
    let eval_sha = text(&connect(flushed).cmd(&["SCRIPT", "LOAD", body]));
    assert_eq!(connect(flushed).cmd(&["SCRIPT", "FLUSH"]), Value::ok());
    assert_eq!(client.cmd(&["EVALSHA", &eval_sha, "1", key]), Value::bulk(&format!("from eval {key}")));

    // An unknown SHA: the node's NOSCRIPT error, with keys and without.
    let unknown = "ffffffffffffffffffffffffffffffffffffffff";
    let node_says = connect(flushed).cmd(&["EVALSHA", unknown, "1", key]);
    assert!(node_says.text().unwrap().starts_with("NOSCRIPT"), "{node_says:?}");
    assert_eq!(client.cmd(&["EVALSHA", unknown, "1", key]), node_says);
    assert_eq!(client.cmd(&["EVALSHA", unknown, "0"]), connect(&seed).cmd(&["EVALSHA", unknown, "0"]));
    // Merged SCRIPT EXISTS keeps the order of the client's SHAs.
    assert_eq!(
        client.cmd(&["SCRIPT", "EXISTS", unknown, &sha, unknown]),
        Value::Array(vec![Value::Int(0), Value::Int(1), Value::Int(0)])
    );
    // EVALSHA with keys in two slots: CROSSSLOT before any node is asked.
    let cross = ["EVALSHA", &sha, "2", &keys[0].0, &keys[1].0, "x"];
    assert_eq!(client.cmd(&cross), Value::Error(CROSSSLOT.into()));

    // A script run by EVAL exists, as on one server, though only its key's primary has it.
    let only_here = "return 'only here'";
    let only_sha = sha1_smol::Sha1::from(only_here).digest().to_string();
    assert_eq!(client.cmd(&["EVAL", only_here, "1", key]), Value::bulk("only here"));
    let on_nodes: Vec<Value> = primaries.iter().map(|p| connect(p).cmd(&["SCRIPT", "EXISTS", &only_sha])).collect();
    assert_eq!(on_nodes.iter().filter(|v| **v == Value::Array(vec![Value::Int(1)])).count(), 1, "{on_nodes:?}");
    assert_eq!(client.cmd(&["SCRIPT", "EXISTS", &only_sha, unknown]), Value::Array(vec![Value::Int(1), Value::Int(0)]));

    // SCRIPT FLUSH through slotway: gone everywhere, and slotway forgets them too:
    // EVALSHA answers NOSCRIPT, as one server does, instead of loading them again.
    // (A refused SCRIPT FLUSH forgets nothing.)
    assert!(client.cmd(&["SCRIPT", "FLUSH", "NOW"]).is_error());
    assert_eq!(client.cmd(&["EVALSHA", &sha, "1", key, "v4"]), Value::bulk("v4"));
    assert_eq!(client.cmd(&["SCRIPT", "FLUSH"]), Value::ok());
    for p in &primaries {
        assert_eq!(
            connect(p).cmd(&["SCRIPT", "EXISTS", &sha]),
            Value::Array(vec![Value::Int(0)]),
            "after SCRIPT FLUSH on {p}"
        );
    }
    for (key, owner) in &keys {
        let reply = client.cmd(&["EVALSHA", &sha, "1", key, "v5"]);
        assert_eq!(reply, connect(owner).cmd(&["EVALSHA", &sha, "1", key, "v5"]), "EVALSHA after SCRIPT FLUSH");
        assert!(reply.text().unwrap().starts_with("NOSCRIPT"), "{reply:?}");
    }
}

/// Scripts that never ran leave nothing to heal from: an EVAL in a transaction that
/// was discarded, aborted or turned down (WATCH), or with a numkeys Redis refuses, is not in one server's
/// cache, so EVALSHA answers NOSCRIPT through slotway too. One that ran is there for
/// EVALSHA everywhere, inside a transaction too.
#[test]
fn only_scripts_that_ran_are_loaded_again() {
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());
    let redis = Standalone::start();
    let sha = |body: &str| sha1_smol::Sha1::from(body).digest().to_string();
    let (discarded, aborted, refused, ran) =
        ("return 'discarded'", "return 'aborted'", "return 'refused'", "return 'ran'");
    let turned_down = "return 'turned down'";
    let script: Vec<Vec<String>> = [
        vec!["MULTI"],
        vec!["EVAL", discarded, "0"],
        vec!["DISCARD"],
        vec!["MULTI"],
        vec!["EVAL", aborted, "0"],
        vec!["NOSUCHCMD"],
        vec!["EXEC"],
        vec!["EVAL", refused, "x"],
        vec!["EVAL", refused, "2", "{s}k"],
        vec!["MULTI"],
        vec!["EVAL", ran, "1", "{s}k"],
        vec!["EXEC"],
        // WATCH turns the transaction down: nothing ran.
        vec!["WATCH", "{s}k"],
        vec!["SET", "{s}k", "changed"],
        vec!["MULTI"],
        vec!["EVAL", turned_down, "0"],
        vec!["EXEC"],
    ]
    .into_iter()
    .map(|c| c.into_iter().map(String::from).collect())
    .chain(
        [discarded, aborted, refused, turned_down, ran]
            .map(|body| vec!["EVALSHA".into(), sha(body), "1".into(), "{s}k".into()]),
    )
    .chain([vec![
        "SCRIPT".into(),
        "EXISTS".into(),
        sha(discarded),
        sha(aborted),
        sha(refused),
        sha(turned_down),
        sha(ran),
    ]])
    .collect();
    let (mut p, mut r) = (connect(&proxy.addr), connect(&redis.addr));
    for c in &script {
        let c: Vec<&str> = c.iter().map(String::as_str).collect();
        assert_eq!(p.cmd(&c), r.cmd(&c), "{c:?}");
    }
    let last: Vec<&str> = script.last().unwrap().iter().map(String::as_str).collect();
    assert_eq!(p.cmd(&last), Value::Array([0, 0, 0, 0, 1].map(Value::Int).to_vec()));

    // EVALSHA inside a transaction, on every primary, though one alone ran the
    // script: a NOSCRIPT inside EXEC's reply could not be healed, so slotway loads
    // the script ahead of the block.
    let ran_sha = sha(ran);
    for (key, _) in spread_keys(&cluster, "tx:", 1) {
        for c in [&["MULTI"][..], &["EVALSHA", &ran_sha, "1", &key], &["EXEC"]] {
            assert_eq!(p.cmd(c), r.cmd(c), "{c:?}");
        }
    }
    let unknown = "ffffffffffffffffffffffffffffffffffffffff";
    for c in [&["MULTI"][..], &["EVALSHA", unknown, "0"], &["EXEC"]] {
        assert_eq!(p.cmd(c), r.cmd(c), "{c:?}");
    }
}

#[test]
fn functions_load_on_every_primary_and_fcall_routes_by_key() {
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());
    let seed = cluster.seed();
    let primaries = cluster.primaries();
    let mut client = connect(&proxy.addr);
    let library = "#!lua name=mylib\nredis.register_function('myfunc', function(keys, args) return args[1] end)\n\
                   redis.register_function('setget', function(keys, args) redis.call('SET', keys[1], args[1]); return redis.call('GET', keys[1]) end)";

    assert_eq!(client.cmd(&["FUNCTION", "LOAD", library]), Value::bulk("mylib"));
    for p in &primaries {
        let list = array(&connect(p).cmd(&["FUNCTION", "LIST", "LIBRARYNAME", "mylib"]));
        assert_eq!(list.len(), 1, "mylib on {p}: {list:?}");
    }
    // Loading it again: each node refuses, and the client sees that refusal.
    let again = client.cmd(&["FUNCTION", "LOAD", library]);
    assert_eq!(again, connect(&seed).cmd(&["FUNCTION", "LOAD", library]));
    assert!(again.is_error(), "{again:?}");

    assert_eq!(client.cmd(&["FCALL", "myfunc", "1", "k", "v"]), Value::bulk("v"));
    assert_eq!(client.cmd(&["FCALL", "myfunc", "0", "no keys"]), Value::bulk("no keys"));
    for (key, owner) in spread_keys(&cluster, "fn:", 1) {
        assert_eq!(client.cmd(&["FCALL", "setget", "1", &key, "val"]), Value::bulk("val"), "FCALL for {key}");
        assert_eq!(connect(&owner).cmd(&["GET", &key]), Value::bulk("val"), "{key} written on its owner {owner}");
        assert_eq!(
            client.cmd(&["FCALL_RO", "myfunc", "1", &key, "ro"]),
            connect(&owner).cmd(&["FCALL_RO", "myfunc", "1", &key, "ro"])
        );
    }
    let cross = ["FCALL", "setget", "2", "fn:a", "fn:b", "v"];
    assert_eq!(client.cmd(&cross), connect(&seed).cmd(&cross), "keys in two slots");
    assert_eq!(client.cmd(&cross), Value::Error(CROSSSLOT.into()));
    // FUNCTION LIST answers like a primary (the order of a library's functions is
    // each node's own hash order, so one of them).
    let list = client.cmd(&["FUNCTION", "LIST"]);
    assert!(
        primaries.iter().any(|p| connect(p).cmd(&["FUNCTION", "LIST"]) == list),
        "FUNCTION LIST through slotway is no primary's answer: {list:?}"
    );

    assert_eq!(client.cmd(&["FUNCTION", "FLUSH"]), Value::ok());
    for p in &primaries {
        assert_eq!(connect(p).cmd(&["FUNCTION", "LIST"]), Value::Array(vec![]), "FUNCTION LIST on {p} after FLUSH");
    }
    let gone = ["FCALL", "myfunc", "1", "k", "v"];
    let node_says = connect(&owners_of(&seed, &["k".into()])[0]).cmd(&gone);
    assert!(node_says.is_error(), "{node_says:?}");
    assert_eq!(client.cmd(&gone), node_says);
}

/// The `SCRIPT LOAD` that heals a `NOSCRIPT` goes on the connection the client's
/// `EVALSHA` came on, ahead of it: with several workers, each has its own
/// connection to the node, and a load sent on another one could arrive after the
/// resent `EVALSHA` (one redirect allowed, so a lost race shows as `NOSCRIPT`).
#[test]
fn a_healed_evalsha_finds_its_script_loaded_on_every_worker() {
    let cluster = TestCluster::start();
    let mut config = slotway::Config::with_seeds(cluster.addrs());
    config.threads = 2;
    config.max_redirects = 1;
    let proxy = support::start_slotway_with(config);
    // Consecutive clients are dealt to different workers.
    let mut clients = [connect(&proxy.addr), connect(&proxy.addr)];
    let keys = spread_keys(&cluster, "heal:", 1);
    for round in 0..15 {
        let script = format!("return 'round {round} ' .. KEYS[1]");
        let sha = text(&clients[0].cmd(&["SCRIPT", "LOAD", &script]));
        for (key, owner) in &keys {
            for (c, client) in clients.iter_mut().enumerate() {
                assert_eq!(connect(owner).cmd(&["SCRIPT", "FLUSH"]), Value::ok());
                assert_eq!(
                    client.cmd(&["EVALSHA", &sha, "1", key]),
                    Value::bulk(&format!("round {round} {key}")),
                    "client {c}, round {round}, {key} on {owner}"
                );
            }
        }
    }
}

/// `SCRIPT KILL` through slotway reaches the primary running the script (on a
/// connection of its own: that node reads no more of the one that sent the script)
/// and answers as one server: `OK`, then `NOTBUSY` once nothing runs.
#[test]
fn script_kill_stops_a_running_script_and_says_notbusy_after() {
    let cluster = TestCluster::start();
    for addr in cluster.addrs() {
        // Other connections are served (and SCRIPT KILL heard) after this long.
        assert_eq!(connect(&addr).cmd(&["CONFIG", "SET", "busy-reply-threshold", "100"]), Value::ok());
    }
    let proxy = start_slotway(cluster.addrs());
    let mut runner = connect(&proxy.addr);
    runner.send(&encode(&["EVAL", "while true do end", "0"]));
    std::thread::sleep(std::time::Duration::from_millis(400));
    let mut admin = connect(&proxy.addr);
    let started = std::time::Instant::now();
    assert_eq!(admin.cmd(&["SCRIPT", "KILL"]), Value::ok());
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "SCRIPT KILL took {:?}", started.elapsed());
    match runner.read_reply() {
        Value::Error(e) => assert!(e.contains("killed"), "{e}"),
        other => panic!("the killed script's client got {other:?}"),
    }
    // Nothing runs now: as one server says.
    match admin.cmd(&["SCRIPT", "KILL"]) {
        Value::Error(e) => assert!(e.starts_with("NOTBUSY"), "{e}"),
        other => panic!("SCRIPT KILL with nothing running: {other:?}"),
    }
    match admin.cmd(&["FUNCTION", "KILL"]) {
        Value::Error(e) => assert!(e.starts_with("NOTBUSY"), "{e}"),
        other => panic!("FUNCTION KILL with nothing running: {other:?}"),
    }
    // The runner's connection works again.
    assert_eq!(runner.cmd(&["PING"]), Value::Simple("PONG".into()));
}
