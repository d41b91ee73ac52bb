//! TLS on both sides against a real TLS-only cluster (`testbed.sh --tls`, Redis's
//! `tls-port` with `port 0`, TLS on the bus): clients reach slotway over TLS, slotway
//! reaches the nodes over TLS. Certificates are made at test time (see `support::tls`).

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use slotway::cluster::slot::hash_slot;
use slotway::config::TlsAuthClients;
use support::{
    Certs, RawConn, SlotwayHandle, TestCluster, Value, connect, encode, parse_cluster_nodes, start_error,
    start_slotway_tls, tls_client, tls_connect, try_connect,
};

/// slotway in front of a TLS cluster: TLS to the nodes (showing `client.crt`, as
/// the nodes require) and a TLS listener that requires client certificates.
fn tls_config(cluster: &TestCluster, certs: &Certs) -> slotway::Config {
    let mut config = slotway::Config::with_seeds([cluster.seed()]);
    config.node_tls = true;
    config.node_tls_ca_cert_file = Some(certs.file("ca.crt"));
    config.node_tls_cert_file = Some(certs.file("client.crt"));
    config.node_tls_key_file = Some(certs.file("client.key"));
    config.tls_cert_file = Some(certs.file("node.crt"));
    config.tls_key_file = Some(certs.file("node.key"));
    config.tls_ca_cert_file = Some(certs.file("ca.crt"));
    config
}

/// Certificates, a TLS cluster and slotway (`tls_config`, then `adjust`) in front
/// of it. Bind in this order: slotway stops first, then the cluster.
fn tls_stack(adjust: impl FnOnce(&mut slotway::Config)) -> (Certs, TestCluster, SlotwayHandle) {
    let certs = Certs::generate();
    let cluster = TestCluster::start_tls(certs.dir());
    let mut config = tls_config(&cluster, &certs);
    adjust(&mut config);
    let proxy = start_slotway_tls(config);
    (certs, cluster, proxy)
}

/// One key per primary, with its primary's address: the first `tls:<n>` keys whose
/// owners (per the cluster's own `CLUSTER NODES`) differ.
fn key_per_shard(cluster: &TestCluster) -> Vec<(String, String)> {
    let nodes = parse_cluster_nodes(&cluster.redis_cli(&cluster.seed(), &["CLUSTER", "NODES"]));
    let owner = |slot: u16| {
        let primary = nodes.iter().find(|n| n.is_primary() && n.slots.iter().any(|&(a, b)| (a..=b).contains(&slot)));
        primary.map(|n| n.addr.clone()).unwrap_or_else(|| panic!("no owner for slot {slot} in {nodes:?}"))
    };
    let mut found: Vec<(String, String)> = Vec::new();
    for n in 0..1000 {
        let key = format!("tls:{n}");
        let addr = owner(hash_slot(key.as_bytes()));
        if !found.iter().any(|(_, a)| *a == addr) {
            found.push((key, addr));
        }
    }
    assert_eq!(found.len(), 3, "three primaries: {found:?}");
    found
}

fn pipeline(conn: &mut RawConn, cmds: &[Vec<String>]) -> Vec<Value> {
    let mut bytes = Vec::new();
    for c in cmds {
        bytes.extend(encode(c));
    }
    conn.send(&bytes);
    cmds.iter().map(|_| conn.read_reply()).collect()
}

#[test]
fn tls_round_trips_on_both_sides() {
    let (certs, cluster, proxy) = tls_stack(|_| {});
    let tls_addr = proxy.tls_addr.clone().unwrap();
    let mut c = tls_client(&tls_addr, &certs);
    assert_eq!(c.cmd(&["PING"]), Value::Simple("PONG".into()));

    // GET/SET on every shard, and the values really are on their TLS nodes.
    let keys = key_per_shard(&cluster);
    for (key, node) in &keys {
        assert_eq!(c.cmd(&["SET", key, &format!("v-{key}")]), Value::ok());
        assert_eq!(c.cmd(&["GET", key]), Value::bulk(&format!("v-{key}")));
        let on_node = cluster.redis_cli(node, &["GET", key]);
        assert_eq!(on_node.trim(), format!("v-{key}"), "{key} on its primary {node}");
    }

    // MGET fanned out over the three shards, merged in order.
    let names: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
    let want: Vec<Value> = names.iter().map(|k| Value::bulk(&format!("v-{k}"))).collect();
    assert_eq!(c.cmd(&[&["MGET"][..], &names].concat()), Value::Array(want));

    // A pipeline of 1,000 writes, then 1,000 reads, each in one write.
    let sets: Vec<Vec<String>> = (0..1000).map(|i| vec!["SET".into(), format!("p:{i}"), i.to_string()]).collect();
    assert!(pipeline(&mut c, &sets).iter().all(|r| *r == Value::ok()));
    let gets: Vec<Vec<String>> = (0..1000).map(|i| vec!["GET".into(), format!("p:{i}")]).collect();
    for (i, r) in pipeline(&mut c, &gets).into_iter().enumerate() {
        assert_eq!(r, Value::bulk(&i.to_string()), "GET p:{i}");
    }

    // A blocking command (a leased node connection, also TLS).
    assert_eq!(c.cmd(&["BLPOP", "tls:list", "0.1"]), Value::Nil);

    // Pub/sub: the subscription connection to the node is TLS as well.
    let mut sub = tls_client(&tls_addr, &certs);
    assert_eq!(sub.cmd(&["SUBSCRIBE", "tls:ch"]).text(), None, "subscribe confirmation is an array");
    // (Its count is the receiving node's own subscribers: 0 or 1 here.)
    assert!(matches!(c.cmd(&["PUBLISH", "tls:ch", "hello"]), Value::Int(_)));
    assert_eq!(
        sub.read_reply(),
        Value::Array(vec![Value::bulk("message"), Value::bulk("tls:ch"), Value::bulk("hello")])
    );

    // The plain listener serves the same TLS cluster.
    assert_eq!(connect(&proxy.addr).cmd(&["GET", &keys[0].0]), Value::bulk(&format!("v-{}", keys[0].0)));

    // redis-cli --tls through slotway.
    let port = tls_addr.rsplit(':').next().unwrap();
    let out = Command::new("redis-cli")
        .args(["--tls", "--cacert"])
        .arg(certs.file("ca.crt"))
        .arg("--cert")
        .arg(certs.file("client.crt"))
        .arg("--key")
        .arg(certs.file("client.key"))
        .args(["-h", "127.0.0.1", "-p", port, "GET", &keys[1].0])
        .stdin(Stdio::null())
        .output()
        .expect("run redis-cli");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("v-{}", keys[1].0), "{out:?}");
}

#[test]
fn a_moved_slot_is_followed_over_tls() {
    // Stale on purpose: only the redirect tells it.
    let (certs, cluster, proxy) = tls_stack(|c| c.refresh_interval_s = 3600);
    let mut c = tls_client(proxy.tls_addr.as_deref().unwrap(), &certs);
    let keys = key_per_shard(&cluster);
    let ((key, src), dst) = (&keys[0], &keys[1].1);
    let slot = hash_slot(key.as_bytes()).to_string();
    // The slot is empty: moving it is redis-cli's steps without MIGRATE. IMPORTING
    // first, so the new owner bumps its config epoch when it takes the slot (without
    // it, gossip can hand the slot back and the nodes redirect to each other).
    let id = |node: &str| cluster.redis_cli(node, &["CLUSTER", "MYID"]).trim().to_string();
    let (src_id, dst_id) = (id(src), id(dst));
    assert_eq!(cluster.redis_cli(dst, &["CLUSTER", "SETSLOT", &slot, "IMPORTING", &src_id]).trim(), "OK");
    assert_eq!(cluster.redis_cli(src, &["CLUSTER", "SETSLOT", &slot, "MIGRATING", &dst_id]).trim(), "OK");
    for node in [dst, src] {
        assert_eq!(cluster.redis_cli(node, &["CLUSTER", "SETSLOT", &slot, "NODE", &dst_id]).trim(), "OK");
    }
    assert!(cluster.redis_cli(src, &["GET", key]).contains("MOVED"), "the old owner redirects");
    assert_eq!(c.cmd(&["SET", key, "moved"]), Value::ok());
    assert_eq!(cluster.redis_cli(dst, &["GET", key]).trim(), "moved", "written on the new owner");
}

/// Whether the server refused this client: at the handshake or at its first read
/// (TLS 1.3 sends the refusal after the client thinks the handshake is done).
fn refused(conn: std::io::Result<RawConn>) -> bool {
    match conn {
        Err(_) => true,
        Ok(mut conn) => conn.try_send(&encode(&["PING"])).is_err() || conn.try_read_reply().is_err(),
    }
}

#[test]
fn client_certificates_are_checked() {
    let (certs, cluster, proxy) = tls_stack(|_| {});
    let addr = proxy.tls_addr.clone().unwrap();
    let ca = certs.file("ca.crt");
    let (other_cert, other_key) = (certs.file("other-client.crt"), certs.file("other-client.key"));

    assert!(refused(tls_connect(&addr, &ca, None)), "a client without a certificate is refused");
    assert!(
        refused(tls_connect(&addr, &ca, Some((&other_cert, &other_key)))),
        "a certificate from another CA is refused"
    );
    assert_eq!(
        tls_client(&addr, &certs).cmd(&["PING"]),
        Value::Simple("PONG".into()),
        "the CA's client certificate works"
    );

    // Plain RESP on the TLS port: dropped at once (a TLS alert, then EOF), not left hanging.
    let started = Instant::now();
    let mut plain = try_connect(&addr).unwrap();
    plain.send(&encode(&["PING"]));
    assert!(plain.try_read_reply().is_err(), "no RESP reply on the TLS port");
    assert!(started.elapsed() < Duration::from_secs(5), "dropped in {:?}", started.elapsed());

    // tls-auth-clients optional: no certificate is fine, a wrong one is not.
    let mut config = tls_config(&cluster, &certs);
    config.tls_auth_clients = TlsAuthClients::Optional;
    let optional = start_slotway_tls(config);
    let addr = optional.tls_addr.clone().unwrap();
    let mut anonymous = tls_connect(&addr, &ca, None).unwrap();
    assert_eq!(anonymous.cmd(&["PING"]), Value::Simple("PONG".into()));
    assert!(refused(tls_connect(&addr, &ca, Some((&other_cert, &other_key)))));
}

#[test]
fn node_tls_failures_are_clear_errors() {
    let certs = Certs::generate();
    let cluster = TestCluster::start_tls(certs.dir());

    // Trusting the wrong CA: the nodes' certificates do not verify.
    let mut config = tls_config(&cluster, &certs);
    config.node_tls_ca_cert_file = Some(certs.file("other-ca.crt"));
    let e = start_error(config);
    assert!(e.contains("TLS handshake with the node failed") && e.contains("certificate"), "{e}");

    // A server name the nodes' certificates do not carry.
    let mut config = tls_config(&cluster, &certs);
    config.node_tls_server_name = Some("redis.example".into());
    let e = start_error(config);
    assert!(e.contains("TLS handshake with the node failed") && e.contains("redis.example"), "{e}");

    // No client certificate, which the nodes require: they refuse slotway.
    let mut config = tls_config(&cluster, &certs);
    config.node_tls_cert_file = None;
    config.node_tls_key_file = None;
    let e = start_error(config);
    assert!(e.contains(&cluster.seed()) && e.contains("CertificateRequired"), "{e}");

    // A certificate file that is not there: the setting and file are named.
    let mut config = tls_config(&cluster, &certs);
    config.node_tls_ca_cert_file = Some(certs.file("missing.crt"));
    let e = start_error(config);
    assert!(e.contains("node-tls-ca-cert-file") && e.contains("missing.crt"), "{e}");
}

#[test]
fn a_node_whose_certificate_fails_gets_a_clear_error_reply() {
    let (certs, cluster, proxy) = tls_stack(|c| c.unreachable_wait_ms = 300);
    let mut c = tls_client(proxy.tls_addr.as_deref().unwrap(), &certs);
    let (key, node) = key_per_shard(&cluster).remove(0);
    assert_eq!(c.cmd(&["SET", &key, "1"]), Value::ok());

    // slotway's connections to the node are dropped, and the node then shows a
    // certificate slotway's CA did not sign (Redis applies it to new connections).
    // In that order: after it, redis-cli (trusting the same CA) cannot talk to it either.
    let killed = cluster.redis_cli(&node, &["CLIENT", "KILL", "TYPE", "normal"]);
    assert!(killed.trim().parse::<u32>().is_ok_and(|n| n >= 1), "{killed}");
    let (cert, key_file) = (certs.file("other-node.crt"), certs.file("other-node.key"));
    let set = ["CONFIG", "SET", "tls-cert-file", cert.to_str().unwrap(), "tls-key-file", key_file.to_str().unwrap()];
    assert_eq!(cluster.redis_cli(&node, &set).trim(), "OK");

    let started = Instant::now();
    let reply = c.cmd(&["GET", &key]);
    let text = reply.text().unwrap_or_default();
    assert!(reply.is_error() && text.contains(&node) && text.contains("UnknownIssuer"), "{reply:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "answered in {:?}", started.elapsed());
}
