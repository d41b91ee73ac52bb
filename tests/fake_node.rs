//! Redirects and node failures staged with scripted fake nodes
//! (`tests/support/fake_node.rs`): what a real cluster cannot do on demand, such as
//! `TRYAGAIN` exactly once, `MOVED` in a loop, half a reply or none. The client must
//! see what it would see from one Redis: values in request order, and slotway's own
//! errors when a node misbehaves, never a redirect or a garbled reply.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use support::{
    Action, FakeCluster, RawConn, SlotwayHandle, Then, Value, answer_as_owner, connect, encode, fake_value, get_key,
    hash_slot, is_cmd, plain_node, script, show, start_slotway_with, wait_until,
};

/// slotway in front of `cluster`, refreshing its topology only when something asks it
/// to (a redirect, a lost connection), so a layout change goes unseen until then.
/// Ready when this returns.
fn slotway(cluster: &FakeCluster, adjust: impl FnOnce(&mut slotway::Config)) -> SlotwayHandle {
    let mut config = slotway::Config::with_seeds(cluster.seeds());
    config.refresh_interval_s = 3600;
    config.shutdown_grace_ms = 100;
    adjust(&mut config);
    let proxy = start_slotway_with(config);
    // Answered once slotway has its topology and accepts clients.
    assert_eq!(connect(&proxy.addr).cmd(&["PING"]), Value::Simple("PONG".into()));
    proxy
}

fn get(client: &mut RawConn, key: &str) -> Value {
    client.cmd(&["GET", key])
}

/// Longer than slotway takes to drop a broken node connection; see
/// `a_command_sent_right_after_a_lost_connection_reaches_the_node`.
const SETTLE: Duration = Duration::from_millis(100);

/// True the first time only: a script's one-off misbehaviour.
fn first_time(flag: &AtomicBool) -> bool {
    !flag.swap(true, Ordering::SeqCst)
}

#[test]
fn moved_is_followed_and_the_topology_is_asked_again() {
    let cluster = FakeCluster::start(vec![plain_node(), plain_node()]);
    let proxy = slotway(&cluster, |_| {});
    let key = cluster.key_on(0, "moved");
    let queries = cluster.count("CLUSTER SLOTS");
    // The slot moves behind slotway's back: node 0 now answers MOVED to node 1.
    cluster.assign(hash_slot(&key), 1);
    let mut client = connect(&proxy.addr);
    assert_eq!(get(&mut client, &key), Value::bulk(&fake_value(&key, 1)));
    assert_eq!(cluster.nodes[0].count(&format!("GET {key}")), 1, "slotway asks the old owner first");

    let asked = wait_until(Duration::from_secs(3), || cluster.count("CLUSTER SLOTS") > queries);
    assert!(asked, "no CLUSTER SLOTS within 3 s of a MOVED");
    // Once it has the new layout, the key goes straight to its new owner.
    let direct = wait_until(Duration::from_secs(3), || {
        let before = cluster.nodes[0].count(&format!("GET {key}"));
        assert_eq!(get(&mut client, &key), Value::bulk(&fake_value(&key, 1)));
        cluster.nodes[0].count(&format!("GET {key}")) == before
    });
    assert!(direct, "still sent to the old owner 3 s after the refresh");
}

#[test]
fn ask_is_retried_after_asking_on_the_same_connection_and_only_once() {
    // Node 0 is migrating the slot: it answers ASK the first time (that key has left),
    // then serves the key itself (as it serves keys not moved yet).
    let asked = Arc::new(AtomicBool::new(false));
    let migrating = script(move |args, ctx| match get_key(args) {
        Some(key) if first_time(&asked) => Some(ctx.ask(key, 1)),
        _ => answer_as_owner(args, ctx),
    });
    // The importing node serves the slot only right after ASKING, as Redis does;
    // without it, it sends the client back to the owner.
    let importing = script(|args, ctx| match get_key(args) {
        Some(key) if ctx.after_asking() => Some(Action::bulk(&fake_value(key, 1))),
        _ => answer_as_owner(args, ctx),
    });
    let cluster = FakeCluster::start(vec![migrating, importing]);
    let proxy = slotway(&cluster, |_| {});
    let key = cluster.key_on(0, "ask");
    let mut client = connect(&proxy.addr);

    assert_eq!(get(&mut client, &key), Value::bulk(&fake_value(&key, 1)));
    let on_target = cluster.nodes[1].connections();
    let conn = on_target.iter().find(|c| c.iter().any(|r| is_cmd(r, &format!("GET {key}"))));
    let conn = conn.expect("the GET reached the importing node");
    let at = conn.iter().position(|r| is_cmd(r, &format!("GET {key}"))).unwrap();
    let before = conn[..at].last().map(|r| show(r));
    assert_eq!(before.as_deref(), Some("ASKING"), "what preceded the GET on its connection: {conn:?}");

    // ASK is for that one command: the next GET goes to the owner again.
    assert_eq!(get(&mut client, &key), Value::bulk(&fake_value(&key, 0)));
    assert_eq!(cluster.nodes[0].count(&format!("GET {key}")), 2);
    assert_eq!(cluster.nodes[1].count(&format!("GET {key}")), 1);
    assert_eq!(cluster.nodes[0].count("ASKING"), 0, "ASKING only to the node named by ASK");
}

#[test]
fn tryagain_once_is_retried_and_the_client_gets_the_value() {
    let refused = Arc::new(AtomicBool::new(false));
    let node = script(move |args, ctx| match get_key(args) {
        Some(_) if first_time(&refused) => {
            Some(Action::error("TRYAGAIN Multiple keys request during rehashing of slot"))
        }
        _ => answer_as_owner(args, ctx),
    });
    let cluster = FakeCluster::start(vec![node]);
    let proxy = slotway(&cluster, |_| {});
    let key = cluster.key_on(0, "retry");
    assert_eq!(get(&mut connect(&proxy.addr), &key), Value::bulk(&fake_value(&key, 0)));
    assert_eq!(cluster.nodes[0].count(&format!("GET {key}")), 2, "the one TRYAGAIN, then the retry");
}

#[test]
fn a_redirect_loop_ends_in_slotways_tryagain_after_max_redirects() {
    let to = |other: usize| script(move |args, ctx| get_key(args).map(|key| ctx.moved(key, other)));
    let cluster = FakeCluster::start(vec![to(1), to(0)]);
    let proxy = slotway(&cluster, |c| c.max_redirects = 3);
    let key = cluster.key_on(0, "loop");
    let mut client = connect(&proxy.addr);

    let start = Instant::now();
    let reply = get(&mut client, &key);
    assert_eq!(
        reply,
        Value::Error("TRYAGAIN slotway followed 3 redirects for this command without reaching its node".into())
    );
    assert!(start.elapsed() < Duration::from_secs(3), "took {:?}", start.elapsed());
    // The first try and three redirects followed, no more.
    assert_eq!(cluster.count(&format!("GET {key}")), 4);
    assert_eq!(client.cmd(&["PING"]), Value::Simple("PONG".into()), "the client is still served");
}

#[test]
fn a_node_that_never_replies_times_out_while_other_nodes_serve() {
    const REPLY_TIMEOUT: Duration = Duration::from_millis(1000);
    let hanging = script(|args, ctx| match get_key(args) {
        Some(key) if key.starts_with("hang") => Some(Action::NoReply),
        _ => answer_as_owner(args, ctx),
    });
    let cluster = FakeCluster::start(vec![plain_node(), hanging]);
    let proxy = slotway(&cluster, |c| c.reply_timeout_ms = REPLY_TIMEOUT.as_millis() as u64);
    let (hang, later, elsewhere) = (cluster.key_on(1, "hang"), cluster.key_on(1, "later"), cluster.key_on(0, "a"));
    let mut stuck = connect(&proxy.addr);
    let mut other = connect(&proxy.addr);

    let start = Instant::now();
    stuck.send(&encode(&["GET", &hang]));
    assert!(wait_until(Duration::from_secs(2), || cluster.nodes[1].count(&format!("GET {hang}")) == 1));
    assert_eq!(get(&mut other, &elsewhere), Value::bulk(&fake_value(&elsewhere, 0)));
    assert!(start.elapsed() < REPLY_TIMEOUT, "the other node's slots are served meanwhile");

    let reply = stuck.read_reply();
    let waited = start.elapsed();
    let addr = &cluster.nodes[1].addr;
    assert_eq!(
        reply,
        Value::Error(format!("ERR node {addr} did not reply in time; the command may or may not have run"))
    );
    assert!(waited >= REPLY_TIMEOUT - Duration::from_millis(50), "timed out after {waited:?}");
    assert!(waited < REPLY_TIMEOUT + Duration::from_secs(2), "timed out after {waited:?}");

    // The hung connection is given up; the node's next command goes on a new one
    // (after a moment: see `a_command_sent_right_after_a_lost_connection_reaches_the_node`).
    std::thread::sleep(SETTLE);
    assert_eq!(get(&mut stuck, &later), Value::bulk(&fake_value(&later, 1)));
    let (hung_on, served_on) =
        (cluster.nodes[1].conns_of(&format!("GET {hang}")), cluster.nodes[1].conns_of(&format!("GET {later}")));
    assert_ne!(hung_on, served_on);
}

#[test]
fn a_half_written_reply_then_a_close_is_a_lost_connection_not_a_garbled_reply() {
    let cut = Arc::new(AtomicBool::new(false));
    // The start of `$11\r\nhello world\r\n`, then the node goes away.
    let node = script(move |args, ctx| match get_key(args) {
        Some(_) if first_time(&cut) => Some(Action::HalfReply(b"$11\r\nhello w".to_vec(), Then::Close)),
        _ => answer_as_owner(args, ctx),
    });
    let cluster = FakeCluster::start(vec![node]);
    let proxy = slotway(&cluster, |_| {});
    let key = cluster.key_on(0, "half");
    let mut client = connect(&proxy.addr);

    let addr = &cluster.nodes[0].addr;
    let lost = format!("ERR slotway lost the connection to node {addr}; the command may or may not have run");
    assert_eq!(get(&mut client, &key), Value::Error(lost));
    std::thread::sleep(SETTLE);
    assert_eq!(get(&mut client, &key), Value::bulk(&fake_value(&key, 0)), "served again, on a new connection");
    let conns = cluster.nodes[0].conns_of(&format!("GET {key}"));
    assert!(conns.len() == 2 && conns[0] != conns[1], "the GETs' connections: {conns:?}");
}

/// A command sent right after the client got `ConnectionLost` is the node's next
/// command, on a new connection, and must be served like any other.
///
/// Fails as of this writing: for under a millisecond after that reply, the broken
/// connection's writer still takes commands off the node's queue, and one it takes
/// never reaches a node yet is answered `ConnectionLost` ("may or may not have
/// run"; naming "node cluster node" when its reply channel is dropped). One round in
/// a few hits that window here; two hundred make the test fail reliably. (The tests
/// above pause [`SETTLE`] before such a command.)
#[test]
fn a_command_sent_right_after_a_lost_connection_reaches_the_node() {
    const ROUNDS: usize = 200;
    // The first GET of each key gets half a reply and a closed connection.
    let cut = Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    let node = script(move |args, ctx| match get_key(args) {
        Some(key) if cut.lock().unwrap().insert(key.to_string()) => {
            Some(Action::HalfReply(b"$11\r\nhello w".to_vec(), Then::Close))
        }
        _ => answer_as_owner(args, ctx),
    });
    let cluster = FakeCluster::start(vec![node]);
    let proxy = slotway(&cluster, |_| {});
    let mut client = connect(&proxy.addr);
    let addr = &cluster.nodes[0].addr;
    let lost = format!("ERR slotway lost the connection to node {addr}; the command may or may not have run");
    for (round, key) in cluster.keys_on(0, "cut", ROUNDS).iter().enumerate() {
        assert_eq!(get(&mut client, key), Value::Error(lost.clone()), "round {round}: the cut reply");
        let reply = get(&mut client, key);
        let log: Vec<Vec<String>> =
            cluster.nodes[0].connections().iter().map(|c| c.iter().map(|r| show(r)).collect()).collect();
        assert_eq!(reply, Value::bulk(&fake_value(key, 0)), "round {round}; what the node received: {log:?}");
    }
}

/// A node that answers as [`plain_node`] does, each reply `pause` late: replies
/// from elsewhere come first unless slotway keeps them in order.
fn slow_node(pause: Duration) -> support::Script {
    script(move |args, ctx| match answer_as_owner(args, ctx)? {
        Action::Reply(bytes) => Some(Action::DelayThenReply(pause, bytes)),
        other => Some(other),
    })
}

#[test]
fn a_pipeline_across_a_moved_slot_is_answered_in_request_order() {
    let cluster = FakeCluster::start(vec![plain_node(), slow_node(Duration::from_millis(100))]);
    let proxy = slotway(&cluster, |_| {});
    let keys = cluster.keys_on(0, "p", 6);
    // Every other key's slot has moved to the slow node, unknown to slotway.
    for key in keys.iter().skip(1).step_by(2) {
        cluster.assign(hash_slot(key), 1);
    }
    let mut client = connect(&proxy.addr);
    client.send(&keys.iter().flat_map(|k| encode(&["GET", k])).collect::<Vec<u8>>());
    for key in &keys {
        assert_eq!(client.read_reply(), Value::bulk(&fake_value(key, cluster.owner(key))), "reply to GET {key}");
    }
    assert_eq!(cluster.nodes[0].count(&format!("GET {}", keys[1])), 1, "the first moved key met a MOVED");
}

#[test]
fn moved_inside_pipelines_of_several_clients_gives_each_its_own_replies() {
    let cluster = FakeCluster::start(vec![plain_node(), slow_node(Duration::from_millis(20))]);
    let proxy = slotway(&cluster, |_| {});
    // Each client's keys name it, so a reply delivered to the wrong client shows.
    let keys: Vec<Vec<String>> = (0..4).map(|c| cluster.keys_on(0, &format!("client{c}"), 4)).collect();
    let moved: Vec<&String> = keys.iter().flat_map(|k| [&k[1], &k[2]]).collect();
    for key in &moved {
        cluster.assign(hash_slot(key), 1);
    }
    let mut clients: Vec<RawConn> = keys.iter().map(|_| connect(&proxy.addr)).collect();
    // All pipelines are sent before any reply is read: they meet on the node connections.
    for (client, keys) in clients.iter_mut().zip(&keys) {
        client.send(&keys.iter().flat_map(|k| encode(&["GET", k])).collect::<Vec<u8>>());
    }
    for (c, (client, keys)) in clients.iter_mut().zip(&keys).enumerate() {
        for key in keys {
            let want = Value::bulk(&fake_value(key, cluster.owner(key)));
            assert_eq!(client.read_reply(), want, "client {c}, GET {key}");
        }
    }
    let redirected = moved.iter().filter(|k| cluster.nodes[0].count(&format!("GET {k}")) > 0).count();
    assert!(redirected > 0, "no GET met a MOVED: the test staged nothing");
}
