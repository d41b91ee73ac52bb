//! `SCAN` over the whole cluster through one cursor, and `HSCAN`/`SSCAN`/`ZSCAN`
//! routed by their key. The guarantee checked is Redis's: every key present for
//! the whole iteration is returned at least once, even while a slot moves.

mod support;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use slotway::cluster::slot::hash_slot;
use support::{
    Cmd, TestCluster, Value, admin_ok, array, bulk, cmd, connect, pipeline, slot_owners, start_slotway,
    start_slotway_with, text,
};

/// Writes `key:0` .. `key:{n-1}` (value: the number) straight to the owning primaries,
/// one pipeline per primary. The nodes check the slots: a wrong owner would answer MOVED.
fn load_keys(cluster: &TestCluster, n: usize) -> HashSet<Vec<u8>> {
    let owners = slot_owners(&cluster.seed());
    let mut per_node: BTreeMap<&str, Vec<Cmd>> = BTreeMap::new();
    let mut all = HashSet::with_capacity(n);
    for i in 0..n {
        let key = format!("key:{i}");
        per_node.entry(&owners[hash_slot(key.as_bytes()) as usize]).or_default().push(cmd([
            "SET",
            &key,
            &i.to_string(),
        ]));
        all.insert(key.into_bytes());
    }
    let writers: Vec<_> = per_node
        .into_iter()
        .map(|(node, cmds)| {
            let node = node.to_string();
            std::thread::spawn(move || {
                let replies = pipeline(&node, &cmds);
                assert!(
                    replies.iter().all(|r| *r == Value::ok()),
                    "SETs on {node}: {:?}",
                    replies.iter().find(|r| **r != Value::ok())
                );
            })
        })
        .collect();
    for w in writers {
        w.join().expect("loader thread");
    }
    all
}

/// One `SCAN` step: the new cursor (checked to be a u64 below 2^63) and the keys.
fn scan_step(conn: &mut support::RawConn, cursor: &str, options: &[&str]) -> (String, Vec<Vec<u8>>) {
    let mut args = vec!["SCAN", cursor];
    args.extend(options);
    let reply = conn.cmd(&args);
    let parts = array(&reply);
    assert_eq!(parts.len(), 2, "SCAN reply {reply:?}");
    let next = text(&parts[0]);
    let n: u64 = next.parse().unwrap_or_else(|_| panic!("cursor {next:?} is not an unsigned 64-bit integer"));
    assert!(n < 1 << 63, "cursor {n} must fit a signed 64-bit integer too");
    (next, array(&parts[1]).iter().map(bulk).collect())
}

/// A full iteration: every key returned (duplicates kept), and the number of calls.
fn full_scan(addr: &str, options: &[&str]) -> (Vec<Vec<u8>>, usize) {
    let mut conn = connect(addr);
    let mut cursor = "0".to_string();
    let mut keys = Vec::new();
    for calls in 1..=1_000_000 {
        let (next, batch) = scan_step(&mut conn, &cursor, options);
        keys.extend(batch);
        if next == "0" {
            return (keys, calls);
        }
        cursor = next;
    }
    panic!("SCAN {options:?} did not finish in a million calls");
}

fn distinct(keys: &[Vec<u8>]) -> HashSet<Vec<u8>> {
    keys.iter().cloned().collect()
}

#[test]
fn scan_returns_every_key_of_the_cluster_once_iterated() {
    const N: usize = 100_000;
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());
    let all = load_keys(&cluster, N);
    let mut client = connect(&proxy.addr);
    assert_eq!(client.cmd(&["DBSIZE"]), Value::Int(N as i64));

    // Default COUNT and COUNT 1000: every key at least once, nothing that does not exist.
    for options in [&[][..], &["COUNT", "1000"][..]] {
        let (keys, calls) = full_scan(&proxy.addr, options);
        let seen = distinct(&keys);
        assert_eq!(seen.len(), N, "SCAN {options:?}: distinct keys ({} returned in {calls} calls)", keys.len());
        assert_eq!(seen, all, "SCAN {options:?}");
        assert!(calls > 3, "SCAN {options:?} took {calls} calls: it must walk every primary");
    }

    // MATCH is applied by the nodes: exactly the matching keys.
    let (keys, _) = full_scan(&proxy.addr, &["MATCH", "key:1*", "COUNT", "1000"]);
    let want: HashSet<Vec<u8>> = all.iter().filter(|k| k.starts_with(b"key:1")).cloned().collect();
    assert_eq!(want.len(), 11_111);
    assert!(keys.iter().all(|k| k.starts_with(b"key:1")), "a key not matching key:1*");
    assert_eq!(distinct(&keys), want);

    // TYPE: only the hashes, wherever they live.
    let hashes: Vec<String> = (0..7).map(|i| format!("h:{i}")).collect();
    for h in &hashes {
        assert_eq!(client.cmd(&["HSET", h, "f", "v"]), Value::Int(1));
    }
    assert_eq!(client.cmd(&["SADD", "a-set", "m"]), Value::Int(1));
    assert_eq!(client.cmd(&["ZADD", "a-zset", "1", "m"]), Value::Int(1));
    let owners: HashSet<String> = support::owners_of(&cluster.seed(), &hashes).into_iter().collect();
    assert_eq!(owners.len(), 3, "the hashes should live on every primary");
    let (keys, _) = full_scan(&proxy.addr, &["TYPE", "hash", "COUNT", "1000"]);
    let want: HashSet<Vec<u8>> = hashes.iter().map(|h| h.as_bytes().to_vec()).collect();
    assert_eq!(distinct(&keys), want, "SCAN TYPE hash");
    let (keys, _) = full_scan(&proxy.addr, &["TYPE", "zset", "COUNT", "1000"]);
    assert_eq!(distinct(&keys), HashSet::from([b"a-zset".to_vec()]), "SCAN TYPE zset");

    // A cursor that is not a number: the node's own error.
    let from_node = connect(&cluster.seed()).cmd(&["SCAN", "abc"]);
    assert_eq!(from_node, Value::Error("ERR invalid cursor".into()));
    assert_eq!(client.cmd(&["SCAN", "abc"]), from_node);
    assert_eq!(client.cmd(&["SCAN", "-1"]), Value::Error("ERR invalid cursor".into()));
    // The connection still works after the error.
    assert_eq!(client.cmd(&["GET", "key:42"]), Value::bulk("42"));
}

/// Slotway's count of MOVED replies it followed (INFO stats).
fn moved_redirects(conn: &mut support::RawConn) -> u64 {
    let info = text(&conn.cmd(&["INFO", "stats"]));
    info.lines()
        .find_map(|l| l.strip_prefix("slotway_moved_redirects:"))
        .unwrap_or_else(|| panic!("no slotway_moved_redirects in INFO stats:\n{info}"))
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn scan_returns_every_key_while_a_slot_moves_midway() {
    const N: usize = 30_000;
    let cluster = TestCluster::start();
    let mut config = slotway::Config::with_seeds(cluster.addrs());
    config.refresh_interval_s = 1;
    let proxy = start_slotway_with(config);
    let all = load_keys(&cluster, N);
    let seed = cluster.seed();

    // Move a slot from the primary scanned last (it owns slot 16383) to the one scanned
    // first (slot 0), while the scan is in the middle one: a scan that went on with the
    // old plan would find the slot's keys neither where it already was nor where it goes.
    let owners = slot_owners(&seed);
    let (src, dst) = (owners[16383].clone(), owners[0].clone());
    assert_ne!(src, dst);
    let (moving_key, slot) = (0..N)
        .map(|i| format!("key:{i}"))
        .map(|k| {
            let s = support::keyslot(&seed, &k);
            (k, s)
        })
        .find(|(_, s)| owners[*s as usize] == src)
        .expect("a key on the last primary");
    let moving: Vec<Vec<u8>> =
        array(&connect(&src).cmd(&["CLUSTER", "GETKEYSINSLOT", &slot.to_string(), "1000"])).iter().map(bulk).collect();
    assert!(moving.contains(&moving_key.as_bytes().to_vec()));

    let mut conn = connect(&proxy.addr);
    let mut cursor = "0".to_string();
    let mut seen = HashSet::new();
    while seen.len() < N / 2 {
        let (next, keys) = scan_step(&mut conn, &cursor, &["COUNT", "100"]);
        seen.extend(keys);
        assert_ne!(next, "0", "the scan ended before reaching half of the keys");
        cursor = next;
    }
    assert!(moving.iter().all(|k| !seen.contains(k)), "the moving slot's keys must not have been scanned yet");

    // CLUSTER SETSLOT IMPORTING/MIGRATING, MIGRATE the keys, SETSLOT NODE everywhere.
    let s = slot.to_string();
    let (src_id, dst_id) = (cluster.node_id(&src), cluster.node_id(&dst));
    admin_ok(&dst, &["CLUSTER", "SETSLOT", &s, "IMPORTING", &src_id]);
    admin_ok(&src, &["CLUSTER", "SETSLOT", &s, "MIGRATING", &dst_id]);
    let port = dst.rsplit(':').next().unwrap();
    let mut migrate: Vec<&[u8]> = vec![b"MIGRATE", b"127.0.0.1", port.as_bytes(), b"", b"0", b"5000", b"KEYS"];
    migrate.extend(moving.iter().map(|k| &k[..]));
    assert_eq!(connect(&src).cmd_bytes(&migrate), Value::ok(), "MIGRATE");
    admin_ok(&dst, &["CLUSTER", "SETSLOT", &s, "NODE", &dst_id]);
    admin_ok(&src, &["CLUSTER", "SETSLOT", &s, "NODE", &dst_id]);
    for p in cluster.primaries().iter().filter(|p| **p != src && **p != dst) {
        admin_ok(p, &["CLUSTER", "SETSLOT", &s, "NODE", &dst_id]);
    }
    let want_value = moving_key.trim_start_matches("key:").to_string();
    assert_eq!(connect(&dst).cmd(&["GET", &moving_key]), Value::bulk(&want_value), "the key moved");

    // A command on the moved slot meets MOVED; slotway follows it and refreshes its
    // topology. Wait until it routes there without a redirect (it knows the move).
    let mut client = connect(&proxy.addr);
    let mut known = false;
    for _ in 0..200 {
        let before = moved_redirects(&mut client);
        assert_eq!(client.cmd(&["GET", &moving_key]), Value::bulk(&want_value));
        if moved_redirects(&mut client) == before {
            known = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(known, "slotway kept being redirected for slot {slot}: its topology never learnt the move");

    // The scan goes on with the cursor it had, and misses nothing.
    loop {
        let (next, keys) = scan_step(&mut conn, &cursor, &["COUNT", "100"]);
        seen.extend(keys);
        if next == "0" {
            break;
        }
        cursor = next;
    }
    assert_eq!(seen.len(), N, "distinct keys after the move (the moved slot had {} keys)", moving.len());
    assert_eq!(seen, all);
}

#[test]
fn hscan_sscan_zscan_route_by_key_and_match_the_node() {
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());
    let seed = cluster.seed();
    // Two keys per primary: a small collection (one reply) and a large one (many steps).
    let keys = support::spread_keys(&cluster, "coll:", 2);
    let mut setup: Vec<(String, Cmd)> = Vec::new();
    let kinds = ["HSCAN", "SSCAN", "ZSCAN"];
    let mut plan: Vec<(&str, String, String, usize)> = Vec::new(); // (scan command, key, owner, size)
    for (i, (key, owner)) in keys.iter().enumerate() {
        let kind = kinds[i % 3];
        let size = if i < 3 { 5 } else { 1500 };
        for chunk in (0..size).collect::<Vec<_>>().chunks(500) {
            let mut c: Vec<String> = match kind {
                "HSCAN" => vec!["HSET".into(), key.clone()],
                "SSCAN" => vec!["SADD".into(), key.clone()],
                _ => vec!["ZADD".into(), key.clone()],
            };
            for n in chunk {
                match kind {
                    "HSCAN" => c.extend([format!("field:{n}"), format!("v{n}")]),
                    "SSCAN" => c.push(format!("member:{n}")),
                    _ => c.extend([n.to_string(), format!("member:{n}")]),
                }
            }
            setup.push((owner.clone(), cmd(&c)));
        }
        plan.push((kind, key.clone(), owner.clone(), size));
    }
    let setup_cmds: Vec<Cmd> = setup.iter().map(|(_, c)| c.clone()).collect();
    for r in pipeline(&proxy.addr, &setup_cmds) {
        assert!(matches!(r, Value::Int(n) if n > 0), "setup through slotway: {r:?}");
    }

    let mut via_slotway = connect(&proxy.addr);
    for (kind, key, owner, size) in &plan {
        let mut node = connect(owner);
        for options in [&["COUNT", "50"][..], &["MATCH", "*1*"][..], &[][..]] {
            let mut cursor = "0".to_string();
            let mut items = 0;
            for step in 0.. {
                assert!(step < 10_000, "{kind} {key} does not finish");
                let mut args = vec![*kind, key.as_str(), cursor.as_str()];
                args.extend(options);
                let got = via_slotway.cmd(&args);
                let want = node.cmd(&args);
                assert_eq!(got, want, "{args:?}: slotway vs the owner {owner}");
                let parts = array(&got);
                items += array(&parts[1]).len();
                cursor = text(&parts[0]);
                if cursor == "0" {
                    break;
                }
            }
            if options.is_empty() || options[0] == "COUNT" {
                let per_item = if *kind == "SSCAN" { 1 } else { 2 };
                assert!(items >= size * per_item, "{kind} {key} {options:?}: {items} items for {size} elements");
            }
        }
    }

    // A missing key, and a bad cursor: the node's answers.
    for args in
        [&["HSCAN", "coll:none", "0"][..], &["SSCAN", "coll:none", "x"], &["ZSCAN", "coll:none", "0", "COUNT", "0"]]
    {
        let owner = &support::owners_of(&seed, &[args[1].to_string()])[0];
        assert_eq!(via_slotway.cmd(args), connect(owner).cmd(args), "{args:?}");
    }
}
