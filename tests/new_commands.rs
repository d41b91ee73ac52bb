//! Commands newer than Redis 7.0, through slotway in front of real Redis 8.0 and
//! Valkey 8.1 clusters: slotway learns them from the primaries' `COMMAND` and
//! routes them by their key positions and key specs. Each command runs twice, on
//! one key through slotway and on a twin key (same slot, same node) straight at
//! the node that owns it: the replies must be the same, reply for reply.

mod support;

use support::{TestCluster, Value, connect, key_owner, start_slotway};

/// A step of a script: its arguments, with `{k}` standing for the key under test.
type Step = &'static [&'static str];

/// Runs `steps` through slotway on `{tag}a...` keys and on the owner on `{tag}b...`
/// keys, and compares every reply (with the key names swapped back).
fn same_as_the_owner(cluster: &TestCluster, slotway: &str, tag: &str, steps: &[Step]) {
    let through = format!("{{{tag}}}a");
    let direct = format!("{{{tag}}}b");
    let owner = key_owner(cluster, &through);
    assert_eq!(owner, key_owner(cluster, &direct), "the twins share a slot");
    let mut proxy = connect(slotway);
    let mut node = connect(&owner);
    for step in steps {
        let with = |key: &str| step.iter().map(|a| a.replace("{k}", key)).collect::<Vec<_>>();
        let (a, b) = (with(&through), with(&direct));
        let via_slotway = proxy.cmd(&a.iter().map(String::as_str).collect::<Vec<_>>());
        let at_node = node.cmd(&b.iter().map(String::as_str).collect::<Vec<_>>());
        let normalize = |v: &Value| format!("{v:?}").replace(&direct, &through);
        assert_eq!(normalize(&via_slotway), normalize(&at_node), "{a:?} through slotway vs {b:?} at {owner}");
        assert!(!matches!(&via_slotway, Value::Error(e) if e.contains("slotway")), "{a:?}: {via_slotway:?}");
    }
}

const HASH_FIELD_EXPIRY: &[Step] = &[
    &["HSET", "{k}", "f", "v", "g", "w"],
    &["HEXPIRE", "{k}", "1000", "FIELDS", "1", "f"],
    &["HPEXPIRE", "{k}", "1000000", "NX", "FIELDS", "1", "g"],
    &["HEXPIREAT", "{k}", "4102444800", "FIELDS", "2", "f", "nope"],
    &["HPEXPIREAT", "{k}", "4102444800000", "FIELDS", "1", "g"],
    &["HEXPIRETIME", "{k}", "FIELDS", "2", "f", "g"],
    &["HPEXPIRETIME", "{k}", "FIELDS", "1", "f"],
    &["HPERSIST", "{k}", "FIELDS", "2", "f", "nope"],
    &["HTTL", "{k}", "FIELDS", "1", "f"],
    &["HPTTL", "{k}", "FIELDS", "1", "nope"],
    &["HEXPIRE", "{k}", "10", "FIELDS", "0"],
];

const REDIS_8_HASHES: &[Step] = &[
    &["HSET", "{k}", "f", "v", "g", "w"],
    &["HGETEX", "{k}", "PERSIST", "FIELDS", "1", "f"],
    &["HSETEX", "{k}", "FNX", "FIELDS", "2", "x", "1", "y", "2"],
    &["HSETEX", "{k}", "KEEPTTL", "FIELDS", "1", "x", "3"],
    &["HGETDEL", "{k}", "FIELDS", "2", "x", "nope"],
    &["HGETALL", "{k}"],
    &["HGETEX", "{k}", "FIELDS", "2", "f"],
];

const VECTOR_SETS: &[Step] = &[
    &["VADD", "{k}", "VALUES", "3", "1", "0", "0", "a"],
    &["VADD", "{k}", "VALUES", "3", "0", "1", "0", "b"],
    &["VCARD", "{k}"],
    &["VDIM", "{k}"],
    &["VISMEMBER", "{k}", "a"],
    &["VSIM", "{k}", "ELE", "a", "COUNT", "1"],
    &["VSETATTR", "{k}", "a", "{\"x\":1}"],
    &["VGETATTR", "{k}", "a"],
    &["VREM", "{k}", "b"],
    &["VCARD", "{k}"],
];

const RANK_WITH_SCORE: &[Step] = &[
    &["ZADD", "{k}", "1.5", "m", "2", "n"],
    &["ZRANK", "{k}", "n", "WITHSCORE"],
    &["ZREVRANK", "{k}", "m", "WITHSCORE"],
    &["ZRANK", "{k}", "nope", "WITHSCORE"],
];

/// A transaction of new commands on one slot: queued, then run by EXEC.
const NEW_COMMANDS_IN_MULTI: &[Step] = &[
    &["MULTI"],
    &["HSET", "{k}", "f", "v"],
    &["HEXPIRE", "{k}", "1000", "FIELDS", "1", "f"],
    &["HPERSIST", "{k}", "FIELDS", "1", "f"],
    &["EXEC"],
];

#[test]
fn redis_8_0_commands_are_routed_like_the_owning_node_answers() {
    let cluster = TestCluster::start_server("redis-8.0");
    let proxy = start_slotway(cluster.addrs());
    same_as_the_owner(&cluster, &proxy.addr, "hfe", HASH_FIELD_EXPIRY);
    same_as_the_owner(&cluster, &proxy.addr, "h8", REDIS_8_HASHES);
    same_as_the_owner(&cluster, &proxy.addr, "vs", VECTOR_SETS);
    same_as_the_owner(&cluster, &proxy.addr, "zr", RANK_WITH_SCORE);
    same_as_the_owner(&cluster, &proxy.addr, "tx", NEW_COMMANDS_IN_MULTI);
    same_as_the_owner(
        &cluster,
        &proxy.addr,
        "tx8",
        &[
            &["MULTI"],
            &["HSETEX", "{k}", "EX", "100", "FIELDS", "1", "x", "y"],
            &["HGETDEL", "{k}", "FIELDS", "1", "x"],
            &["VADD", "{k}:v", "VALUES", "2", "1", "2", "e"],
            &["EXEC"],
        ],
    );
    let mut client = connect(&proxy.addr);
    // Keys in two slots: refused as the cluster refuses them.
    let cross = client.cmd(&["HGETDEL", "{a}x", "FIELDS", "1", "f"]);
    assert!(matches!(cross, Value::Array(_)), "{cross:?}");
    let info = client.cmd(&["INFO", "slotway"]).text().unwrap();
    assert!(info.contains("command_table:learned from the primaries (redis 8.0.2 x3)"), "{info}");
}

#[test]
fn valkey_8_1_is_named_and_its_commands_are_routed() {
    let cluster = TestCluster::start_server("valkey-8.1");
    let proxy = start_slotway(cluster.addrs());
    same_as_the_owner(&cluster, &proxy.addr, "zr", RANK_WITH_SCORE);
    same_as_the_owner(
        &cluster,
        &proxy.addr,
        "ifeq",
        &[
            &["SET", "{k}", "v"],
            &["SET", "{k}", "w", "IFEQ", "nope"],
            &["SET", "{k}", "w", "IFEQ", "v"],
            &["GET", "{k}"],
        ],
    );
    let mut client = connect(&proxy.addr);
    // HELLO and INFO name the server behind slotway, as a Valkey node does.
    let Value::Array(hello) = client.cmd(&["HELLO", "2"]) else { panic!("HELLO is an array") };
    assert_eq!(
        &hello[..4],
        &[Value::bulk("server"), Value::bulk("valkey"), Value::bulk("version"), Value::bulk("8.1.8")]
    );
    let info = client.cmd(&["INFO", "server"]).text().unwrap();
    for line in ["redis_version:7.2.4", "server_name:valkey", "valkey_version:8.1.8", "server_mode:cluster"] {
        assert!(info.contains(line), "{line} in:\n{info}");
    }
    assert_eq!(client.cmd(&["CLIENT", "CAPA", "redirect"]), Value::ok());
    // CLUSTER SLOT-STATS: every primary's slots, as one node owning them all lists them.
    assert_eq!(client.cmd(&["SET", "{stats}a", "1"]), Value::ok());
    assert_eq!(client.cmd(&["SET", "{stats}b", "1"]), Value::ok());
    assert_eq!(client.cmd(&["SET", "{stats}c", "1"]), Value::ok());
    let Value::Array(all) = client.cmd(&["CLUSTER", "SLOT-STATS", "SLOTSRANGE", "0", "16383"]) else {
        panic!("SLOT-STATS SLOTSRANGE is an array")
    };
    let slots: Vec<i64> = all
        .iter()
        .map(|e| match e {
            Value::Array(f) => match f.first() {
                Some(Value::Int(slot)) => *slot,
                other => panic!("slot entry {other:?}"),
            },
            other => panic!("entry {other:?}"),
        })
        .collect();
    assert_eq!(slots, (0..16384).collect::<Vec<i64>>(), "every slot once, in order, across the primaries");
    let stats_slot = support::keyslot(&cluster.seed(), "{stats}a") as i64;
    assert_eq!(
        client.cmd(&["CLUSTER", "SLOT-STATS", "ORDERBY", "key-count", "LIMIT", "1"]),
        Value::Array(vec![Value::Array(vec![
            Value::Int(stats_slot),
            Value::Array(vec![Value::bulk("key-count"), Value::Int(3)])
        ])]),
        "the slot with the most keys (the others have 2 at most), across the primaries"
    );
    let Value::Bulk(shard) = client.cmd(&["CLUSTER", "MYSHARDID"]) else {
        panic!("CLUSTER MYSHARDID is a bulk string")
    };
    assert_eq!(shard.len(), 40);
}

#[test]
fn redis_7_0_keeps_the_builtin_table_and_refuses_what_it_lacks() {
    let cluster = TestCluster::start_server("redis-7.0");
    let proxy = start_slotway(cluster.addrs());
    let mut client = connect(&proxy.addr);
    // The node itself does not know these: neither does slotway, in Redis's words.
    let hgetex = client.cmd(&["HGETEX", "k", "FIELDS", "1", "f"]);
    assert!(matches!(&hgetex, Value::Error(e) if e.starts_with("ERR unknown command 'HGETEX'")), "{hgetex:?}");
    let capa = client.cmd(&["CLIENT", "CAPA", "redirect"]);
    assert!(matches!(&capa, Value::Error(e) if e.starts_with("ERR unknown subcommand 'CAPA'")), "{capa:?}");
    let Value::Array(hello) = client.cmd(&["HELLO", "2"]) else { panic!("HELLO is an array") };
    assert_eq!(
        &hello[..4],
        &[Value::bulk("server"), Value::bulk("redis"), Value::bulk("version"), Value::bulk("7.0.15")]
    );
}

/// `CLIENT NO-TOUCH ON` (Redis 7.2+): that client's reads leave a key's idle time
/// alone, while another client's reads through slotway still reset it.
#[test]
fn client_no_touch_applies_to_that_clients_commands_only() {
    let cluster = TestCluster::start_server("redis-8.0");
    let proxy = start_slotway(cluster.addrs());
    let key = "notouch:k";
    let owner = key_owner(&cluster, key);
    let idle = || match connect(&owner).cmd(&["OBJECT", "IDLETIME", key]) {
        Value::Int(n) => n,
        other => panic!("OBJECT IDLETIME: {other:?}"),
    };
    let mut quiet = connect(&proxy.addr);
    let mut toucher = connect(&proxy.addr);
    assert_eq!(quiet.cmd(&["SET", key, "v"]), Value::ok());
    assert_eq!(quiet.cmd(&["CLIENT", "NO-TOUCH", "ON"]), Value::ok());
    std::thread::sleep(std::time::Duration::from_millis(2100));
    assert_eq!(quiet.cmd(&["GET", key]), Value::bulk("v"));
    assert!(idle() >= 2, "a NO-TOUCH client's GET reset the idle time");
    assert_eq!(toucher.cmd(&["GET", key]), Value::bulk("v"));
    assert!(idle() <= 1, "another client's GET did not reset the idle time");
    // Off again: its reads touch keys as before.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    assert_eq!(quiet.cmd(&["CLIENT", "NO-TOUCH", "OFF"]), Value::ok());
    assert_eq!(quiet.cmd(&["GET", key]), Value::bulk("v"));
    assert!(idle() <= 1, "after NO-TOUCH OFF a GET leaves the idle time");
}
