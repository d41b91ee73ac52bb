//! Pub/sub through slotway against a real cluster: subscribed mode as Redis has it
//! (RESP2 and RESP3), shard channels, node connections shared by many subscribers,
//! subscriptions that survive a failover, a slow subscriber cut off at its output
//! limit, keyspace notifications merged from every primary, and PUBSUB introspection.

mod support;

use std::collections::{HashMap, HashSet};
use std::io::{self, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use slotway::protocol::reply::ReplyScanner;
use support::{
    RawConn, TestCluster, Value, client_list, connect, encode, keyslot, parse_reply, start_slotway, start_slotway_with,
    vm_rss_kib,
};

// ---------------------------------------------------------------------------------
// Helpers

/// An array of bulk strings, optionally followed by an integer: the shape of every
/// RESP2 pub/sub confirmation and message.
fn arr(items: &[&str], count: Option<i64>) -> Value {
    let mut v: Vec<Value> = items.iter().map(|s| Value::bulk(s)).collect();
    v.extend(count.map(Value::Int));
    Value::Array(v)
}

fn message(channel: &str, payload: &str) -> Value {
    arr(&["message", channel, payload], None)
}

/// A subscriber connection whose replies are read by a thread of its own, so the
/// test can wait for "the next message, for at most this long" without a read
/// timeout cutting a frame in half.
struct Feed {
    writer: TcpStream,
    rx: mpsc::Receiver<io::Result<Value>>,
}

impl Feed {
    fn connect(addr: &str) -> Feed {
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
        stream.set_nodelay(true).unwrap();
        let writer = stream.try_clone().unwrap();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut reader = BufReader::new(stream);
            loop {
                let reply = parse_reply(&mut reader);
                let end = reply.is_err();
                if tx.send(reply).is_err() || end {
                    return;
                }
            }
        });
        Feed { writer, rx }
    }

    fn send(&mut self, args: &[&str]) {
        self.writer.write_all(&encode(args)).expect("write to slotway");
    }

    /// The next reply, waiting at most `within`; panics on timeout or a closed connection.
    fn next(&self, within: Duration) -> Value {
        match self.rx.recv_timeout(within) {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => panic!("subscriber connection failed: {e}"),
            Err(_) => panic!("nothing arrived within {within:?}"),
        }
    }

    /// Everything that has arrived by now, without waiting.
    fn drain(&self) -> Vec<Value> {
        let mut out = Vec::new();
        while let Ok(reply) = self.rx.try_recv() {
            out.push(reply.unwrap_or_else(|e| panic!("subscriber connection failed: {e}")));
        }
        out
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        // Wakes the reader thread with EOF.
        let _ = self.writer.shutdown(Shutdown::Both);
    }
}

/// Subscription counts of a `CLIENT LIST` line. Redis 7.0 reports `sub=`, `psub=`
/// and `ssub=` (checked against redis-server 7.0.15).
fn sub_counts(client: &HashMap<String, String>) -> (u64, u64, u64) {
    let n = |k: &str| client.get(k).and_then(|v| v.parse().ok()).unwrap_or(0);
    (n("sub"), n("psub"), n("ssub"))
}

/// Connections on `node` that carry subscriptions.
fn subscription_conns(node: &str) -> usize {
    client_list(node)
        .iter()
        .filter(|c| {
            let (s, p, ss) = sub_counts(c);
            let cmd = c.get("cmd").map_or("", String::as_str);
            s + p + ss > 0 || matches!(cmd, "subscribe" | "psubscribe" | "ssubscribe")
        })
        .count()
}

/// `count` keys (named from `prefix`) owned by the primary `node`.
fn keys_on(cluster: &TestCluster, node: &str, prefix: &str, count: usize) -> Vec<String> {
    let seed = cluster.seed();
    let owners: HashMap<u16, String> = cluster
        .nodes()
        .into_iter()
        .filter(|n| n.is_primary())
        .flat_map(|n| n.slots.iter().flat_map(|&(a, b)| a..=b).map(move |s| (s, n.addr.clone())).collect::<Vec<_>>())
        .collect();
    let keys: Vec<String> =
        (0..).map(|i| format!("{prefix}{i}")).filter(|k| owners[&keyslot(&seed, k)] == node).take(count).collect();
    keys
}

// ---------------------------------------------------------------------------------
// 1. Subscribed mode in RESP2

#[test]
fn subscribe_publish_psubscribe_unsubscribe_in_resp2() {
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());
    let mut sub = connect(&proxy.addr);
    let mut publisher = connect(&proxy.addr);

    sub.send(&encode(&["SUBSCRIBE", "news", "notes"]));
    assert_eq!(sub.read_reply(), arr(&["subscribe", "news"], Some(1)));
    assert_eq!(sub.read_reply(), arr(&["subscribe", "notes"], Some(2)));

    assert_eq!(publisher.cmd(&["PUBLISH", "notes", "first"]), Value::Int(1));
    assert_eq!(sub.read_reply(), message("notes", "first"));

    sub.send(&encode(&["PSUBSCRIBE", "n*"]));
    assert_eq!(sub.read_reply(), arr(&["psubscribe", "n*"], Some(3)));
    // A channel that only the pattern matches ...
    publisher.cmd(&["PUBLISH", "nx", "by pattern"]);
    assert_eq!(sub.read_reply(), arr(&["pmessage", "n*", "nx", "by pattern"], None));
    // ... and one matching both: Redis sends the message, then the pmessage.
    publisher.cmd(&["PUBLISH", "news", "both"]);
    assert_eq!(sub.read_reply(), message("news", "both"));
    assert_eq!(sub.read_reply(), arr(&["pmessage", "n*", "news", "both"], None));

    // Other commands are refused in RESP2 subscribed mode, in the words of a real node.
    let refusal = sub.cmd(&["GET", "k"]);
    // Asked of the node owning `k`: a cluster node checks the slot first (MOVED).
    let owner = cluster.slot_owner_now(keyslot(&cluster.seed(), "k")).unwrap();
    let mut direct = connect(&owner);
    direct.send(&encode(&["SUBSCRIBE", "elsewhere"]));
    direct.read_reply();
    let node_refusal = direct.cmd(&["GET", "k"]);
    assert_eq!(
        refusal,
        Value::Error(
            "ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
                .into()
        )
    );
    assert_eq!(refusal, node_refusal, "slotway's refusal differs from a real node's");
    assert_eq!(sub.cmd(&["PING"]), arr(&["pong", ""], None));
    assert_eq!(direct.cmd(&["PING"]), arr(&["pong", ""], None), "what a real node answers");
    assert_eq!(sub.cmd(&["PING", "hi"]), arr(&["pong", "hi"], None));
    let wrong_arity = Value::Error("ERR wrong number of arguments for 'ping' command".into());
    assert_eq!(sub.cmd(&["PING", "a", "b"]), wrong_arity);
    assert_eq!(direct.cmd(&["PING", "a", "b"]), wrong_arity, "what a real node answers");

    assert_eq!(sub.cmd(&["PUNSUBSCRIBE"]), arr(&["punsubscribe", "n*"], Some(2)));
    // UNSUBSCRIBE without arguments: one confirmation per channel, counts going down
    // (channel order is the server's choice).
    sub.send(&encode(&["UNSUBSCRIBE"]));
    let mut left = HashSet::from(["news".to_string(), "notes".to_string()]);
    for count in [1, 0] {
        let Value::Array(items) = sub.read_reply() else { panic!("unsubscribe confirmation is an array") };
        assert_eq!(items.len(), 3, "{items:?}");
        assert_eq!(items[0], Value::bulk("unsubscribe"));
        let channel = items[1].text().expect("channel name");
        assert!(left.remove(&channel), "unexpected or repeated channel {channel:?}");
        assert_eq!(items[2], Value::Int(count));
    }
    // Nothing left: the reply a real node gives.
    assert_eq!(sub.cmd(&["UNSUBSCRIBE"]), Value::Array(vec![Value::bulk("unsubscribe"), Value::Nil, Value::Int(0)]));

    // Back to normal mode: commands work, and unsubscribed channels stay quiet.
    publisher.cmd(&["PUBLISH", "news", "after"]);
    assert_eq!(sub.cmd(&["GET", "k"]), Value::Nil);
    assert_eq!(sub.cmd(&["SET", "k", "v"]), Value::ok());
    assert_eq!(sub.cmd(&["GET", "k"]), Value::bulk("v"));
}

// ---------------------------------------------------------------------------------
// 2. Shard channels

/// PUBLISH answers how many clients received the message, as Redis counts them (one
/// per channel subscription, one per matching pattern subscription), whichever node
/// it reaches: slotway's shared node subscription counts as one on its node only.
#[test]
fn publish_counts_every_receiver_like_redis() {
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());
    let mut subs: Vec<RawConn> = (0..3).map(|_| connect(&proxy.addr)).collect();
    for sub in &mut subs {
        assert_eq!(sub.cmd(&["SUBSCRIBE", "news"]), arr(&["subscribe", "news"], Some(1)));
    }
    assert_eq!(subs[2].cmd(&["PSUBSCRIBE", "n*", "x*"]), arr(&["psubscribe", "n*"], Some(2)));
    assert_eq!(subs[2].read_reply(), arr(&["psubscribe", "x*"], Some(3)));
    // Publishers of different client ids reach different primaries.
    let mut publishers: Vec<RawConn> = (0..4).map(|_| connect(&proxy.addr)).collect();
    for publisher in &mut publishers {
        // 3 channel subscribers, and the third one's pattern: what Redis answers.
        assert_eq!(publisher.cmd(&["PUBLISH", "news", "m"]), Value::Int(4));
        assert_eq!(publisher.cmd(&["PUBLISH", "nx", "m"]), Value::Int(1));
        assert_eq!(publisher.cmd(&["PUBLISH", "quiet", "m"]), Value::Int(0));
    }
    // The messages published so far arrive before the confirmations.
    let confirmation = |sub: &mut RawConn, args: &[&str]| {
        sub.send(&encode(args));
        let kind = Value::bulk(&args[0].to_lowercase());
        std::iter::repeat_with(|| sub.read_reply()).find(|r| matches!(r, Value::Array(a) if a[0] == kind)).unwrap()
    };
    assert_eq!(confirmation(&mut subs[0], &["UNSUBSCRIBE", "news"]), arr(&["unsubscribe", "news"], Some(0)));
    assert_eq!(confirmation(&mut subs[2], &["PUNSUBSCRIBE", "n*"]), arr(&["punsubscribe", "n*"], Some(2)));
    for publisher in &mut publishers {
        assert_eq!(publisher.cmd(&["PUBLISH", "news", "m"]), Value::Int(2));
    }
    // Inside MULTI too (the node's count: EXEC's replies are not rewritten).
    let publisher = &mut publishers[0];
    assert_eq!(publisher.cmd(&["MULTI"]), Value::ok());
    assert_eq!(publisher.cmd(&["PUBLISH", "news", "m"]), Value::Simple("QUEUED".into()));
    assert!(matches!(&publisher.cmd(&["EXEC"]), Value::Array(r) if matches!(r[..], [Value::Int(_)])));
}

#[test]
fn ssubscribe_in_one_slot_and_crossslot_refusal() {
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());
    let mut sub = connect(&proxy.addr);
    let mut publisher = connect(&proxy.addr);

    sub.send(&encode(&["SSUBSCRIBE", "{s}a", "{s}b"]));
    assert_eq!(sub.read_reply(), arr(&["ssubscribe", "{s}a"], Some(1)));
    assert_eq!(sub.read_reply(), arr(&["ssubscribe", "{s}b"], Some(2)));

    // SPUBLISH reaches the shard that owns the slot; slotway is its one subscriber there.
    assert_eq!(publisher.cmd(&["SPUBLISH", "{s}a", "to a"]), Value::Int(1));
    assert_eq!(sub.read_reply(), arr(&["smessage", "{s}a", "to a"], None));
    assert_eq!(publisher.cmd(&["SPUBLISH", "{s}b", "to b"]), Value::Int(1));
    assert_eq!(sub.read_reply(), arr(&["smessage", "{s}b", "to b"], None));
    // A shard channel nobody subscribed to.
    assert_eq!(publisher.cmd(&["SPUBLISH", "{s}c", "lost"]), Value::Int(0));

    assert_eq!(sub.cmd(&["PING"]), arr(&["pong", ""], None));
    assert_eq!(sub.cmd(&["SUNSUBSCRIBE", "{s}a"]), arr(&["sunsubscribe", "{s}a"], Some(1)));
    assert_eq!(sub.cmd(&["SUNSUBSCRIBE", "{s}b"]), arr(&["sunsubscribe", "{s}b"], Some(0)));
    assert_eq!(sub.cmd(&["GET", "{s}a"]), Value::Nil);

    // Shard channels in different slots: refused, as a node refuses them.
    let slotway_err = connect(&proxy.addr).cmd(&["SSUBSCRIBE", "{a}x", "{b}y"]);
    let node_err = connect(&cluster.seed()).cmd(&["SSUBSCRIBE", "{a}x", "{b}y"]);
    assert_eq!(slotway_err, Value::Error("CROSSSLOT Keys in request don't hash to the same slot".into()));
    assert_eq!(slotway_err, node_err, "slotway's CROSSSLOT differs from a real node's");
    // The refused client did not enter subscribed mode.
    let mut refused = connect(&proxy.addr);
    assert!(refused.cmd(&["SSUBSCRIBE", "{a}x", "{b}y"]).is_error());
    assert_eq!(refused.cmd(&["GET", "{a}x"]), Value::Nil);
}

// ---------------------------------------------------------------------------------
// 3. RESP3 pushes

/// A RESP3 connection that hands back raw reply bytes, framed by slotway's own scanner.
struct Resp3Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Resp3Conn {
    fn connect(addr: &str) -> Resp3Conn {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream.set_nodelay(true).unwrap();
        Resp3Conn { stream, buf: Vec::new() }
    }

    fn send(&mut self, args: &[&str]) {
        self.stream.write_all(&encode(args)).unwrap();
    }

    fn frame(&mut self) -> Vec<u8> {
        loop {
            if let Some(n) = ReplyScanner::default().next_len(&self.buf).expect("valid RESP3") {
                return self.buf.drain(..n).collect();
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).expect("read a RESP3 frame");
            assert!(n > 0, "connection closed; have {:?}", String::from_utf8_lossy(&self.buf));
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn cmd(&mut self, args: &[&str]) -> Vec<u8> {
        self.send(args);
        self.frame()
    }
}

fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn resp3_pushes_and_commands_on_one_connection() {
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());
    let mut conn = Resp3Conn::connect(&proxy.addr);
    let mut publisher = connect(&proxy.addr);

    let hello = conn.cmd(&["HELLO", "3"]);
    assert!(hello.starts_with(b"%"), "HELLO 3 answers a map: {}", show(&hello));

    assert_eq!(show(&conn.cmd(&["SUBSCRIBE", "ch"])), show(b">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"));
    publisher.cmd(&["PUBLISH", "ch", "hello"]);
    assert_eq!(show(&conn.frame()), show(b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhello\r\n"));

    // RESP3 has no subscribed mode: ordinary commands keep working, in RESP3.
    assert_eq!(show(&conn.cmd(&["GET", "missing"])), "_\r\n");
    assert_eq!(show(&conn.cmd(&["SET", "present", "v"])), "+OK\r\n");
    assert_eq!(show(&conn.cmd(&["GET", "present"])), "$1\r\nv\r\n");
    assert_eq!(show(&conn.cmd(&["PING"])), "+PONG\r\n");

    assert_eq!(show(&conn.cmd(&["PSUBSCRIBE", "c*"])), show(b">3\r\n$10\r\npsubscribe\r\n$2\r\nc*\r\n:2\r\n"));
    publisher.cmd(&["PUBLISH", "ch", "again"]);
    assert_eq!(show(&conn.frame()), show(b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nagain\r\n"));
    assert_eq!(show(&conn.frame()), show(b">4\r\n$8\r\npmessage\r\n$2\r\nc*\r\n$2\r\nch\r\n$5\r\nagain\r\n"));

    assert_eq!(show(&conn.cmd(&["UNSUBSCRIBE", "ch"])), show(b">3\r\n$11\r\nunsubscribe\r\n$2\r\nch\r\n:1\r\n"));
    assert_eq!(show(&conn.cmd(&["GET", "missing"])), "_\r\n");
}

// ---------------------------------------------------------------------------------
// 4. Node connections shared by many subscribers

#[test]
fn many_subscribers_share_node_connections() {
    const N: usize = 200;
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());

    let mut same: Vec<RawConn> = (0..N).map(|_| connect(&proxy.addr)).collect();
    for conn in &mut same {
        assert_eq!(conn.cmd(&["SUBSCRIBE", "shared"]), arr(&["subscribe", "shared"], Some(1)));
    }
    let mut own: Vec<RawConn> = (0..N).map(|_| connect(&proxy.addr)).collect();
    for (i, conn) in own.iter_mut().enumerate() {
        let channel = format!("own-{i}");
        assert_eq!(conn.cmd(&["SUBSCRIBE", &channel]), arr(&["subscribe", &channel], Some(1)));
    }

    let mut publisher = connect(&proxy.addr);
    publisher.cmd(&["PUBLISH", "shared", "to all"]);
    for (i, conn) in same.iter_mut().enumerate() {
        assert_eq!(conn.read_reply(), message("shared", "to all"), "subscriber {i}");
    }
    for i in 0..N {
        publisher.cmd(&["PUBLISH", &format!("own-{i}"), &format!("to {i}")]);
    }
    for (i, conn) in own.iter_mut().enumerate() {
        assert_eq!(conn.read_reply(), message(&format!("own-{i}"), &format!("to {i}")), "subscriber own-{i}");
    }

    let per_node: Vec<(String, usize)> =
        cluster.addrs().into_iter().map(|a| (a.clone(), subscription_conns(&a))).collect();
    let total: usize = per_node.iter().map(|(_, n)| n).sum();
    eprintln!("subscription connections on the nodes for {} subscribers: {total} ({per_node:?})", 2 * N);
    assert!(total >= 1, "someone must carry the subscriptions: {per_node:?}");
    assert!(total <= 6, "{total} subscription connections for {} subscribers: {per_node:?}", 2 * N);
}

// ---------------------------------------------------------------------------------
// 5. Failover

#[test]
fn subscriptions_survive_failover() {
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());
    let mut sub = Feed::connect(&proxy.addr);
    let wait = Duration::from_secs(10);

    sub.send(&["SUBSCRIBE", "fo-news"]);
    assert_eq!(sub.next(wait), arr(&["subscribe", "fo-news"], Some(1)));

    // The node carrying slotway's channel subscription ...
    let holders: Vec<String> =
        cluster.addrs().into_iter().filter(|a| client_list(a).iter().any(|c| sub_counts(c).0 > 0)).collect();
    assert_eq!(holders.len(), 1, "one node should carry the channel subscription: {holders:?}");
    let victim = holders[0].clone();
    assert!(cluster.primaries().contains(&victim), "subscriptions live on primaries");

    // ... and a shard channel whose slot that node owns, so one kill hits both.
    let seed = cluster.seed();
    let shard_channel = (0..)
        .map(|i| format!("{{fo{i}}}sc"))
        .find(|c| cluster.slot_owner_now(keyslot(&seed, c)).as_deref() == Some(victim.as_str()))
        .unwrap();
    let shard_slot = keyslot(&seed, &shard_channel);
    sub.send(&["SSUBSCRIBE", &shard_channel]);
    assert_eq!(sub.next(wait), arr(&["ssubscribe", &shard_channel], Some(1)));
    let victim_subs: Vec<_> =
        client_list(&victim).iter().map(sub_counts).filter(|&(s, p, ss)| s + p + ss > 0).collect();
    assert_eq!(victim_subs, vec![(1, 0, 1)], "slotway's subscription connection on {victim}");

    let mut publisher = connect(&proxy.addr);
    publisher.cmd(&["PUBLISH", "fo-news", "before"]);
    assert_eq!(sub.next(wait), message("fo-news", "before"));
    publisher.cmd(&["SPUBLISH", &shard_channel, "before"]);
    assert_eq!(sub.next(wait), arr(&["smessage", &shard_channel, "before"], None));

    let info = cluster.redis_cli(&victim, &["INFO", "server"]);
    let pid = info
        .lines()
        .find_map(|l| l.strip_prefix("process_id:"))
        .map(|p| p.trim().to_string())
        .expect("process_id in INFO server");
    let killed = std::process::Command::new("kill").args(["-9", &pid]).status().unwrap();
    assert!(killed.success(), "kill -9 {pid}");

    // The cluster fails over: state ok on the survivors, and a new primary for the slot.
    let deadline = Instant::now() + Duration::from_secs(30);
    let survivor = cluster.addrs().into_iter().find(|a| *a != victim).unwrap();
    loop {
        let ok = cluster.redis_cli(&survivor, &["CLUSTER", "INFO"]).contains("cluster_state:ok");
        let owner = cluster.slot_owner_now(shard_slot);
        if ok && owner.as_ref().is_some_and(|o| *o != victim) {
            eprintln!("failover done: slot {shard_slot} now on {}", owner.unwrap());
            break;
        }
        assert!(Instant::now() < deadline, "no failover within 30 s (owner now {owner:?})");
        thread::sleep(Duration::from_millis(200));
    }

    // Messages published between the kill and slotway's re-subscription may be lost
    // (as for a direct client that reconnects), so keep publishing numbered messages
    // until one of each kind arrives on the subscriber's same connection.
    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut got_message, mut got_smessage) = (None, None);
    // Every payload seen, per kind: each must arrive once (one subscription in place,
    // not one on the old and one on the new node).
    let mut seen: HashSet<(String, String)> = HashSet::new();
    let take = |reply: Value, seen: &mut HashSet<(String, String)>| -> (String, String) {
        let Value::Array(items) = &reply else { panic!("unexpected reply {reply:?}") };
        let kind = items[0].text().unwrap();
        let text = items.last().and_then(Value::text).unwrap();
        match kind.as_str() {
            "message" => assert_eq!(items[1], Value::bulk("fo-news"), "{reply:?}"),
            "smessage" => assert_eq!(items[1], Value::bulk(&shard_channel), "{reply:?}"),
            other => panic!("unexpected {other}: {reply:?}"),
        }
        assert!(text.starts_with("after-") || text == "final", "unexpected message {reply:?}");
        assert!(seen.insert((kind.clone(), text.clone())), "delivered twice: {reply:?}");
        (kind, text)
    };
    for i in 0.. {
        let payload = format!("after-{i}");
        for (command, channel) in [("PUBLISH", "fo-news"), ("SPUBLISH", shard_channel.as_str())] {
            // slotway may still route to the dead node for a moment: errors are retried.
            if publisher.try_cmd(&[command, channel, &payload]).is_none() {
                publisher = connect(&proxy.addr);
            }
        }
        thread::sleep(Duration::from_millis(200));
        for reply in sub.drain() {
            match take(reply, &mut seen) {
                (kind, text) if kind == "message" => _ = got_message.get_or_insert(text),
                (_, text) => _ = got_smessage.get_or_insert(text),
            }
        }
        if got_message.is_some() && got_smessage.is_some() {
            eprintln!("after failover: first message {got_message:?}, first smessage {got_smessage:?} (of {i})");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no delivery within 20 s of the failover: message {got_message:?}, smessage {got_smessage:?}"
        );
    }

    // Settled: one more of each arrives exactly once, and the same connection still
    // answers PING as a subscriber.
    assert!(matches!(publisher.cmd(&["PUBLISH", "fo-news", "final"]), Value::Int(_)));
    assert!(matches!(publisher.cmd(&["SPUBLISH", &shard_channel, "final"]), Value::Int(1)));
    while !(seen.contains(&("message".into(), "final".into())) && seen.contains(&("smessage".into(), "final".into()))) {
        take(sub.next(wait), &mut seen);
    }
    thread::sleep(Duration::from_millis(500));
    sub.send(&["PING"]);
    loop {
        match sub.next(wait) {
            Value::Array(items) if items[0] == Value::bulk("pong") => break,
            reply => _ = take(reply, &mut seen),
        }
    }
}

trait TryCmd {
    fn try_cmd(&mut self, args: &[&str]) -> Option<Value>;
}

impl TryCmd for RawConn {
    /// A command whose reply may be an error or may never come (the connection broke).
    fn try_cmd(&mut self, args: &[&str]) -> Option<Value> {
        self.send(&encode(args));
        self.try_read_reply().ok()
    }
}

// ---------------------------------------------------------------------------------
// 6. A slow subscriber

#[test]
fn slow_subscriber_is_cut_off_and_others_get_everything() {
    const MESSAGES: usize = 2_000;
    const SIZE: usize = 10 * 1024;
    let cluster = TestCluster::start();
    let mut config = slotway::Config::with_seeds(cluster.addrs());
    // 1 MiB hard limit; 0 turns the soft limit off.
    config.pubsub_output_limit = "1048576 0 0".into();
    let proxy = start_slotway_with(config);

    // Warm up slotway's own connections before the baseline.
    let mut publisher = connect(&proxy.addr);
    assert_eq!(publisher.cmd(&["PUBLISH", "firehose", "warm-up"]), Value::Int(0));
    let rss_before = vm_rss_kib();

    let mut slow = connect(&proxy.addr);
    assert_eq!(slow.cmd(&["SUBSCRIBE", "firehose"]), arr(&["subscribe", "firehose"], Some(1)));
    // Readers that keep up: each reports how many messages it has, and the publisher
    // stays at most WINDOW messages (320 KiB, well under the 1 MiB limit) ahead of the
    // slower one, so a stalled test thread on a busy machine cannot look like a
    // subscriber falling 1 MiB behind.
    const WINDOW: usize = 32;
    let progress: Vec<Arc<AtomicUsize>> = (0..2).map(|_| Arc::new(AtomicUsize::new(0))).collect();
    let readers: Vec<_> = progress
        .iter()
        .enumerate()
        .map(|(r, progress)| {
            let progress = progress.clone();
            let mut conn = connect(&proxy.addr);
            assert_eq!(conn.cmd(&["SUBSCRIBE", "firehose"]), arr(&["subscribe", "firehose"], Some(1)));
            thread::spawn(move || {
                for i in 0..MESSAGES {
                    let reply = conn.try_read_reply().unwrap_or_else(|e| panic!("reader {r}: after {i} messages: {e}"));
                    let Value::Array(items) = reply else { panic!("reader {r}: not a message") };
                    assert_eq!(items.len(), 3, "reader {r}");
                    assert_eq!(items[1], Value::bulk("firehose"));
                    let Value::Bulk(payload) = &items[2] else { panic!("reader {r}: payload") };
                    assert_eq!(payload.len(), SIZE, "reader {r}, message {i}");
                    let want = format!("{i:08}");
                    assert_eq!(&payload[..8], want.as_bytes(), "reader {r}: message {i} out of order");
                    progress.store(i + 1, Ordering::Release);
                }
                MESSAGES
            })
        })
        .collect();

    let mut peak = rss_before;
    let mut payload = vec![b'x'; SIZE];
    for i in 0..MESSAGES {
        let deadline = Instant::now() + Duration::from_secs(10);
        while progress.iter().map(|p| p.load(Ordering::Acquire)).min().unwrap() + WINDOW <= i {
            let stuck = progress.iter().map(|p| p.load(Ordering::Acquire)).collect::<Vec<_>>();
            assert!(Instant::now() < deadline, "readers stuck at {stuck:?} messages for 10 s (published {i})");
            thread::sleep(Duration::from_micros(200));
        }
        payload[..8].copy_from_slice(format!("{i:08}").as_bytes());
        let reply = publisher.cmd_bytes(&[b"PUBLISH", b"firehose", &payload]);
        assert!(matches!(reply, Value::Int(_)), "PUBLISH {i}: {reply:?}");
        if i % 100 == 0 {
            peak = peak.max(vm_rss_kib());
        }
    }
    for (r, reader) in readers.into_iter().enumerate() {
        assert_eq!(reader.join().unwrap_or_else(|_| panic!("reader {r} failed")), MESSAGES);
    }
    peak = peak.max(vm_rss_kib());

    // slotway closes the slow client's connection as Redis does, without waiting for
    // it to read: it leaves slotway's client count while it still has not read a byte.
    // Clients left: the publisher and the one asking (the readers' threads have
    // finished and closed their connections).
    let mut info = connect(&proxy.addr);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = info.cmd(&["INFO", "clients"]).text().expect("INFO is text");
        let clients: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix("connected_clients:"))
            .and_then(|n| n.trim().parse().ok())
            .expect("connected_clients in INFO clients");
        if clients == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the slow subscriber is still connected to slotway 10 s after falling 1 MiB behind ({clients} clients)"
        );
        thread::sleep(Duration::from_millis(50));
    }

    // What the kernel had buffered for it can still be read; then the connection
    // ends. It cannot have all 2,000 messages.
    let mut drained = 0;
    let end = loop {
        match slow.try_read_reply() {
            Ok(Value::Array(items)) if items[0] == Value::bulk("message") => drained += 1,
            Ok(other) => panic!("slow subscriber got {other:?}"),
            Err(e) => break e,
        }
        assert!(drained < MESSAGES, "the slow subscriber got every message: it was never cut off");
    };
    assert!(
        matches!(end.kind(), ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset),
        "expected the slow subscriber's connection closed, got {end} ({:?}) after {drained} messages",
        end.kind()
    );
    let growth_mib = (peak.saturating_sub(rss_before)) as f64 / 1024.0;
    eprintln!(
        "slow subscriber got {drained} of {MESSAGES} messages before EOF; VmRSS {} KiB -> peak {} KiB (+{growth_mib:.1} MiB)",
        rss_before, peak
    );
    assert!(growth_mib < 64.0, "VmRSS grew by {growth_mib:.1} MiB");

    // slotway is fine, and the channel still works for the others.
    let mut after = connect(&proxy.addr);
    assert_eq!(after.cmd(&["SUBSCRIBE", "firehose"]), arr(&["subscribe", "firehose"], Some(1)));
    publisher.cmd(&["PUBLISH", "firehose", "still here"]);
    assert_eq!(after.read_reply(), message("firehose", "still here"));
}

// ---------------------------------------------------------------------------------
// 7. Keyspace notifications from every primary

#[test]
fn keyspace_notifications_from_the_whole_cluster() {
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());
    for node in cluster.addrs() {
        assert_eq!(connect(&node).cmd(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]), Value::ok(), "{node}");
    }

    let pattern = "__keyspace@0__:*";
    let mut sub = Feed::connect(&proxy.addr);
    sub.send(&["PSUBSCRIBE", pattern]);
    assert_eq!(sub.next(Duration::from_secs(10)), arr(&["psubscribe", pattern], Some(1)));

    let primaries = cluster.primaries();
    assert_eq!(primaries.len(), 3);
    let mut writer = connect(&proxy.addr);
    let mut expected: HashMap<String, usize> = HashMap::new();
    let mut markers = Vec::new();
    for (p, primary) in primaries.iter().enumerate() {
        let mut keys = keys_on(&cluster, primary, &format!("ks{p}-"), 4);
        markers.push(keys.pop().unwrap());
        for key in keys {
            assert_eq!(writer.cmd(&["SET", &key, "v"]), Value::ok());
            expected.insert(key, 0);
        }
    }
    // A last SET on each primary: its notification comes after every earlier one
    // from that node, so by the time all three arrived, any duplicate would have too.
    for m in &markers {
        assert_eq!(writer.cmd(&["SET", m, "v"]), Value::ok());
        expected.insert(m.clone(), 0);
    }

    let mut markers_seen = HashSet::new();
    while markers_seen.len() < markers.len() {
        let reply = sub.next(Duration::from_secs(10));
        let Value::Array(items) = &reply else { panic!("unexpected {reply:?}") };
        assert_eq!(items.len(), 4, "{reply:?}");
        assert_eq!(items[0], Value::bulk("pmessage"));
        assert_eq!(items[1], Value::bulk(pattern));
        assert_eq!(items[3], Value::bulk("set"), "{reply:?}");
        let channel = items[2].text().unwrap();
        let key = channel.strip_prefix("__keyspace@0__:").unwrap_or_else(|| panic!("channel {channel}"));
        *expected.get_mut(key).unwrap_or_else(|| panic!("notification for a key not set: {key}")) += 1;
        if markers.iter().any(|m| m == key) {
            markers_seen.insert(key.to_string());
        }
    }
    for (key, n) in &expected {
        assert_eq!(*n, 1, "notifications for {key}");
    }
    assert_eq!(expected.len(), 12);
}

// ---------------------------------------------------------------------------------
// 8. PUBSUB introspection

fn bulks(v: &Value) -> Vec<String> {
    match v {
        Value::Array(items) => {
            items.iter().map(|i| i.text().unwrap_or_else(|| panic!("not a string: {i:?}"))).collect()
        }
        other => panic!("expected an array, got {other:?}"),
    }
}

/// `PUBSUB NUMSUB` pairs, checked for shape: channel names in the order asked, integer counts.
fn numsub_pairs(v: &Value, asked: &[&str]) -> Vec<i64> {
    let Value::Array(items) = v else { panic!("expected an array, got {v:?}") };
    assert_eq!(items.len(), 2 * asked.len(), "{v:?}");
    items
        .chunks(2)
        .zip(asked)
        .map(|(pair, name)| {
            assert_eq!(pair[0], Value::bulk(name), "{v:?}");
            match pair[1] {
                Value::Int(n) => n,
                ref other => panic!("count for {name}: {other:?}"),
            }
        })
        .collect()
}

#[test]
fn pubsub_introspection_is_merged_over_the_cluster() {
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());

    let mut a = connect(&proxy.addr);
    a.send(&encode(&["SUBSCRIBE", "pa1", "pa2"]));
    a.read_reply();
    a.read_reply();
    let mut b = connect(&proxy.addr);
    b.cmd(&["SUBSCRIBE", "pa1"]);
    let mut c = connect(&proxy.addr);
    c.cmd(&["PSUBSCRIBE", "pp*"]);
    let mut d = connect(&proxy.addr);
    assert_eq!(d.cmd(&["SSUBSCRIBE", "{ps}1"]), arr(&["ssubscribe", "{ps}1"], Some(1)));
    // A client of a replica, straight on the node: the merged answers include it.
    let replica = cluster.replicas().remove(0);
    let mut direct = connect(&replica);
    assert_eq!(direct.cmd(&["SUBSCRIBE", "direct1"]), arr(&["subscribe", "direct1"], Some(1)));

    let mut q = connect(&proxy.addr);
    let channels = bulks(&q.cmd(&["PUBSUB", "CHANNELS"]));
    let unique: HashSet<&String> = channels.iter().collect();
    assert_eq!(unique.len(), channels.len(), "CHANNELS repeats names: {channels:?}");
    for want in ["pa1", "pa2", "direct1"] {
        assert!(unique.contains(&want.to_string()), "{want} missing from PUBSUB CHANNELS {channels:?}");
    }
    let mut filtered = bulks(&q.cmd(&["PUBSUB", "CHANNELS", "pa*"]));
    filtered.sort();
    assert_eq!(filtered, ["pa1", "pa2"]);

    // Subscribers counted as Redis counts them: slotway's clients (not its one shared
    // node subscription per channel) plus the nodes' own; a name asked twice is
    // answered twice.
    let asked = ["pa1", "pa2", "direct1", "nosuch", "pa1"];
    let mut args = vec!["PUBSUB", "NUMSUB"];
    args.extend(asked);
    let counts = numsub_pairs(&q.cmd(&args), &asked);
    assert_eq!(counts, [2, 1, 1, 0, 2], "PUBSUB NUMSUB {asked:?} (direct1: the direct subscriber on {replica})");
    assert_eq!(q.cmd(&["PUBSUB", "NUMSUB"]), Value::Array(vec![]));

    match q.cmd(&["PUBSUB", "NUMPAT"]) {
        Value::Int(n) => assert!(n >= 1, "NUMPAT {n}"),
        other => panic!("NUMPAT: {other:?}"),
    }

    let shard = bulks(&q.cmd(&["PUBSUB", "SHARDCHANNELS"]));
    assert_eq!(shard, ["{ps}1"]);
    let mut e = connect(&proxy.addr);
    assert_eq!(e.cmd(&["SSUBSCRIBE", "{ps}1"]), arr(&["ssubscribe", "{ps}1"], Some(1)));
    let counts = numsub_pairs(&q.cmd(&["PUBSUB", "SHARDNUMSUB", "{ps}1", "nosuch"]), &["{ps}1", "nosuch"]);
    assert_eq!(counts, [2, 0], "two clients of slotway");

    // Unsubscribed channels leave the merged answer.
    a.send(&encode(&["UNSUBSCRIBE"]));
    a.read_reply();
    a.read_reply();
    b.cmd(&["UNSUBSCRIBE", "pa1"]);
    // slotway unsubscribes the node after confirming to the client: allow it a moment.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let channels = bulks(&q.cmd(&["PUBSUB", "CHANNELS", "pa*"]));
        if channels.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "still listed 10 s after UNSUBSCRIBE: {channels:?}");
        thread::sleep(Duration::from_millis(50));
    }
}
