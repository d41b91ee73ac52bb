//! Settings that belong to slotway (`requirepass`, `maxclients`, `timeout`) are
//! changed by `CONFIG SET` on slotway itself, as one server changes its own, and
//! never reach the nodes: a client cannot lock slotway out of its own cluster.

mod support;

use support::{TestCluster, Value, connect, start_slotway};

fn err(reply: &Value) -> String {
    match reply {
        Value::Error(e) => e.clone(),
        other => panic!("expected an error, got {other:?}"),
    }
}

/// Every node's own `requirepass`, asked directly.
fn nodes_requirepass(cluster: &TestCluster) -> Vec<Value> {
    cluster.addrs().iter().map(|a| connect(a).cmd(&["CONFIG", "GET", "requirepass"])).collect()
}

#[test]
fn config_set_requirepass_is_slotways_own_and_the_nodes_are_untouched() {
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());
    let untouched = nodes_requirepass(&cluster);
    let mut admin = connect(&proxy.addr);
    // redis-py's sequence: set a password, log in with it, take it away again.
    assert_eq!(admin.cmd(&["CONFIG", "SET", "requirepass", "s3cret"]), Value::ok());
    // The connection that set it stays logged in, as on one server.
    assert_eq!(admin.cmd(&["SET", "own:k", "v"]), Value::ok());
    let mut other = connect(&proxy.addr);
    assert!(err(&other.cmd(&["GET", "own:k"])).starts_with("NOAUTH"), "a new client must log in");
    assert!(err(&other.cmd(&["AUTH", "nope"])).starts_with("WRONGPASS"));
    assert_eq!(other.cmd(&["AUTH", "s3cret"]), Value::ok());
    assert_eq!(other.cmd(&["GET", "own:k"]), Value::bulk("v"));
    assert_eq!(
        admin.cmd(&["CONFIG", "GET", "requirepass"]),
        Value::Array(vec![Value::bulk("requirepass"), Value::bulk("s3cret")])
    );
    // The nodes never saw it: slotway's own connections (new ones too) still work.
    assert_eq!(nodes_requirepass(&cluster), untouched);
    assert_eq!(admin.cmd(&["CONFIG", "SET", "requirepass", ""]), Value::ok());
    let mut fresh = connect(&proxy.addr);
    assert_eq!(fresh.cmd(&["GET", "own:k"]), Value::bulk("v"));
    assert_eq!(nodes_requirepass(&cluster), untouched);
}

#[test]
fn config_set_of_slotways_limits_checks_values_as_redis_does() {
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());
    let mut client = connect(&proxy.addr);
    assert_eq!(client.cmd(&["CONFIG", "SET", "maxclients", "123", "timeout", "0"]), Value::ok());
    assert_eq!(
        client.cmd(&["CONFIG", "GET", "maxclients"]),
        Value::Array(vec![Value::bulk("maxclients"), Value::bulk("123")])
    );
    assert_eq!(
        err(&client.cmd(&["CONFIG", "SET", "maxclients", "abc"])),
        "ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument couldn't be parsed into an integer"
    );
    assert_eq!(
        err(&client.cmd(&["CONFIG", "SET", "timeout", "-1"])),
        "ERR CONFIG SET failed (possibly related to argument 'timeout') - argument must be between 0 and 2147483647 inclusive"
    );
    // A bad value leaves every setting of the command as it was.
    assert!(client.cmd(&["CONFIG", "SET", "maxclients", "7", "timeout", "x"]).text().unwrap().contains("timeout"));
    assert_eq!(
        client.cmd(&["CONFIG", "GET", "maxclients"]),
        Value::Array(vec![Value::bulk("maxclients"), Value::bulk("123")])
    );
    assert!(err(&client.cmd(&["CONFIG", "SET", "maxclients", "10", "maxmemory", "0"])).contains("of their own"));
    // The nodes' own settings still go to the nodes.
    assert_eq!(client.cmd(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"]), Value::ok());
    for addr in cluster.addrs() {
        assert_eq!(
            connect(&addr).cmd(&["CONFIG", "GET", "maxmemory-policy"]),
            Value::Array(vec![Value::bulk("maxmemory-policy"), Value::bulk("allkeys-lru")])
        );
        assert_ne!(
            connect(&addr).cmd(&["CONFIG", "GET", "maxclients"]),
            Value::Array(vec![Value::bulk("maxclients"), Value::bulk("123")])
        );
    }
}
