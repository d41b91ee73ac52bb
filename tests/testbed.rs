//! The test infrastructure itself: the local cluster testbed, the raw RESP reader and
//! the docker-compose description. Every other integration test stands on these.

mod support;

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use serde_norway::Value as Yaml;
use support::{TestCluster, Value, connect, parse_reply};

/// A PID counts as gone once it is no longer the cluster's server (`redis-server`,
/// `valkey-server`: see `SLOTWAY_TEST_SERVER`): a zombie (when nothing reaps it) has
/// an empty cmdline, and a reused PID names another program.
fn is_server(pid: u32, name: &[u8]) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.windows(name.len()).any(|w| w == name))
}

/// The file name of the server binary the cluster's nodes run.
fn server_name(cluster: &TestCluster) -> Vec<u8> {
    cluster.server().file_name().expect("a server binary").as_encoded_bytes().to_vec()
}

#[test]
fn testbed_starts_a_settled_cluster_and_stops_every_node() {
    let cluster = TestCluster::start();
    let addrs = cluster.addrs();
    assert_eq!(addrs.len(), 6);
    assert_eq!(cluster.primaries().len(), 3, "{:?}", cluster.nodes());
    assert_eq!(cluster.replicas().len(), 3, "{:?}", cluster.nodes());

    for addr in &addrs {
        let info = cluster.redis_cli(addr, &["CLUSTER", "INFO"]);
        for line in ["cluster_state:ok", "cluster_slots_ok:16384", "cluster_known_nodes:6"] {
            assert!(info.contains(line), "{addr} lacks {line}:\n{info}");
        }
    }

    // Every slot has exactly one owner, and it is one of the primaries.
    let primaries = cluster.primaries();
    let mut covered = vec![false; 16384];
    for node in cluster.nodes().iter().filter(|n| n.is_primary()) {
        for &(a, b) in &node.slots {
            for s in a..=b {
                assert!(!covered[s as usize], "slot {s} owned twice");
                covered[s as usize] = true;
            }
        }
    }
    assert!(covered.iter().all(|&c| c), "some slot has no owner");

    // node_for_slot agrees with the nodes themselves: the owner accepts, others redirect.
    let mut seed = connect(&cluster.seed());
    let Value::Int(slot) = seed.cmd(&["CLUSTER", "KEYSLOT", "testbed-key"]) else { panic!("KEYSLOT") };
    let owner = cluster.node_for_slot(slot as u16);
    assert_eq!(connect(&owner).cmd(&["SET", "testbed-key", "v"]), Value::ok());
    let other = primaries.iter().find(|p| **p != owner).unwrap();
    let moved = connect(other).cmd(&["GET", "testbed-key"]);
    assert_eq!(moved, Value::Error(format!("MOVED {slot} {owner}")));
    assert_eq!(cluster.node_id(&owner).len(), 40);

    let pids = cluster.pids();
    assert_eq!(pids.len(), 6);
    let name = server_name(&cluster);
    assert!(pids.iter().all(|&p| is_server(p, &name)));
    let dir = cluster.dir().to_path_buf();
    drop(cluster);
    let alive: Vec<u32> = pids.into_iter().filter(|&p| is_server(p, &name)).collect();
    assert!(alive.is_empty(), "nodes still running after drop: {alive:?}");
    assert!(!dir.exists(), "temp dir {dir:?} left behind");
}

/// `testbed.sh status` of the testbed in `dir`: one line per node.
fn status(dir: &Path) -> String {
    let out = Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("cluster-testbed/testbed.sh"))
        .args(["status", "--dir"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn testbed_starts_clusters_whose_nodes_want_a_login() {
    for cluster in [TestCluster::start_requirepass("pw-1"), TestCluster::start_acl_user("tb-user", "pw-2")] {
        let login = cluster.login().unwrap().clone();
        // Nothing without the login; everything with it, replication included.
        assert_eq!(connect(&cluster.seed()).cmd(&["GET", "k"]), Value::Error("NOAUTH Authentication required.".into()));
        let mut conn = connect(&cluster.seed());
        assert_eq!(conn.cmd(&login.auth()), Value::ok());
        assert!(conn.cmd(&["CLUSTER", "INFO"]).text().unwrap().contains("cluster_state:ok"));
        assert_eq!(cluster.primaries().len(), 3, "{:?}", cluster.nodes());
        assert_eq!(cluster.replicas().len(), 3, "{:?}", cluster.nodes());
        for replica in cluster.replicas() {
            let info = cluster.redis_cli(&replica, &["INFO", "replication"]);
            assert!(info.contains("master_link_status:up"), "{replica}: {info}");
        }
        if login.user.is_some() {
            // The default user is off: its (empty) password is refused.
            let refused = connect(&cluster.seed()).cmd(&["AUTH", "default", ""]);
            assert!(refused.text().unwrap().starts_with("WRONGPASS"), "{refused:?}");
        }
        // status remembers the login: it reads every node's role.
        let status = status(cluster.dir());
        assert_eq!(status.matches("role=master cluster_state=ok").count(), 3, "{status}");
        assert_eq!(status.matches("role=slave cluster_state=ok").count(), 3, "{status}");
        // stop remembers it too (dropping stops the nodes).
        let pids = cluster.pids();
        let name = server_name(&cluster);
        drop(cluster);
        assert!(pids.iter().all(|&p| !is_server(p, &name)), "nodes still running after drop");
    }
}

#[test]
fn testbed_refuses_a_port_in_use() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("cluster-testbed/testbed.sh"))
        .args(["start", "--base-port", &port.to_string(), "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("port {port} is in use")), "{stderr}");
}

#[test]
fn raw_reader_parses_every_resp2_type_and_nesting() {
    let wire = b"*6\r\n+OK\r\n-ERR no\r\n:-42\r\n$5\r\na\r\nbc\r\n$-1\r\n*2\r\n*0\r\n*-1\r\n";
    let got = parse_reply(&mut &wire[..]).unwrap();
    let want = Value::Array(vec![
        Value::ok(),
        Value::Error("ERR no".into()),
        Value::Int(-42),
        Value::Bulk(b"a\r\nbc".to_vec()),
        Value::Nil,
        Value::Array(vec![Value::Array(vec![]), Value::Nil]),
    ]);
    assert_eq!(got, want);
    assert!(parse_reply(&mut &b"$5\r\nab"[..]).is_err(), "a truncated reply is an error");
}

fn compose() -> Yaml {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("cluster-testbed/docker-compose.yml");
    let mut doc: Yaml = serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    doc.apply_merge().unwrap(); // the nodes share settings through `<<: *redis-node`
    doc
}

/// A service's command as one string, whether written as a string or a list.
fn command_text(service: &Yaml) -> String {
    match &service["command"] {
        Yaml::String(s) => s.clone(),
        Yaml::Sequence(items) => items.iter().map(|i| i.as_str().unwrap()).collect::<Vec<_>>().join(" "),
        other => panic!("unexpected command {other:?}"),
    }
}

#[test]
fn compose_file_describes_six_nodes_the_create_job_and_slotway() {
    let doc = compose();
    let services = &doc["services"];
    let create = command_text(&services["cluster-create"]);
    assert!(create.contains("--cluster create") && create.contains("--cluster-replicas 1"), "{create}");
    assert!(create.contains("--cluster-yes"), "create must not wait for a prompt: {create}");

    let slotway = &services["slotway"];
    let slotway_cmd = command_text(slotway);
    assert!(slotway_cmd.contains("--listen 0.0.0.0:6380"), "{slotway_cmd}");
    assert!(slotway["ports"].as_sequence().unwrap().iter().any(|p| p.as_str() == Some("6380:6380")));
    assert_eq!(slotway["build"]["dockerfile"].as_str(), Some("Dockerfile"));

    for i in 0..6 {
        let name = format!("redis-node-{i}");
        let node = &services[name.as_str()];
        let port = format!("700{i}");
        assert!(node["image"].as_str().unwrap().starts_with("redis:7"), "{name}");
        let cmd = command_text(node);
        assert!(cmd.contains("--cluster-enabled yes"), "{name}: {cmd}");
        assert_eq!(node["environment"]["NODE_PORT"].as_str(), Some(port.as_str()), "{name}");
        // The IP the node announces is the one it has, and the one the create job uses.
        let ip = node["networks"]["cluster"]["ipv4_address"].as_str().unwrap();
        assert_eq!(node["environment"]["NODE_IP"].as_str(), Some(ip), "{name}");
        assert!(create.contains(&format!("{ip}:{port}")), "create job misses {name}: {create}");
        assert!(!services["cluster-create"]["depends_on"][name.as_str()].is_null(), "create must wait for {name}");
        assert!(slotway_cmd.contains(&format!("--cluster {name}:{port}")), "slotway seeds miss {name}");
    }

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(root.join("Dockerfile").exists());
    let ignore = std::fs::read_to_string(root.join(".dockerignore")).unwrap();
    assert!(ignore.lines().any(|l| l.trim_end_matches('/') == "target"));
}

#[test]
fn slotway_handle_listens_until_dropped() {
    let cluster = TestCluster::start();
    let proxy = support::start_slotway(cluster.addrs());
    std::net::TcpStream::connect(&proxy.addr).expect("slotway accepts connections");
    let addr = proxy.addr.clone();
    let started = std::time::Instant::now();
    drop(proxy);
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "shutdown took {:?}", started.elapsed());
    assert!(std::net::TcpStream::connect(&addr).is_err(), "listener still open after drop");
}
