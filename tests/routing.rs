//! Routing against a real cluster: slots computed like the cluster computes them,
//! keys landing on the primary that owns them, and replies that keep request order
//! in deep pipelines and across concurrent clients.

mod support;

use std::collections::{HashMap, HashSet, VecDeque};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::{
    Cmd, TestCluster, Value, cmd, connect, get_from_owners, keyslots, pipeline, slot_owners, start_slotway,
    start_slotway_with,
};

/// A reproducible RNG: the seed is printed, and `SLOTWAY_TEST_SEED` replays it.
fn seeded_rng(test: &str) -> StdRng {
    let seed = std::env::var("SLOTWAY_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    eprintln!("{test}: SLOTWAY_TEST_SEED={seed}");
    StdRng::seed_from_u64(seed)
}

/// Random bytes, biased toward braces so hash tags of every shape show up.
fn random_key(rng: &mut impl Rng) -> Vec<u8> {
    let len = rng.random_range(0..=24);
    (0..len)
        .map(|_| match rng.random_range(0..100) {
            0..15 => b'{',
            15..30 => b'}',
            30..70 => rng.random_range(b'a'..=b'e'),
            _ => rng.random(),
        })
        .collect()
}

#[test]
fn hash_slots_agree_with_the_cluster() {
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());
    let mut rng = seeded_rng("hash_slots_agree_with_the_cluster");

    let fixed = [
        "a{b}c",
        "{}x",
        "{{x}}",
        "{",
        "}",
        "{}",
        "}{",
        "x{}{y}",
        "{a}{b}",
        "",
        "foo{bar",
        "foo}bar{",
        "{user1000}.following",
        "foo{{bar}}zap",
        "{\r\n}",
        "a{\0}b",
        "{}{}",
        "{{}}",
        "x{y}z{w}",
    ];
    let mut keys: Vec<Vec<u8>> = fixed.iter().map(|k| k.as_bytes().to_vec()).collect();
    // Keys with a tag somewhere in the middle, around random bytes.
    for _ in 0..500 {
        let mut k = random_key(&mut rng);
        k.push(b'{');
        k.extend(random_key(&mut rng));
        k.push(b'}');
        k.extend(random_key(&mut rng));
        keys.push(k);
    }
    while keys.len() < 3000 {
        keys.push(random_key(&mut rng));
    }

    let via_slotway = keyslots(&proxy.addr, &keys);
    let via_node = keyslots(&cluster.seed(), &keys);
    for ((key, got), want) in keys.iter().zip(&via_slotway).zip(&via_node) {
        assert_eq!(got, want, "CLUSTER KEYSLOT {:?}: slotway {got}, cluster {want}", String::from_utf8_lossy(key));
    }
    let distinct: HashSet<u16> = via_node.iter().copied().collect();
    assert!(distinct.len() > 1000, "keys should spread over many slots, got {}", distinct.len());
}

/// What the cluster holds, as far as the pipeline below knows.
enum Model {
    Str(Vec<u8>),
    Hash(HashMap<Vec<u8>, Vec<u8>>),
    List(VecDeque<Vec<u8>>),
}

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

fn random_value(rng: &mut impl Rng) -> Vec<u8> {
    let len = rng.random_range(0..40);
    // Arbitrary bytes, CR/LF included: values must be forwarded byte for byte.
    (0..len).map(|_| rng.random()).collect()
}

/// One random command on the key pools, with the reply a single Redis would give,
/// applied to the model.
fn next_command(rng: &mut impl Rng, db: &mut HashMap<Vec<u8>, Model>) -> (Cmd, Value) {
    let pick = |rng: &mut dyn rand::RngCore, kind: &str| -> Vec<u8> {
        format!("{kind}:{}", rng.random_range(0..400u32)).into_bytes()
    };
    match rng.random_range(0..100) {
        0..12 => {
            let (k, v) = (pick(rng, "str"), random_value(rng));
            db.insert(k.clone(), Model::Str(v.clone()));
            (cmd([&b"SET"[..], &k, &v]), Value::ok())
        }
        12..24 => {
            let k = pick(rng, "str");
            let want = match db.get(&k) {
                Some(Model::Str(v)) => Value::Bulk(v.clone()),
                None => Value::Nil,
                _ => unreachable!("str keys hold strings"),
            };
            (cmd([&b"GET"[..], &k]), want)
        }
        24..36 => {
            let k = pick(rng, "ctr");
            let n = match db.get(&k) {
                Some(Model::Str(v)) => std::str::from_utf8(v).unwrap().parse::<i64>().unwrap() + 1,
                None => 1,
                _ => unreachable!("ctr keys hold counters"),
            };
            db.insert(k.clone(), Model::Str(n.to_string().into_bytes()));
            (cmd([&b"INCR"[..], &k]), Value::Int(n))
        }
        36..42 => {
            let kind = ["str", "ctr", "hash", "list"][rng.random_range(0..4)];
            let k = pick(rng, kind);
            let existed = db.remove(&k).is_some();
            (cmd([&b"DEL"[..], &k]), Value::Int(existed as i64))
        }
        42..48 => {
            let kind = ["str", "ctr", "hash", "list"][rng.random_range(0..4)];
            let k = pick(rng, kind);
            (cmd([&b"EXISTS"[..], &k]), Value::Int(db.contains_key(&k) as i64))
        }
        48..60 => {
            let (k, v) = (pick(rng, "hash"), random_value(rng));
            let f = format!("f{}", rng.random_range(0..8)).into_bytes();
            let Model::Hash(h) = db.entry(k.clone()).or_insert_with(|| Model::Hash(HashMap::new())) else {
                unreachable!("hash keys hold hashes")
            };
            let added = h.insert(f.clone(), v.clone()).is_none();
            (cmd([&b"HSET"[..], &k, &f, &v]), Value::Int(added as i64))
        }
        60..70 => {
            let k = pick(rng, "hash");
            let f = format!("f{}", rng.random_range(0..8)).into_bytes();
            let want = match db.get(&k) {
                Some(Model::Hash(h)) => h.get(&f).map_or(Value::Nil, |v| Value::Bulk(v.clone())),
                None => Value::Nil,
                _ => unreachable!("hash keys hold hashes"),
            };
            (cmd([&b"HGET"[..], &k, &f]), want)
        }
        70..80 => {
            let (k, v) = (pick(rng, "list"), random_value(rng));
            let Model::List(l) = db.entry(k.clone()).or_insert_with(|| Model::List(VecDeque::new())) else {
                unreachable!("list keys hold lists")
            };
            l.push_front(v.clone());
            (cmd([&b"LPUSH"[..], &k, &v]), Value::Int(l.len() as i64))
        }
        80..88 => {
            let k = pick(rng, "list");
            let want = match db.get(&k) {
                Some(Model::List(l)) => Value::Array(l.iter().map(|v| Value::Bulk(v.clone())).collect()),
                None => Value::Array(vec![]),
                _ => unreachable!("list keys hold lists"),
            };
            (cmd([&b"LRANGE"[..], &k, b"0", b"-1"]), want)
        }
        88..91 => {
            // A node's error in the middle of the pipeline must keep its place too.
            let k = pick(rng, "hash");
            let want = if db.contains_key(&k) { Value::Error(WRONGTYPE.into()) } else { Value::Nil };
            (cmd([&b"GET"[..], &k]), want)
        }
        91..96 => (cmd(["PING"]), Value::Simple("PONG".into())),
        _ => {
            let msg = random_value(rng);
            (cmd([&b"ECHO"[..], &msg]), Value::Bulk(msg))
        }
    }
}

#[test]
fn a_pipeline_of_ten_thousand_mixed_commands_gets_every_reply_in_order() {
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());
    let mut rng = seeded_rng("a_pipeline_of_ten_thousand_mixed_commands");

    let mut db = HashMap::new();
    let (cmds, want): (Vec<Cmd>, Vec<Value>) = (0..10_000).map(|_| next_command(&mut rng, &mut db)).unzip();
    let got = pipeline(&proxy.addr, &cmds);
    assert_eq!(got.len(), want.len());
    for (i, ((c, g), w)) in cmds.iter().zip(&got).zip(&want).enumerate() {
        let shown: Vec<_> = c.iter().map(|a| String::from_utf8_lossy(a)).collect();
        assert_eq!(g, w, "reply {i} to {shown:?}");
    }

    // The commands really were spread over the cluster, not served by one node.
    let keys: Vec<Vec<u8>> = cmds.iter().filter(|c| c.len() > 1 && c[0] != b"ECHO").map(|c| c[1].clone()).collect();
    let owners = slot_owners(&cluster.seed());
    let used: HashSet<&String> = keyslots(&cluster.seed(), &keys).iter().map(|&s| &owners[s as usize]).collect();
    assert_eq!(used.len(), cluster.primaries().len(), "keys should hit every primary");
}

#[test]
fn keys_written_through_slotway_live_on_the_primary_that_owns_their_slot() {
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());
    let mut rng = seeded_rng("keys_written_through_slotway_live_on_the_owner");

    let keys: Vec<Vec<u8>> =
        (0..10_000).map(|i| format!("owner-test:{i}:{}", rng.random::<u32>()).into_bytes()).collect();
    let values: Vec<Vec<u8>> = keys.iter().map(|k| [&b"value-of-"[..], k].concat()).collect();
    let sets: Vec<Cmd> = keys.iter().zip(&values).map(|(k, v)| cmd([&b"SET"[..], k, v])).collect();
    let replies = pipeline(&proxy.addr, &sets);
    for (i, r) in replies.iter().enumerate() {
        assert_eq!(r, &Value::ok(), "SET {}", String::from_utf8_lossy(&keys[i]));
    }

    // Group by the owner the cluster reports, and read each group straight from it.
    let owners = slot_owners(&cluster.seed());
    let slots = keyslots(&cluster.seed(), &keys);
    let mut by_node: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, &slot) in slots.iter().enumerate() {
        by_node.entry(owners[slot as usize].as_str()).or_default().push(i);
    }
    let primaries = cluster.primaries();
    assert_eq!(by_node.len(), primaries.len(), "keys should spread over every primary");
    for (node, idx) in &by_node {
        assert!(primaries.iter().any(|p| p == node), "{node} owns slots but is not a primary");
        let gets: Vec<Cmd> = idx.iter().map(|&i| cmd([&b"GET"[..], &keys[i]])).collect();
        for (&i, got) in idx.iter().zip(pipeline(node, &gets)) {
            assert_eq!(got, Value::Bulk(values[i].clone()), "GET {} on {node}", String::from_utf8_lossy(&keys[i]));
        }
        // Nothing landed anywhere else: each primary holds exactly its own keys.
        assert_eq!(connect(node).cmd(&["DBSIZE"]), Value::Int(idx.len() as i64), "DBSIZE on {node}");
    }
}

/// slotway's extra worker threads in this process: their names and the CPU time
/// they used (clock ticks, user + system).
fn worker_threads() -> Vec<(String, u64)> {
    let tasks = std::fs::read_dir("/proc/self/task").expect("/proc/self/task");
    let mut workers: Vec<(String, u64)> = tasks
        .filter_map(|t| {
            let dir = t.ok()?.path();
            let name = std::fs::read_to_string(dir.join("comm")).ok()?.trim().to_string();
            let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
            // Fields after the ")" that ends the name: utime and stime are the 12th and 13th.
            let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
            let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
            Some((name, ticks))
        })
        .filter(|(name, _)| name.starts_with("slotway-"))
        .collect();
    workers.sort();
    workers
}

#[test]
fn concurrent_pipelining_clients_each_get_their_own_replies_in_order() {
    const CLIENTS: usize = 20;
    const INCRS: usize = 2_000;
    const COUNTERS: usize = 64;
    let cluster = TestCluster::start();
    // Three workers (thread-per-core): clients are dealt round robin, each worker has
    // its own node connections, and every client must still get its own replies.
    let mut config = slotway::Config::with_seeds(cluster.addrs());
    config.threads = 3;
    let proxy = start_slotway_with(config);
    let seed: u64 = rand::random();
    eprintln!("concurrent_pipelining_clients: base seed {seed}");

    let workers: Vec<_> = (0..CLIENTS)
        .map(|t| {
            let addr = proxy.addr.clone();
            std::thread::spawn(move || {
                let mut rng = StdRng::seed_from_u64(seed + t as u64);
                let mut counts = [0i64; COUNTERS];
                let mut cmds = Vec::with_capacity(INCRS);
                let mut want = Vec::with_capacity(INCRS);
                for _ in 0..INCRS {
                    let j = rng.random_range(0..COUNTERS);
                    let key = format!("client:{t}:counter:{j}");
                    // INCR, or INCRBY a step of this client's own: a reply delivered
                    // to the wrong client, or out of order, shows as a wrong value.
                    if rng.random_bool(0.5) {
                        counts[j] += 1;
                        cmds.push(cmd(["INCR", &key]));
                    } else {
                        counts[j] += t as i64 + 1;
                        cmds.push(cmd(["INCRBY", &key, &(t + 1).to_string()]));
                    }
                    want.push(Value::Int(counts[j]));
                }
                let got = pipeline(&addr, &cmds);
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert_eq!(g, w, "client {t}, reply {i} to {:?}", String::from_utf8_lossy(&cmds[i][1]));
                }
                counts
            })
        })
        .collect();
    let finals: Vec<[i64; COUNTERS]> = workers.into_iter().map(|w| w.join().expect("client thread")).collect();
    let busy = worker_threads();
    let names: Vec<&str> = busy.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["slotway-1", "slotway-2"], "worker 0 is the runtime serve runs on");
    // 40,000 requests dealt over three workers: each extra one served its share.
    for (name, ticks) in &busy {
        assert!(*ticks > 0, "{name} did no work: {busy:?}");
    }

    // The final values, read directly from the owners, match what each client did.
    let keys: Vec<Vec<u8>> =
        (0..CLIENTS).flat_map(|t| (0..COUNTERS).map(move |j| format!("client:{t}:counter:{j}").into_bytes())).collect();
    let stored = get_from_owners(&cluster.seed(), &keys);
    let used: HashSet<&String> = stored.iter().map(|(owner, _)| owner).collect();
    assert_eq!(used.len(), cluster.primaries().len(), "counters should spread over every primary");
    for (i, (key, (owner, got))) in keys.iter().zip(&stored).enumerate() {
        let want = match finals[i / COUNTERS][i % COUNTERS] {
            0 => Value::Nil,
            n => Value::Bulk(n.to_string().into_bytes()),
        };
        assert_eq!(got, &want, "{} on {owner}", String::from_utf8_lossy(key));
    }
    drop(proxy);
    assert_eq!(worker_threads(), [], "the workers stop with slotway");
}
