//! Client and introspection commands slotway answers or merges itself: CLIENT
//! REPLY/INFO/LIST/SETINFO, DEBUG OBJECT by key, CONFIG GET across nodes that
//! disagree, SLOWLOG merged newest first; AUTH and HELLO AUTH when slotway asks for
//! no login, as a node's `nopass` default user answers them.

mod support;

use support::{Standalone, TestCluster, Value, connect, start_slotway};

#[test]
fn client_reply_info_list_and_setinfo() {
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());
    let mut c = connect(&proxy.addr);

    // CLIENT REPLY OFF: no replies (not even to itself) until ON, which answers +OK.
    c.send(b"CLIENT REPLY OFF\r\nSET cr:a 1\r\nGET cr:a\r\nCLIENT REPLY ON\r\nGET cr:a\r\n");
    assert_eq!(c.read_reply(), Value::ok());
    assert_eq!(c.read_reply(), Value::bulk("1"));
    // SKIP: the next command's reply only.
    c.send(b"CLIENT REPLY SKIP\r\nINCR cr:n\r\nINCR cr:n\r\n");
    assert_eq!(c.read_reply(), Value::Int(2));
    assert!(c.cmd(&["CLIENT", "REPLY", "maybe"]).is_error());

    assert_eq!(c.cmd(&["CLIENT", "SETNAME", "app-1"]), Value::ok());
    assert_eq!(c.cmd(&["CLIENT", "SETINFO", "LIB-NAME", "mylib"]), Value::ok());
    assert_eq!(c.cmd(&["CLIENT", "SETINFO", "LIB-VER", "1.2"]), Value::ok());
    assert!(c.cmd(&["CLIENT", "SETINFO", "COLOR", "x"]).is_error());
    let info = c.cmd(&["CLIENT", "INFO"]).text().unwrap();
    assert!(info.contains("name=app-1") && info.contains("lib-name=mylib") && info.contains("lib-ver=1.2"), "{info}");
    let id = match c.cmd(&["CLIENT", "ID"]) {
        Value::Int(id) => id,
        other => panic!("CLIENT ID answered {other:?}"),
    };
    assert!(info.starts_with(&format!("id={id} ")), "{info}");
    let mut other = connect(&proxy.addr);
    assert_eq!(other.cmd(&["PING"]), Value::Simple("PONG".into())); // it is registered once served
    let list = c.cmd(&["CLIENT", "LIST"]).text().unwrap();
    assert_eq!(list.lines().count(), 2, "two clients are connected:\n{list}");
    let only_me = c.cmd(&["CLIENT", "LIST", "ID", &id.to_string()]).text().unwrap();
    assert_eq!(only_me.lines().count(), 1);
    assert!(only_me.contains("name=app-1"));

    // RESET ends CLIENT REPLY OFF (its +RESET is seen); a SKIP before it hides it, as
    // on one server.
    let redis = Standalone::start();
    let wire =
        b"CLIENT REPLY OFF\r\nRESET\r\nCLIENT REPLY SKIP\r\nRESET\r\nPING\r\nCLIENT REPLY OFF\r\nPING\r\nRESET\r\n";
    let (mut p, mut r) = (connect(&proxy.addr), connect(&redis.addr));
    p.send(wire);
    r.send(wire);
    for want in [Value::Simple("RESET".into()), Value::Simple("PONG".into()), Value::Simple("RESET".into())] {
        assert_eq!(r.read_reply(), want, "one server");
        assert_eq!(p.read_reply(), want, "slotway");
    }
}

#[test]
fn auth_without_a_login_configured_answers_as_the_nopass_default_user() {
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());
    let mut c = connect(&proxy.addr);
    let mut node = connect(&cluster.seed());

    // Jedis's DefaultJedisClientConfig with a user sends `AUTH user pass` (RESP2)
    // or `HELLO 3 AUTH user pass SETNAME name` (RESP3) and fails to connect on an error.
    for args in [
        &["AUTH", "default", "anything"][..],
        &["AUTH", "other", "anything"],
        &["AUTH", "Default", "anything"],
        &["AUTH", "anything"],
    ] {
        assert_eq!(c.cmd(args), node.cmd(args), "{args:?}");
    }
    assert_eq!(c.cmd(&["AUTH", "default", "x"]), Value::ok());
    let hello = c.cmd(&["HELLO", "2", "AUTH", "default", "pw", "SETNAME", "js"]);
    assert!(!hello.is_error(), "{hello:?}");
    assert_eq!(c.cmd(&["CLIENT", "GETNAME"]), Value::bulk("js"));
    let refused = c.cmd(&["HELLO", "2", "AUTH", "other", "pw"]);
    assert_eq!(refused, node.cmd(&["HELLO", "2", "AUTH", "other", "pw"]));
    assert!(matches!(&refused, Value::Error(e) if e.starts_with("WRONGPASS")), "{refused:?}");
    assert_eq!(c.cmd(&["PING"]), Value::Simple("PONG".into()));
}

#[test]
fn debug_object_config_get_and_slowlog_across_nodes() {
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());
    let mut c = connect(&proxy.addr);

    // DEBUG OBJECT goes to the key's primary; other DEBUG subcommands are refused.
    assert_eq!(c.cmd(&["SET", "dbg:k", "v"]), Value::ok());
    let owner = cluster.node_for_slot(slotway::cluster::slot::hash_slot(b"dbg:k"));
    let through = c.cmd(&["DEBUG", "OBJECT", "dbg:k"]).text().unwrap();
    let direct = connect(&owner).cmd(&["DEBUG", "OBJECT", "dbg:k"]).text().unwrap();
    assert_eq!(through.split(" lru").next(), direct.split(" lru").next());
    let refused = c.cmd(&["DEBUG", "SLEEP", "0"]);
    assert!(matches!(&refused, Value::Error(e) if e.contains("'debug'")), "{refused:?}");

    // CONFIG GET: one value where the nodes agree, every node's where they do not.
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "maxmemory-samples"]),
        Value::Array(vec![Value::bulk("maxmemory-samples"), Value::bulk("5")])
    );
    let odd = cluster.primaries()[0].clone();
    assert_eq!(connect(&odd).cmd(&["CONFIG", "SET", "maxmemory-samples", "7"]), Value::ok());
    let Value::Array(pair) = c.cmd(&["CONFIG", "GET", "maxmemory-samples"]) else { panic!("not an array") };
    let text = pair[1].text().unwrap();
    assert!(text.contains(&format!("7 ({odd})")) && text.contains("5 ("), "{text}");
    assert_eq!(c.cmd(&["CONFIG", "SET", "maxmemory-samples", "5"]), Value::ok());

    // SLOWLOG: every command is slow with a threshold of 0; entries come newest first.
    assert_eq!(c.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]), Value::ok());
    assert_eq!(c.cmd(&["SLOWLOG", "RESET"]), Value::ok());
    for i in 0..3 {
        c.cmd(&["SET", &format!("slow:{i}"), "v"]);
        std::thread::sleep(std::time::Duration::from_millis(1100)); // distinct timestamps (seconds)
    }
    let Value::Array(entries) = c.cmd(&["SLOWLOG", "GET", "100"]) else { panic!("SLOWLOG GET is not an array") };
    let stamps: Vec<i64> = entries
        .iter()
        .map(|e| match e {
            Value::Array(fields) => match fields[1] {
                Value::Int(t) => t,
                _ => panic!("no timestamp in {e:?}"),
            },
            _ => panic!("bad entry {e:?}"),
        })
        .collect();
    assert!(stamps.len() >= 3, "{stamps:?}");
    assert!(stamps.windows(2).all(|w| w[0] >= w[1]), "newest first: {stamps:?}");
    let Value::Array(two) = c.cmd(&["SLOWLOG", "GET", "2"]) else { panic!() };
    assert_eq!(two.len(), 2, "the count applies to the merged log");
    assert_eq!(c.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "10000"]), Value::ok());
}
