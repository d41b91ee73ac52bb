//! What cluster-aware clients see: slotway describes itself as a one-node cluster
//! owning every slot (`CLUSTER SLOTS/SHARDS/NODES/INFO/MYID`), answers slot
//! questions like the cluster does, and a real cluster client (redis-py's
//! `RedisCluster`) and a plain one (`Redis`, RESP2 and RESP3) both work through it,
//! and so does ioredis (`tests/clients/`).

mod support;

use std::path::Path;
use std::process::Command;

use support::{
    ServerVersion, TestCluster, Value, array, bulk, cmd, connect, int, pipeline, slot_owners, spread_keys,
    start_slotway, text,
};

fn port_of(addr: &str) -> i64 {
    addr.rsplit(':').next().unwrap().parse().unwrap()
}

/// `key:value` lines of an INFO-style text.
fn field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(':')).map(str::trim)
}

/// Even-position names of a flat `[name, value, ...]` array.
fn names(pairs: &[Value]) -> Vec<String> {
    pairs.iter().step_by(2).map(text).collect()
}

#[test]
fn cluster_commands_describe_one_node_owning_every_slot() {
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());
    let seed = cluster.seed();
    let port = port_of(&proxy.addr);
    let mut client = connect(&proxy.addr);
    let server = cluster.server_version();

    let id = text(&client.cmd(&["CLUSTER", "MYID"]));
    assert_eq!(id.len(), 40, "a node id is 40 characters: {id}");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{id}");
    assert_eq!(text(&client.cmd(&["CLUSTER", "MYID"])), id, "the id is stable");

    // CLUSTER SLOTS: one range, 0-16383, at slotway's address; entries shaped like a node's.
    let slots = array(&client.cmd(&["CLUSTER", "SLOTS"]));
    assert_eq!(slots.len(), 1, "{slots:?}");
    let range = array(&slots[0]);
    assert_eq!((&range[0], &range[1]), (&Value::Int(0), &Value::Int(16383)));
    assert_eq!(range.len(), 3, "no replicas: {range:?}");
    let node = array(&range[2]);
    assert_eq!(node[..3], [Value::bulk("127.0.0.1"), Value::Int(port), Value::bulk(&id)]);
    let real = array(&connect(&seed).cmd(&["CLUSTER", "SLOTS"]));
    let real_node = array(&array(&real[0])[2]);
    assert_eq!(node.len(), real_node.len(), "node entry shaped like a node's: {node:?} vs {real_node:?}");

    // CLUSTER SHARDS: one shard, one primary; the fields a node gives, in its order.
    let shards = array(&client.cmd(&["CLUSTER", "SHARDS"]));
    assert_eq!(shards.len(), 1, "{shards:?}");
    let shard = array(&shards[0]);
    assert_eq!(names(&shard), ["slots", "nodes"]);
    assert_eq!(shard[1], Value::Array(vec![Value::Int(0), Value::Int(16383)]));
    let nodes = array(&shard[3]);
    assert_eq!(nodes.len(), 1);
    let me = array(&nodes[0]);
    let get = |k: &str| me.iter().step_by(2).position(|n| text(n) == k).map(|i| me[2 * i + 1].clone());
    assert_eq!(get("id"), Some(Value::bulk(&id)));
    assert_eq!(get("port"), Some(Value::Int(port)));
    assert_eq!(get("ip"), Some(Value::bulk("127.0.0.1")));
    assert_eq!(get("role"), Some(Value::bulk("master")));
    assert_eq!(get("health"), Some(Value::bulk("online")));
    let real_shard = array(&array(&connect(&seed).cmd(&["CLUSTER", "SHARDS"]))[0]);
    let real_me = array(&array(&real_shard[3])[0]);
    assert_eq!(names(&me), names(&real_me), "node fields as a real node lists them");

    // CLUSTER NODES: one line, myself,master, every slot.
    let text_nodes = text(&client.cmd(&["CLUSTER", "NODES"]));
    let lines: Vec<&str> = text_nodes.lines().collect();
    assert_eq!(lines.len(), 1, "{text_nodes:?}");
    let f: Vec<&str> = lines[0].split(' ').collect();
    assert_eq!(f[0], id);
    assert_eq!(f[1].split('@').next().unwrap(), proxy.addr);
    assert_eq!(f[2], "myself,master");
    assert_eq!(f[3], "-");
    assert_eq!(f[7], "connected");
    assert_eq!(f[8..], ["0-16383"]);
    let real_line = text(&connect(&seed).cmd(&["CLUSTER", "NODES"]));
    let real_primary = real_line.lines().find(|l| l.contains("myself")).unwrap();
    assert_eq!(f.len(), real_primary.split(' ').count(), "as many fields as a primary's line: {real_primary}");

    // ROLE: that node is a primary without replicas (a node's reply shape; clients such
    // as Sentinel-aware ones ask it).
    let role = client.cmd(&["ROLE"]);
    assert_eq!(role, Value::Array(vec![Value::bulk("master"), Value::Int(0), Value::Array(vec![])]));
    let real_role = array(&connect(&seed).cmd(&["ROLE"]));
    assert_eq!((&real_role[0], real_role.len()), (&Value::bulk("master"), 3), "{real_role:?}");

    // CLUSTER INFO: a healthy cluster of one node.
    let info = text(&client.cmd(&["CLUSTER", "INFO"]));
    for (name, want) in [
        ("cluster_state", "ok"),
        ("cluster_slots_assigned", "16384"),
        ("cluster_slots_ok", "16384"),
        ("cluster_slots_fail", "0"),
        ("cluster_known_nodes", "1"),
        ("cluster_size", "1"),
    ] {
        assert_eq!(field(&info, name), Some(want), "CLUSTER INFO {name}:\n{info}");
    }
    let real_info = text(&connect(&seed).cmd(&["CLUSTER", "INFO"]));
    for line in info.lines() {
        let name = line.split(':').next().unwrap();
        assert!(field(&real_info, name).is_some(), "CLUSTER INFO field {name} is not one a node reports");
    }

    // Bare COMMAND (what redis-py's RedisCluster asks first): a node's list of commands.
    let commands = array(&client.cmd(&["COMMAND"]));
    assert_eq!(commands.len(), array(&connect(&seed).cmd(&["COMMAND"])).len(), "COMMAND lists what a node lists");
    assert!(commands.len() > 200);

    // CLUSTER KEYSLOT: the cluster's answers.
    let keys: Vec<Vec<u8>> = ["", "a", "foo", "{user1000}.following", "x{}y", "{{a}}", "a{b}c{d}", "\r\n\0"]
        .iter()
        .map(|k| k.as_bytes().to_vec())
        .collect();
    assert_eq!(support::keyslots(&proxy.addr, &keys), support::keyslots(&seed, &keys));
    let wrong_args = ["CLUSTER", "KEYSLOT"];
    assert_eq!(client.cmd(&wrong_args), connect(&seed).cmd(&wrong_args));

    // COUNTKEYSINSLOT / GETKEYSINSLOT: the owning primary's answers.
    let owners = slot_owners(&seed);
    let tags = spread_keys(&cluster, "tag", 2);
    let mut writes = Vec::new();
    for (n, (tag, _)) in tags.iter().enumerate() {
        for i in 0..(n + 1) * 3 {
            writes.push(cmd(["SET", &format!("{{{tag}}}:{i}"), "v"]));
        }
    }
    assert!(pipeline(&proxy.addr, &writes).iter().all(|r| *r == Value::ok()));
    let mut slots_to_ask: Vec<u16> = tags.iter().map(|(tag, _)| support::keyslot(&seed, tag)).collect();
    slots_to_ask.push((0..16384).find(|s| !slots_to_ask.contains(s)).unwrap()); // an empty slot
    for slot in slots_to_ask {
        let owner = &owners[slot as usize];
        let s = slot.to_string();
        let count = client.cmd(&["CLUSTER", "COUNTKEYSINSLOT", &s]);
        assert_eq!(count, connect(owner).cmd(&["CLUSTER", "COUNTKEYSINSLOT", &s]), "COUNTKEYSINSLOT {s}");
        for limit in ["100", "2"] {
            let args = ["CLUSTER", "GETKEYSINSLOT", &s, limit];
            let keys = client.cmd(&args);
            let (got, want) = (array(&keys), array(&connect(owner).cmd(&args)));
            if server.is_redis_7_0() {
                assert_eq!(got, want, "GETKEYSINSLOT {s} {limit} vs its owner {owner}");
            } else {
                // Redis 7.0 keeps a slot's keys in a list, in a fixed order; newer
                // servers keep a hash table per slot, whose order moves as it rehashes
                // (so a limited call may name other keys): the owner's keys, once each.
                let all = array(&connect(owner).cmd(&["CLUSTER", "GETKEYSINSLOT", &s, "100"]));
                let mut sorted: Vec<Vec<u8>> = got.iter().map(bulk).collect();
                sorted.sort();
                sorted.dedup();
                assert_eq!(sorted.len(), got.len(), "GETKEYSINSLOT {s} {limit}: {got:?}");
                assert!(got.iter().all(|k| all.contains(k)), "GETKEYSINSLOT {s} {limit}: {got:?}, owner has {all:?}");
                assert_eq!(got.len(), want.len(), "GETKEYSINSLOT {s} {limit} vs its owner {owner}");
            }
            assert_eq!(array(&keys).len() as i64, int(&count).min(limit.parse().unwrap()));
        }
    }
    assert_ne!(
        client.cmd(&["CLUSTER", "COUNTKEYSINSLOT", &support::keyslot(&seed, &tags[5].0).to_string()]),
        Value::Int(0)
    );
    for bad in [
        &["CLUSTER", "COUNTKEYSINSLOT", "abc"][..],
        &["CLUSTER", "COUNTKEYSINSLOT", "16384"],
        &["CLUSTER", "GETKEYSINSLOT", "1", "-1"],
    ] {
        assert_eq!(client.cmd(bad), connect(&seed).cmd(bad), "{bad:?}");
    }

    // INFO: Redis's fields, and the keyspace of the whole cluster.
    let info = text(&client.cmd(&["INFO"]));
    assert_eq!(field(&info, "redis_version"), Some(server.redis_version.as_str()), "redis_version in INFO:\n{info}");
    let clients: u64 = field(&info, "connected_clients").expect("connected_clients").parse().unwrap();
    assert!(clients >= 1, "connected_clients counts this connection: {clients}");
    let total: i64 = support::dbsizes(&cluster).iter().map(|(_, n)| n).sum();
    assert_eq!(total, writes.len() as i64);
    let keyspace = info.split("# Keyspace").nth(1).unwrap_or_else(|| panic!("no # Keyspace section:\n{info}"));
    let db0 = field(keyspace, "db0").unwrap_or_else(|| panic!("no db0 in the keyspace:\n{keyspace}"));
    assert_eq!(db0.split(',').next(), Some(format!("keys={total}").as_str()), "db0: {db0}");
    let only_keyspace = text(&client.cmd(&["INFO", "keyspace"]));
    assert!(only_keyspace.starts_with("# Keyspace"), "{only_keyspace:?}");
    assert_eq!(field(&only_keyspace, "db0"), Some(db0));
}

/// Makes sure `python3` can import redis-py, installing it with pip if needed.
/// Fails the test (never skips it) when that is impossible.
fn ensure_redis_py() {
    let import = || Command::new("python3").args(["-c", "import redis, redis.cluster"]).output();
    match import() {
        Ok(out) if out.status.success() => return,
        Ok(_) => {}
        Err(e) => panic!("cannot run python3 (needed for the redis-py client test): {e}"),
    }
    let pip = Command::new("python3")
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "redis"])
        .output()
        .expect("run python3 -m pip");
    assert!(
        pip.status.success(),
        "redis-py is not installed and `python3 -m pip install redis` failed (no network to PyPI?); \
         this test needs it.\n{}",
        String::from_utf8_lossy(&pip.stderr)
    );
    let out = import().unwrap();
    assert!(
        out.status.success(),
        "redis-py still cannot be imported after pip install:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `program script HOST PORT extra...` against slotway at `addr` (with `env`,
/// and the server behind it in `SLOTWAY_TEST_SERVER_NAME` and
/// `SLOTWAY_TEST_REDIS_VERSION`, for what differs between servers); fails the test
/// with the script's output unless it says "all checks passed".
fn run_client_script(program: &str, script: &str, cluster: &TestCluster, addr: &str, env: &[(&str, &Path)]) {
    let (script, extra) = script.split_once(' ').map_or((script, None), |(s, e)| (s, Some(e)));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(script);
    let (host, port) = addr.rsplit_once(':').unwrap();
    let server: ServerVersion = cluster.server_version();
    let out = Command::new(program)
        .arg(&script)
        .args([host, port])
        .args(extra)
        .envs(env.iter().copied())
        .env("SLOTWAY_TEST_SERVER_NAME", &server.name)
        .env("SLOTWAY_TEST_REDIS_VERSION", &server.redis_version)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (needed for {}): {e}", script.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{} failed ({}):\n{stdout}\n{stderr}", script.display(), out.status);
    assert!(stdout.contains("all checks passed"), "{stdout}\n{stderr}");
    eprintln!("{}", stdout.trim());
}

/// A plain `redis.Redis()` in RESP2 and RESP3: connect (HELLO, CLIENT SETINFO), data
/// types, streams, transactions with WATCH, Lua locks, pub/sub, INFO/CLIENT LIST/CONFIG
/// parsing (tests/clients/redis_py_sweep.py).
#[test]
fn redis_py_plain_client_sweep_in_resp2_and_resp3() {
    ensure_redis_py();
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());
    run_client_script("python3", "tests/clients/redis_py.py sweep", &cluster, &proxy.addr, &[]);
}

#[test]
fn redis_py_cluster_and_plain_clients_work_through_slotway() {
    ensure_redis_py();
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());
    run_client_script("python3", "tests/clients/redis_py.py", &cluster, &proxy.addr, &[]);

    // What the clients wrote is on the primaries that own it.
    let seed = cluster.seed();
    let mut want: Vec<(String, String)> = (0..200).map(|i| (format!("py:cluster:{i}"), format!("v{i}"))).collect();
    want.extend((0..5).map(|i| (format!("py:counter:{i}"), "10".to_string())));
    want.extend((0..50).map(|i| (format!("py:plain:{i}"), format!("p{i}"))));
    let keys: Vec<String> = want.iter().map(|(k, _)| k.clone()).collect();
    let owners = support::owners_of(&seed, &keys);
    for ((key, value), owner) in want.iter().zip(&owners) {
        assert_eq!(bulk(&connect(owner).cmd(&["GET", key])), value.as_bytes(), "{key} on {owner}");
    }
    let primaries_used: std::collections::HashSet<&String> = owners.iter().collect();
    assert_eq!(primaries_used.len(), 3, "the keys spread over every primary");
    let total: i64 = support::dbsizes(&cluster).iter().map(|(_, n)| n).sum();
    assert_eq!(total, want.len() as i64);
}

/// `node_modules` with the ioredis of `tests/clients/package.json`, installed with npm
/// into a cache under `target/` the first time. Fails the test (never skips it) when
/// node or npm are missing or the registry cannot be reached.
fn ioredis_modules() -> std::path::PathBuf {
    let clients = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients");
    let manifest = std::fs::read_to_string(clients.join("package.json")).expect("read tests/clients/package.json");
    // One cache per manifest: changing the pinned version installs afresh.
    let digest = manifest.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("client-libs-{digest:016x}"));
    let modules = cache.join("node_modules");
    if modules.join("ioredis/package.json").exists() {
        return modules;
    }
    std::fs::create_dir_all(&cache).expect("create the npm cache dir");
    std::fs::write(cache.join("package.json"), &manifest).expect("write package.json");
    let npm = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--no-package-lock"])
        .current_dir(&cache)
        .output()
        .unwrap_or_else(|e| panic!("cannot run npm (needed for the ioredis client test): {e}"));
    assert!(
        npm.status.success() && modules.join("ioredis/package.json").exists(),
        "`npm install` of tests/clients/package.json into {} failed (no network to the npm registry?); \
         this test needs it.\n{}\n{}",
        cache.display(),
        String::from_utf8_lossy(&npm.stdout),
        String::from_utf8_lossy(&npm.stderr)
    );
    modules
}

#[test]
fn ioredis_plain_client_works_through_slotway() {
    let modules = ioredis_modules();
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());
    run_client_script("node", "tests/clients/ioredis.js", &cluster, &proxy.addr, &[("NODE_PATH", &modules)]);
}
