//! Commands that touch several primaries: multi-key commands split by slot
//! (`MGET`, `MSET`, `DEL`, `UNLINK`, `EXISTS`, `TOUCH`) and keyless commands sent to
//! every primary (`DBSIZE`, `KEYS`, `FLUSHALL`, `RANDOMKEY`) or every node
//! (`CONFIG SET`). Each answer is checked against what the nodes themselves hold.

mod support;

use std::collections::HashSet;

use support::{TestCluster, Value, cmd, connect, dbsizes, owners_of, pipeline, spread_keys, start_slotway};

const CROSSSLOT: &str = "CROSSSLOT Keys in request don't hash to the same slot";

fn bulk(s: &str) -> Value {
    Value::bulk(s)
}

#[test]
fn multi_key_commands_split_across_primaries_and_keep_pipeline_order() {
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());
    let seed = cluster.seed();
    assert_eq!(cluster.primaries().len(), 3);

    // MSET with four keys on each primary: each lands on its owner, and nowhere else.
    let spread = spread_keys(&cluster, "fan:", 4);
    let keys: Vec<&str> = spread.iter().map(|(k, _)| k.as_str()).collect();
    let vals: Vec<String> = (0..keys.len()).map(|i| format!("value-{i}")).collect();
    let mut mset = vec!["MSET"];
    for (k, v) in keys.iter().zip(&vals) {
        mset.extend([*k, v.as_str()]);
    }
    let mut client = connect(&proxy.addr);
    assert_eq!(client.cmd(&mset), Value::ok());
    for ((key, owner), v) in spread.iter().zip(&vals) {
        assert_eq!(connect(owner).cmd(&["GET", key]), bulk(v), "{key} on its owner {owner}");
    }
    for (primary, size) in dbsizes(&cluster) {
        let owned = spread.iter().filter(|(_, o)| *o == primary).count() as i64;
        assert_eq!(size, owned, "DBSIZE on {primary}: only the keys it owns");
    }

    // One pipeline mixing split commands with single-key ones; replies in request order.
    let (k, v) = (&keys, &vals);
    let (miss1, miss2) = ("fan:missing:a", "fan:missing:b");
    let steps: Vec<(Vec<&str>, Value)> = vec![
        (vec!["SET", "fan:single", "one"], Value::ok()),
        (
            vec!["MGET", k[5], miss1, k[0], k[2], k[1], miss2, k[4], k[3], k[11]],
            Value::Array(vec![
                bulk(&v[5]),
                Value::Nil,
                bulk(&v[0]),
                bulk(&v[2]),
                bulk(&v[1]),
                Value::Nil,
                bulk(&v[4]),
                bulk(&v[3]),
                bulk(&v[11]),
            ]),
        ),
        (vec!["GET", "fan:single"], bulk("one")),
        // Duplicates count once each, as on Redis.
        (vec!["EXISTS", k[0], k[0], k[1], miss1, k[2], k[2], k[2]], Value::Int(6)),
        (vec!["TOUCH", k[0], k[1], k[2], k[3], miss1], Value::Int(4)),
        (vec!["INCR", "fan:counter"], Value::Int(1)),
        (vec!["DEL", k[0], k[2], k[4], miss1, miss2], Value::Int(3)),
        (vec!["EXISTS", k[0], k[1], k[2], k[3], k[4], k[5]], Value::Int(3)),
        (vec!["UNLINK", k[1], k[3], miss1, k[6], k[7]], Value::Int(4)),
        (
            vec!["MGET", k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7], k[8]],
            Value::Array(vec![
                Value::Nil,
                Value::Nil,
                Value::Nil,
                Value::Nil,
                Value::Nil,
                bulk(&v[5]),
                Value::Nil,
                Value::Nil,
                bulk(&v[8]),
            ]),
        ),
        (vec!["INCR", "fan:counter"], Value::Int(2)),
        (vec!["MGET", miss1, miss2, miss1], Value::Array(vec![Value::Nil, Value::Nil, Value::Nil])),
        (vec!["DEL", k[5]], Value::Int(1)),
        (vec!["EXISTS", miss1, miss2], Value::Int(0)),
        (vec!["GET", "fan:counter"], bulk("2")),
    ];
    let cmds: Vec<_> = steps.iter().map(|(c, _)| cmd(c)).collect();
    let replies = pipeline(&proxy.addr, &cmds);
    for ((c, want), got) in steps.iter().zip(&replies) {
        assert_eq!(got, want, "{c:?}");
    }

    // The nodes agree: deleted keys are gone from their owners, the rest kept.
    let gone = [0, 1, 2, 3, 4, 5, 6, 7];
    for (i, (key, owner)) in spread.iter().enumerate() {
        let want = if gone.contains(&i) { Value::Nil } else { bulk(&vals[i]) };
        assert_eq!(connect(owner).cmd(&["GET", key]), want, "{key} on {owner} after the pipeline");
    }
    // EXISTS counting duplicates is Redis's own rule: a node counts them the same way.
    let (k8, owner8) = &spread[8];
    assert_eq!(connect(owner8).cmd(&["EXISTS", k8, k8, k8]), Value::Int(3));
    assert_eq!(client.cmd(&["EXISTS", k8, k8, k8]), Value::Int(3));

    // MSETNX is all-or-nothing, so slotway cannot split it: CROSSSLOT, as a node says.
    let far = spread_keys(&cluster, "msetnx:", 1);
    let mut msetnx = vec!["MSETNX"];
    for (key, _) in &far {
        msetnx.extend([key.as_str(), "x"]);
    }
    let from_slotway = client.cmd(&msetnx);
    assert_eq!(from_slotway, Value::Error(CROSSSLOT.into()));
    assert_eq!(connect(&seed).cmd(&msetnx), from_slotway, "a node's answer to the same MSETNX");
    for primary in cluster.primaries() {
        let found = connect(&primary).cmd(&["KEYS", "msetnx:*"]);
        assert_eq!(found, Value::Array(vec![]), "cross-slot MSETNX wrote nothing on {primary}");
    }
    // Same slot (hash tag): Redis's MSETNX, all or nothing.
    let tagged = ["{nx}a", "{nx}b", "{nx}c"];
    assert_eq!(client.cmd(&["MSETNX", tagged[0], "1", tagged[1], "2"]), Value::Int(1));
    assert_eq!(client.cmd(&["MSETNX", tagged[0], "x", tagged[2], "3"]), Value::Int(0));
    let owner = &owners_of(&seed, &[tagged[0].to_string()])[0];
    let mut node = connect(owner);
    assert_eq!(
        node.cmd(&["MGET", tagged[0], tagged[1], tagged[2]]),
        Value::Array(vec![bulk("1"), bulk("2"), Value::Nil])
    );
}

#[test]
fn keyless_commands_reach_every_primary_and_config_set_every_node() {
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());
    let primaries = cluster.primaries();
    let mut client = connect(&proxy.addr);

    // An empty cluster: RANDOMKEY is nil, as on an empty node.
    assert_eq!(connect(&primaries[0]).cmd(&["RANDOMKEY"]), Value::Nil);
    assert_eq!(client.cmd(&["RANDOMKEY"]), Value::Nil);
    assert_eq!(client.cmd(&["DBSIZE"]), Value::Int(0));

    let keys: Vec<String> = (0..300).map(|i| format!("ks:{i}")).collect();
    let msets: Vec<_> = keys
        .chunks(50)
        .map(|chunk| {
            let mut c = vec!["MSET".to_string()];
            for k in chunk {
                c.extend([k.clone(), format!("v:{k}")]);
            }
            cmd(&c)
        })
        .collect();
    assert!(pipeline(&proxy.addr, &msets).iter().all(|r| *r == Value::ok()));

    // DBSIZE: the primaries' sum, and every primary holds some of the keys.
    let sizes = dbsizes(&cluster);
    assert!(sizes.iter().all(|(_, n)| *n > 0), "keys on every primary: {sizes:?}");
    let sum: i64 = sizes.iter().map(|(_, n)| n).sum();
    assert_eq!(sum, 300);
    assert_eq!(client.cmd(&["DBSIZE"]), Value::Int(sum));

    // KEYS *: every key exactly once; the same keys the primaries list themselves.
    let listed: Vec<Vec<u8>> = support::array(&client.cmd(&["KEYS", "*"])).iter().map(support::bulk).collect();
    assert_eq!(listed.len(), 300, "KEYS * returns each key once");
    let listed: HashSet<Vec<u8>> = listed.into_iter().collect();
    let want: HashSet<Vec<u8>> = keys.iter().map(|k| k.as_bytes().to_vec()).collect();
    assert_eq!(listed, want);
    let mut on_nodes = HashSet::new();
    for p in &primaries {
        for k in support::array(&connect(p).cmd(&["KEYS", "*"])) {
            assert!(on_nodes.insert(support::bulk(&k)), "a key on two primaries");
        }
    }
    assert_eq!(on_nodes, want);
    // A pattern is passed on to every node.
    let ones = support::array(&client.cmd(&["KEYS", "ks:1?"]));
    assert_eq!(ones.len(), 10, "KEYS ks:1? -> ks:10..ks:19: {ones:?}");

    // RANDOMKEY: a key that exists.
    for _ in 0..20 {
        let key = support::text(&client.cmd(&["RANDOMKEY"]));
        assert!(want.contains(key.as_bytes()), "RANDOMKEY gave {key}, which was never written");
        assert_eq!(support::get_on_owner(&cluster.seed(), &key), bulk(&format!("v:{key}")));
    }

    // FLUSHALL empties every primary.
    assert_eq!(client.cmd(&["FLUSHALL"]), Value::ok());
    for (primary, size) in dbsizes(&cluster) {
        assert_eq!(size, 0, "DBSIZE on {primary} after FLUSHALL");
    }
    assert_eq!(client.cmd(&["DBSIZE"]), Value::Int(0));
    assert_eq!(client.cmd(&["KEYS", "*"]), Value::Array(vec![]));
    assert_eq!(client.cmd(&["RANDOMKEY"]), Value::Nil);

    // CONFIG SET through slotway reaches every node, replicas included; and back.
    let policy = |addr: &str| connect(addr).cmd(&["CONFIG", "GET", "maxmemory-policy"]);
    let original = support::array(&policy(&primaries[0]))[1].text().unwrap();
    assert_ne!(original, "allkeys-lru", "the test needs a different starting policy");
    let expect = |p: &str| Value::Array(vec![bulk("maxmemory-policy"), bulk(p)]);
    assert_eq!(client.cmd(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"]), Value::ok());
    let nodes = cluster.addrs();
    assert_eq!(cluster.primaries().len() + cluster.replicas().len(), nodes.len());
    for node in &nodes {
        assert_eq!(policy(node), expect("allkeys-lru"), "CONFIG GET on {node}");
    }
    assert_eq!(client.cmd(&["CONFIG", "GET", "maxmemory-policy"]), expect("allkeys-lru"));
    assert_eq!(client.cmd(&["CONFIG", "SET", "maxmemory-policy", &original]), Value::ok());
    for node in &nodes {
        assert_eq!(policy(node), expect(&original), "CONFIG GET on {node} after setting it back");
    }
    // A value every node refuses: the node's own error.
    let bad = ["CONFIG", "SET", "maxmemory-policy", "no-such-policy"];
    let from_node = connect(&primaries[0]).cmd(&bad);
    assert!(from_node.is_error());
    assert_eq!(client.cmd(&bad), from_node);
}
