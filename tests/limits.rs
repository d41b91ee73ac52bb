//! Limits a client meets, each with Redis's behaviour: maxclients, the idle
//! timeout, the query buffer limit, authentication.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::{TestCluster, Value, connect, start_slotway_with};

/// Reads until the server closes the connection (bounded); true if it did.
fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    while start.elapsed() < limit {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return true,
        }
    }
    false
}

#[test]
fn maxclients_timeout_and_query_buffer_limit() {
    let cluster = TestCluster::start();
    let mut config = slotway::Config::with_seeds(cluster.addrs());
    config.maxclients = 3;
    config.timeout = 1;
    config.client_query_buffer_limit = 1 << 20;
    let proxy = start_slotway_with(config);

    // maxclients: the fourth client gets Redis's error and is closed.
    let mut clients: Vec<_> = (0..3).map(|_| connect(&proxy.addr)).collect();
    for c in &mut clients {
        assert_eq!(c.cmd(&["PING"]), Value::Simple("PONG".into()));
    }
    let mut fourth = TcpStream::connect(&proxy.addr).unwrap();
    fourth.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut reply = String::new();
    let _ = fourth.read_to_string(&mut reply);
    assert_eq!(reply, "-ERR max number of clients reached\r\n");
    drop(clients);

    // timeout: an idle client is closed after about a second; a subscriber is not.
    std::thread::sleep(Duration::from_millis(300)); // let the dropped clients be counted out
    let mut idle = TcpStream::connect(&proxy.addr).unwrap();
    let mut subscriber = connect(&proxy.addr);
    subscriber.send(b"SUBSCRIBE news\r\n");
    assert!(matches!(subscriber.read_reply(), Value::Array(_)));
    assert!(closed_within(&mut idle, Duration::from_secs(5)), "an idle client must be closed by --timeout");
    std::thread::sleep(Duration::from_millis(1500));
    let mut publisher = connect(&proxy.addr);
    assert_eq!(publisher.cmd(&["PUBLISH", "news", "still here"]), Value::Int(1));
    let Value::Array(message) = subscriber.read_reply() else { panic!("no message for the subscriber") };
    assert_eq!(message[2], Value::bulk("still here"));
    drop(publisher);
    drop(subscriber);

    // A client sending more than the query buffer limit without completing a request is closed.
    let mut flood = TcpStream::connect(&proxy.addr).unwrap();
    flood.write_all(b"*1\r\n$2000000\r\n").unwrap();
    let chunk = vec![b'x'; 64 * 1024];
    let mut sent = 0;
    while sent < 1_500_000 {
        if flood.write_all(&chunk).is_err() {
            break;
        }
        sent += chunk.len();
    }
    assert!(closed_within(&mut flood, Duration::from_secs(5)), "over the query buffer limit must be closed");
    // Others are unaffected.
    assert_eq!(connect(&proxy.addr).cmd(&["PING"]), Value::Simple("PONG".into()));
}

#[test]
fn authentication_and_permissions_in_redis_words() {
    let cluster = TestCluster::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("slotway.toml");
    std::fs::write(
        &file,
        format!(
            "cluster = [\"{}\"]\nrequirepass = \"adminpw\"\n\n[[users]]\nname = \"reader\"\npassword = \"r\"\n\
             access = \"read-only\"\nkeys = [\"app:*\"]\n\n[[users]]\nname = \"off\"\npassword = \"o\"\nenabled = false\n",
            cluster.seed()
        ),
    )
    .unwrap();
    let args = ["slotway", "--config", file.to_str().unwrap()].map(std::ffi::OsString::from).to_vec();
    let config = slotway::config_file::load(args).unwrap();
    let proxy = start_slotway_with(config);
    let mut c = connect(&proxy.addr);
    assert_eq!(c.cmd(&["GET", "app:1"]), Value::Error("NOAUTH Authentication required.".into()));
    let wrong = Value::Error("WRONGPASS invalid username-password pair or user is disabled.".into());
    assert_eq!(c.cmd(&["AUTH", "nope"]), wrong);
    assert_eq!(c.cmd(&["AUTH", "off", "o"]), wrong, "a disabled user cannot log in");
    assert_eq!(c.cmd(&["AUTH", "reader", "r"]), Value::ok());
    assert_eq!(c.cmd(&["GET", "app:1"]), Value::Nil);
    assert_eq!(
        c.cmd(&["SET", "app:1", "v"]),
        Value::Error("NOPERM this user has no permissions to run the 'set' command".into())
    );
    assert_eq!(
        c.cmd(&["GET", "other"]),
        Value::Error("NOPERM this user has no permissions to access one of the keys used as arguments".into())
    );
    assert_eq!(c.cmd(&["AUTH", "adminpw"]), Value::ok());
    assert_eq!(c.cmd(&["SET", "other", "v"]), Value::ok());
    assert!(!c.cmd(&["CONFIG", "GET", "maxclients"]).is_error());
    // The nodes were written through slotway's shared connections.
    let owner = cluster.node_for_slot(slotway::cluster::slot::hash_slot(b"other"));
    assert_eq!(connect(&owner).cmd(&["GET", "other"]), Value::bulk("v"));
}

#[test]
fn a_node_that_stops_answering_fails_its_requests_after_the_reply_timeout() {
    let cluster = TestCluster::start();
    let mut config = slotway::Config::with_seeds(cluster.addrs());
    config.reply_timeout_ms = 700;
    let proxy = start_slotway_with(config);
    let key = "stopped:key";
    let stopped = cluster.node_for_slot(slotway::cluster::slot::hash_slot(key.as_bytes()));
    let other_key = (0..)
        .map(|i| format!("alive:{i}"))
        .find(|k| cluster.node_for_slot(slotway::cluster::slot::hash_slot(k.as_bytes())) != stopped)
        .unwrap();
    let mut c = connect(&proxy.addr);
    assert_eq!(c.cmd(&["SET", key, "1"]), Value::ok());
    // Many replies come and go before the stop: a timer that only looked at the
    // first request would fire early or never.
    for _ in 0..2_000 {
        assert_eq!(c.cmd(&["GET", key]), Value::bulk("1"));
    }

    let _resume = support::stop_node(cluster.pid_of(&stopped).expect("the node's pidfile"));
    let started = Instant::now();
    let reply = c.cmd(&["GET", key]);
    let waited = started.elapsed();
    assert_eq!(
        reply,
        Value::Error(format!("ERR node {stopped} did not reply in time; the command may or may not have run"))
    );
    assert!(waited >= Duration::from_millis(650), "failed after {waited:?}, before the 700 ms reply timeout");
    assert!(waited < Duration::from_millis(1_900), "failed after {waited:?}: the reply timeout is 700 ms");
    // The other shards never noticed.
    let mut other = connect(&proxy.addr);
    assert_eq!(other.cmd(&["SET", &other_key, "2"]), Value::ok());
}

#[test]
fn shutdown_closes_idle_clients_at_once_not_after_the_grace_period() {
    let cluster = TestCluster::start();
    let mut config = slotway::Config::with_seeds(cluster.addrs());
    config.shutdown_grace_ms = 8_000;
    let proxy = start_slotway_with(config);
    let mut idle: Vec<_> = (0..20).map(|_| connect(&proxy.addr)).collect();
    for c in &mut idle {
        assert_eq!(c.cmd(&["PING"]), Value::Simple("PONG".into()));
    }
    // Idle clients wait on their sockets: only the shutdown signal wakes them. One
    // that missed it would hold slotway for the whole 8 s grace period.
    let started = Instant::now();
    let stopper = std::thread::spawn(move || drop(proxy));
    for c in &mut idle {
        support::expect_eof(c, "an idle client at shutdown");
    }
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(3), "idle clients were closed after {waited:?}");
    stopper.join().unwrap();
}
