//! slotway against clusters whose nodes want a login (`--node-user`/`--node-password`):
//! every kind of node connection logs in, namely shared data connections (and the
//! fan-out over them), leased ones (WATCH, blocking commands), subscription
//! connections, READONLY connections for replica reads, topology queries after a
//! `MOVED` and after a failover, and the connections opened to a promoted replica.
//! A wrong password, or none, is a clear error naming the node and Redis's reason.
//!
//! Clusters: `testbed.sh --acl-user` (an ACL user, the `default` user off, so nothing
//! works without the login) and `testbed.sh --requirepass`.

mod support;

use std::io::{Read, Write};
use std::thread;
use std::time::{Duration, Instant};

use slotway::cluster::slot::hash_slot;
use support::{SlotwayHandle, TestCluster, Value, connect, encode, kill9_pid, start_error, start_slotway_with};

const USER: &str = "slotway-node";
const PASSWORD: &str = "node-secret-1";
/// Redis's replies to a login that fails, and to a command before any login.
const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";
const NOAUTH: &str = "NOAUTH Authentication required.";

/// slotway in front of `cluster`, logging in with `user`/`password`, then `adjust`.
fn slotway_for(
    cluster: &TestCluster,
    user: Option<&str>,
    password: Option<&str>,
    adjust: impl FnOnce(&mut slotway::Config),
) -> SlotwayHandle {
    let mut config = slotway::Config::with_seeds(cluster.addrs());
    config.node_user = user.map(str::to_string);
    config.node_password = password.map(str::to_string);
    adjust(&mut config);
    start_slotway_with(config)
}

/// One key `<prefix>:<n>` per primary, with its primary, per the cluster's own view.
fn key_per_shard(cluster: &TestCluster, prefix: &str) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = Vec::new();
    for n in 0..1000 {
        let key = format!("{prefix}:{n}");
        let owner = cluster.node_for_slot(hash_slot(key.as_bytes()));
        if !found.iter().any(|(_, o)| *o == owner) {
            found.push((key, owner));
        }
    }
    assert_eq!(found.len(), 3, "three primaries: {found:?}");
    found
}

/// A field of `INFO <section>` as text, asked over `conn`'s `INFO`.
fn info_field(info: &Value, field: &str) -> String {
    let text = info.text().unwrap_or_else(|| panic!("INFO is text: {info:?}"));
    let prefix = format!("{field}:");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("no {field} in {text}"))
}

/// `cmdstat_get` calls on `node`, asked with the cluster's login.
fn get_calls(cluster: &TestCluster, node: &str) -> u64 {
    let info = cluster.connect_node(node).cmd(&["INFO", "commandstats"]);
    let text = info.text().unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("cmdstat_get:calls="))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Polls `done` every 20 ms for up to `limit`; panics with `what` when it never holds.
fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out after {limit:?} waiting for {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn every_connection_logs_in_to_an_acl_user_cluster() {
    let cluster = TestCluster::start_acl_user(USER, PASSWORD);
    // Nothing works on the nodes without the login: the test would prove nothing otherwise.
    assert_eq!(connect(&cluster.seed()).cmd(&["GET", "x"]), Value::Error(NOAUTH.into()));
    // Stale on purpose: only a MOVED makes slotway ask for the topology again.
    let proxy = slotway_for(&cluster, Some(USER), Some(PASSWORD), |c| c.refresh_interval_s = 3600);
    let mut c = connect(&proxy.addr);

    // GET/SET on every shard; each value is on its owning primary.
    let keys = key_per_shard(&cluster, "auth");
    for (key, owner) in &keys {
        assert_eq!(c.cmd(&["SET", key, &format!("v-{key}")]), Value::ok());
        assert_eq!(c.cmd(&["GET", key]), Value::bulk(&format!("v-{key}")));
        assert_eq!(cluster.connect_node(owner).cmd(&["GET", key]), Value::bulk(&format!("v-{key}")), "on {owner}");
    }

    // The nodes' Redis version, which slotway asks the primaries for before it serves.
    let node_version = info_field(&cluster.connect_node(&cluster.seed()).cmd(&["INFO", "server"]), "redis_version");
    assert_eq!(info_field(&c.cmd(&["INFO", "server"]), "redis_version"), node_version);

    // MSET/MGET split over the three shards and merged.
    let names: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
    let mut mset = vec!["MSET"];
    for k in &names {
        mset.extend([*k, "m"]);
    }
    assert_eq!(c.cmd(&mset), Value::ok());
    assert_eq!(c.cmd(&[&["MGET"][..], &names].concat()), Value::Array(vec![Value::bulk("m"); 3]));

    // A RESP3 client: its node connections log in, then say HELLO 3 (a map reply).
    assert_eq!(c.cmd(&["HSET", "auth:hash", "f", "v"]), Value::Int(1));
    let mut resp3 = std::net::TcpStream::connect(&proxy.addr).expect("connect to slotway");
    resp3.set_read_timeout(Some(Duration::from_secs(5))).expect("read timeout");
    resp3.write_all(&[encode(&["HELLO", "3"]), encode(&["HGETALL", "auth:hash"])].concat()).expect("write");
    let mut got = Vec::new();
    let want = b"%1\r\n$1\r\nf\r\n$1\r\nv\r\n";
    while !got.ends_with(want) {
        let mut chunk = [0u8; 4096];
        let n = resp3
            .read(&mut chunk)
            .unwrap_or_else(|e| panic!("RESP3 HGETALL: {e}; got {:?}", String::from_utf8_lossy(&got)));
        assert!(n > 0, "slotway closed the RESP3 connection: {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&chunk[..n]);
    }

    // MULTI/EXEC on one hash tag.
    assert_eq!(c.cmd(&["MULTI"]), Value::Simple("OK".into()));
    assert_eq!(c.cmd(&["SET", "{tx}a", "1"]), Value::Simple("QUEUED".into()));
    assert_eq!(c.cmd(&["INCR", "{tx}b"]), Value::Simple("QUEUED".into()));
    assert_eq!(c.cmd(&["EXEC"]), Value::Array(vec![Value::ok(), Value::Int(1)]));

    // WATCH (a leased connection): a write by another client aborts the EXEC.
    let mut other = connect(&proxy.addr);
    assert_eq!(c.cmd(&["WATCH", "{w}k"]), Value::ok());
    assert_eq!(other.cmd(&["SET", "{w}k", "theirs"]), Value::ok());
    assert_eq!(c.cmd(&["MULTI"]), Value::ok());
    assert_eq!(c.cmd(&["SET", "{w}k", "mine"]), Value::Simple("QUEUED".into()));
    assert_eq!(c.cmd(&["EXEC"]), Value::Nil, "the WATCH ran on the node");
    assert_eq!(c.cmd(&["WATCH", "{w}k"]), Value::ok());
    assert_eq!(c.cmd(&["MULTI"]), Value::ok());
    assert_eq!(c.cmd(&["SET", "{w}k", "mine"]), Value::Simple("QUEUED".into()));
    assert_eq!(c.cmd(&["EXEC"]), Value::Array(vec![Value::ok()]));

    // BLPOP (a leased connection) blocks on the node until another client's LPUSH.
    let list_owner = cluster.node_for_slot(hash_slot(b"auth:list"));
    let addr = proxy.addr.clone();
    let popper = thread::spawn(move || connect(&addr).cmd(&["BLPOP", "auth:list", "10"]));
    wait_until(Duration::from_secs(5), "BLPOP to block on its node", || {
        info_field(&cluster.connect_node(&list_owner).cmd(&["INFO", "clients"]), "blocked_clients") == "1"
    });
    assert_eq!(other.cmd(&["LPUSH", "auth:list", "woken"]), Value::Int(1));
    let popped = popper.join().expect("BLPOP thread");
    assert_eq!(popped, Value::Array(vec![Value::bulk("auth:list"), Value::bulk("woken")]));

    // SUBSCRIBE (a subscription connection) gets a PUBLISH from another client.
    let mut sub = connect(&proxy.addr);
    let confirm = sub.cmd(&["SUBSCRIBE", "auth:ch"]);
    assert_eq!(confirm, Value::Array(vec![Value::bulk("subscribe"), Value::bulk("auth:ch"), Value::Int(1)]));
    assert_eq!(other.cmd(&["PUBLISH", "auth:ch", "hello"]), Value::Int(1));
    let message = sub.read_reply();
    assert_eq!(message, Value::Array(vec![Value::bulk("message"), Value::bulk("auth:ch"), Value::bulk("hello")]));

    // SCAN over every primary finds every key.
    let mut seen = Vec::new();
    let mut cursor = "0".to_string();
    for _ in 0..10_000 {
        let Value::Array(reply) = c.cmd(&["SCAN", &cursor, "MATCH", "auth:*", "COUNT", "100"]) else {
            panic!("SCAN reply is not an array");
        };
        let (Some(next), Value::Array(found)) = (reply[0].text(), &reply[1]) else { panic!("SCAN reply {reply:?}") };
        seen.extend(found.iter().filter_map(Value::text));
        cursor = next;
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(cursor, "0", "SCAN finished");
    seen.sort();
    let mut want: Vec<String> = names.iter().map(|k| k.to_string()).chain(["auth:hash".to_string()]).collect();
    want.sort();
    assert_eq!(seen, want);

    // Replica reads: READONLY connections to the replicas log in too.
    let replicas_proxy =
        slotway_for(&cluster, Some(USER), Some(PASSWORD), |c| c.read_from = slotway::config::ReadFrom::PreferReplica);
    let mut r = connect(&replicas_proxy.addr);
    let replicas = cluster.replicas();
    let on_replicas = || replicas.iter().map(|n| get_calls(&cluster, n)).sum::<u64>();
    let before = on_replicas();
    for (key, _) in &keys {
        // Replication is asynchronous: the replica may not have the MSET yet.
        wait_until(Duration::from_secs(5), &format!("{key} read from its replica"), || {
            r.cmd(&["GET", key]) == Value::bulk("m")
        });
    }
    assert!(on_replicas() >= before + 3, "the GETs were answered by replicas");

    // A slot moved behind slotway's back: it follows the MOVED and refreshes.
    let info = |c: &mut support::RawConn, field: &str| info_field(&c.cmd(&["INFO", "slotway"]), field);
    let version = info(&mut c, "topology_version");
    let (key, src) = &keys[0];
    let dst = &keys[1].1;
    let slot = hash_slot(key.as_bytes()).to_string();
    assert_eq!(c.cmd(&["DEL", key]), Value::Int(1), "the slot is empty: SETSLOT NODE moves it");
    let dst_id = cluster.node_id(dst);
    // IMPORTING first, so the new owner bumps its config epoch when it takes the slot
    // (without it, gossip can hand the slot back and the nodes redirect to each other).
    assert_eq!(cluster.redis_cli(dst, &["CLUSTER", "SETSLOT", &slot, "IMPORTING", &cluster.node_id(src)]).trim(), "OK");
    assert_eq!(cluster.redis_cli(src, &["CLUSTER", "SETSLOT", &slot, "MIGRATING", &dst_id]).trim(), "OK");
    for node in cluster.primaries().iter().filter(|p| *p != src).chain([src]) {
        assert_eq!(cluster.redis_cli(node, &["CLUSTER", "SETSLOT", &slot, "NODE", &dst_id]).trim(), "OK", "{node}");
    }
    assert!(cluster.redis_cli(src, &["GET", key]).contains("MOVED"), "the old owner redirects");
    assert_eq!(c.cmd(&["SET", key, "moved"]), Value::ok());
    assert_eq!(cluster.connect_node(dst).cmd(&["GET", key]), Value::bulk("moved"), "written on the new owner");
    wait_until(Duration::from_secs(5), "the MOVED refresh to change the topology", || {
        info(&mut c, "topology_version") != version
    });
    assert_eq!(info(&mut c, "topology_refresh_failures"), "0");
}

#[test]
fn writes_resume_on_the_promoted_replica_of_an_acl_user_cluster() {
    let cluster = TestCluster::start_acl_user(USER, PASSWORD);
    let proxy = slotway_for(&cluster, Some(USER), Some(PASSWORD), |_| {});
    let mut c = connect(&proxy.addr);
    let (key, primary) = key_per_shard(&cluster, "fo").remove(0);
    assert_eq!(c.cmd(&["SET", &key, "before"]), Value::ok());
    let primary_id = cluster.node_id(&primary);
    let replica = cluster
        .nodes()
        .into_iter()
        .find(|n| n.master_id.as_deref() == Some(primary_id.as_str()))
        .map(|n| n.addr)
        .expect("the primary has a replica");

    let pid = cluster.pid_of(&primary).expect("the primary's pidfile");
    kill9_pid(pid, &primary);
    let killed = Instant::now();
    // Node timeout 2 s, then the election: 15 s is plenty, yet bounded.
    let limit = Duration::from_secs(15);
    let mut last = Value::Nil;
    let mut n = 0;
    while last != Value::ok() {
        assert!(killed.elapsed() < limit, "no write succeeded within {limit:?} of the kill; last reply {last:?}");
        n += 1;
        last = c.cmd(&["SET", &key, &format!("after-{n}")]);
        if last != Value::ok() {
            let text = last.text().unwrap_or_default();
            assert!(!text.contains("NOAUTH") && !text.contains("WRONGPASS"), "a connection did not log in: {text}");
            thread::sleep(Duration::from_millis(50));
        }
    }
    eprintln!("first write after kill -9 succeeded after {:?}", killed.elapsed());
    assert_eq!(cluster.node_for_slot(hash_slot(key.as_bytes())), replica, "the replica was promoted");
    assert_eq!(cluster.connect_node(&replica).cmd(&["GET", &key]), Value::bulk(&format!("after-{n}")));
    // A new client, new connections: still logged in everywhere.
    let mut fresh = connect(&proxy.addr);
    for (k, _) in key_per_shard(&cluster, "after") {
        assert_eq!(fresh.cmd(&["SET", &k, "1"]), Value::ok(), "{k}");
    }
}

#[test]
fn a_requirepass_cluster_takes_the_password_alone() {
    let cluster = TestCluster::start_requirepass(PASSWORD);
    assert_eq!(connect(&cluster.seed()).cmd(&["GET", "x"]), Value::Error(NOAUTH.into()));
    let proxy = slotway_for(&cluster, None, Some(PASSWORD), |_| {});
    let mut c = connect(&proxy.addr);
    for (key, owner) in key_per_shard(&cluster, "rp") {
        assert_eq!(c.cmd(&["SET", &key, "v"]), Value::ok());
        assert_eq!(c.cmd(&["GET", &key]), Value::bulk("v"));
        assert_eq!(cluster.connect_node(&owner).cmd(&["GET", &key]), Value::bulk("v"), "on {owner}");
    }

    // A wrong password stops the start, naming the node and Redis's reason.
    let mut config = slotway::Config::with_seeds([cluster.seed()]);
    config.node_password = Some("not-the-password".into());
    let e = start_error(config);
    assert!(e.contains(&cluster.seed()) && e.contains(WRONGPASS), "{e}");
}

#[test]
fn a_wrong_login_or_none_is_a_clear_error() {
    let cluster = TestCluster::start_acl_user(USER, PASSWORD);
    let seed = cluster.seed();
    let config = |user: Option<&str>, password: Option<&str>| {
        let mut config = slotway::Config::with_seeds([seed.clone()]);
        config.node_user = user.map(str::to_string);
        config.node_password = password.map(str::to_string);
        config
    };
    for (user, password, reason) in [
        (Some(USER), Some("wrong"), WRONGPASS),
        (Some("nobody"), Some(PASSWORD), WRONGPASS),
        // The default user is off: a password alone logs in as it and fails.
        (None, Some(PASSWORD), WRONGPASS),
        (None, None, NOAUTH),
        // A user without a password is no login at all.
        (Some(USER), None, NOAUTH),
    ] {
        let started = Instant::now();
        let e = start_error(config(user, password));
        assert!(e.contains(&seed) && e.contains(reason), "{user:?}/{password:?}: {e}");
        assert!(started.elapsed() < Duration::from_secs(5), "{user:?}/{password:?} took {:?}", started.elapsed());
    }
}

#[test]
fn a_login_the_nodes_stop_accepting_is_a_clear_error() {
    let cluster = TestCluster::start_acl_user(USER, PASSWORD);
    // slotway's own user, so the test keeps its login while slotway's changes.
    let set_password = |password: &str| {
        for node in cluster.addrs() {
            let set = ["ACL", "SETUSER", "rotating", "on", "resetpass", &format!(">{password}"), "~*", "&*", "+@all"];
            assert_eq!(cluster.redis_cli(&node, &set).trim(), "OK", "{node}");
        }
    };
    set_password("old");
    let proxy = slotway_for(&cluster, Some("rotating"), Some("old"), |c| c.unreachable_wait_ms = 300);
    let mut c = connect(&proxy.addr);
    let (key, owner) = key_per_shard(&cluster, "rot").remove(0);
    assert_eq!(c.cmd(&["SET", &key, "1"]), Value::ok());

    // The password changes on the nodes, and slotway's connections are dropped.
    set_password("new");
    for node in cluster.addrs() {
        let killed = cluster.redis_cli(&node, &["CLIENT", "KILL", "USER", "rotating"]);
        assert!(killed.trim().parse::<u32>().is_ok(), "{node}: {killed}");
    }
    let started = Instant::now();
    let reply = c.cmd(&["GET", &key]);
    let text = reply.text().unwrap_or_default();
    assert!(reply.is_error() && text.contains(&owner) && text.contains(WRONGPASS), "{reply:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "answered in {:?}", started.elapsed());

    // The old password back: slotway logs in again by itself.
    set_password("old");
    wait_until(Duration::from_secs(10), "GET to work again", || c.cmd(&["GET", &key]) == Value::bulk("1"));
}
