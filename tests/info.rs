//! `INFO` and `HELLO` as tools and client libraries read them: the nodes' version,
//! Redis's sections, field names and formats, node figures summed over the primaries.

mod support;

use support::{TestCluster, Value, connect, start_slotway};

/// `redis_version` from an `INFO` text.
fn field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
}

#[test]
fn hello_and_info_report_the_nodes_version() {
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());
    let node = connect(&cluster.primaries()[0]).cmd(&["INFO", "server"]).text().unwrap();
    let nodes_version = field(&node, "redis_version").unwrap().to_string();

    let mut c = connect(&proxy.addr);
    let Value::Array(hello) = c.cmd(&["HELLO", "2"]) else { panic!("HELLO 2 answers an array") };
    let version = hello.chunks(2).find(|kv| kv[0] == Value::bulk("version")).map(|kv| kv[1].clone());
    assert_eq!(version, Some(Value::bulk(&nodes_version)));

    let info = c.cmd(&["INFO", "server"]).text().unwrap();
    assert_eq!(field(&info, "redis_version"), Some(nodes_version.as_str()));
    assert_eq!(field(&info, "slotway_version"), Some(env!("CARGO_PKG_VERSION")));
}
