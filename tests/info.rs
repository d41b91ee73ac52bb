//! `INFO` and `HELLO` as tools and client libraries read them: the nodes' version,
//! Redis's sections, field names and formats, node figures summed over the primaries.

mod support;

use std::time::Duration;

use support::{Standalone, TestCluster, Value, connect, start_slotway, start_slotway_with};

/// A field's value from an `INFO` text.
fn field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
}

#[test]
fn hello_and_info_report_the_nodes_version() {
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());
    let node = connect(&cluster.primaries()[0]).cmd(&["INFO", "server"]).text().unwrap();
    let nodes_version = field(&node, "redis_version").unwrap().to_string();

    // HELLO names the server as a node's own HELLO does: `redis` and its version, or
    // `valkey` and Valkey's (whose `redis_version` is the Redis it is compatible with).
    let hello_of = |addr: &str| {
        let Value::Array(hello) = connect(addr).cmd(&["HELLO", "2"]) else { panic!("HELLO 2 answers an array") };
        let field = |name: &str| hello.chunks(2).find(|kv| kv[0] == Value::bulk(name)).map(|kv| kv[1].clone());
        (field("server"), field("version"))
    };
    let (server, version) = hello_of(&proxy.addr);
    assert_eq!((server.clone(), version.clone()), hello_of(&cluster.primaries()[0]));
    let own = cluster.server_version();
    assert_eq!((server, version), (Some(Value::bulk(&own.name)), Some(Value::bulk(&own.version))));
    if own.is_redis_7_0() {
        assert_eq!(own.version, nodes_version);
    }

    let mut c = connect(&proxy.addr);

    let info = c.cmd(&["INFO", "server"]).text().unwrap();
    assert_eq!(field(&info, "redis_version"), Some(nodes_version.as_str()));
    assert_eq!(field(&info, "slotway_version"), Some(env!("CARGO_PKG_VERSION")));
}

/// An `INFO` text as sections (header name, then `(field, value)` lines), checking
/// on the way that every line is in Redis's format.
fn sections(info: &str) -> Vec<(String, Vec<(String, String)>)> {
    assert!(info.ends_with("\r\n") && !info.contains("\r\n\r\n\r\n"), "{info:?}");
    let mut out: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for block in info.trim_end_matches("\r\n").split("\r\n\r\n") {
        let mut lines = block.split("\r\n");
        let header = lines.next().unwrap();
        let name = header.strip_prefix("# ").unwrap_or_else(|| panic!("a section starts with `# Name`: {header:?}"));
        let mut fields = Vec::new();
        for line in lines {
            let (k, v) = line.split_once(':').unwrap_or_else(|| panic!("`key:value` in {name}: {line:?}"));
            assert!(!k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'), "field name {k:?}");
            assert!(!v.contains('\r') && !v.contains('\n'), "{line:?}");
            fields.push((k.to_string(), v.to_string()));
        }
        out.push((name.to_string(), fields));
    }
    out
}

/// Fields a standalone Redis prints that slotway leaves out, and why. (Per-command
/// and per-database lines are compared by kind, not by name.)
const NOT_FOR_A_PROXY: &[&str] = &[];

fn per_name(field: &str) -> bool {
    ["cmdstat_", "errorstat_", "latency_percentiles_usec_", "db"].iter().any(|p| field.starts_with(p))
}

#[test]
fn info_everything_has_every_redis_section_and_field_in_redis_format() {
    let reference = Standalone::start();
    let redis = connect(&reference.addr).cmd(&["INFO", "everything"]).text().unwrap();
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());
    let mut c = connect(&proxy.addr);
    assert_eq!(c.cmd(&["SET", "info:k", "v"]), Value::ok());
    let ours = sections(&c.cmd(&["INFO", "everything"]).text().unwrap());
    let theirs = sections(&redis);

    // Redis's sections in Redis's order, slotway's own after them.
    let names: Vec<&str> = ours.iter().map(|(n, _)| n.as_str()).collect();
    let redis_names: Vec<&str> = theirs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, [&redis_names[..], &["Slotway"]].concat());
    for (name, fields) in &theirs {
        let mine = &ours.iter().find(|(n, _)| n == name).unwrap().1;
        let missing: Vec<&str> = fields
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| !per_name(k) && !NOT_FOR_A_PROXY.contains(k) && !mine.iter().any(|(m, _)| m == k))
            .collect();
        assert!(missing.is_empty(), "# {name} lacks {missing:?}");
        // Redis's fields come first, in Redis's order (slotway's own after them).
        let order: Vec<&str> =
            mine.iter().map(|(k, _)| k.as_str()).filter(|k| fields.iter().any(|(r, _)| r == k)).collect();
        let redis_order: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).filter(|k| order.contains(k)).collect();
        assert_eq!(order, redis_order, "# {name}");
    }
    let all = |n: &str| ours.iter().flat_map(|(_, f)| f).find(|(k, _)| k == n).map(|(_, v)| v.clone()).unwrap();
    // Valkey says `server_mode` where Redis says `redis_mode`.
    let mode = if support::ServerVersion::of(&reference.addr).is_valkey() { "server_mode" } else { "redis_mode" };
    assert_eq!(all(mode), "cluster");
    assert_eq!(all("cluster_enabled"), "1");
    assert_eq!(all("role"), "master");
    assert_eq!(all("tcp_port"), proxy.addr.rsplit(':').next().unwrap());
    assert_eq!(all("run_id").len(), 40);
    assert!(all("db0").starts_with("keys=1,"), "{}", all("db0"));
    // The process's own CPU time, read from /proc in clock ticks (10 ms): work until
    // it shows (a test process may not have used a tick yet), bounded.
    let used_cpu = |c: &mut support::RawConn| {
        let info = sections(&c.cmd(&["INFO", "cpu"]).text().unwrap());
        let field =
            |n: &str| info.iter().flat_map(|(_, f)| f).find(|(k, _)| k == n).map(|(_, v)| v.parse::<f64>().unwrap());
        field("used_cpu_user").unwrap() + field("used_cpu_sys").unwrap()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let pings = support::encode(&["PING"]).repeat(2_000);
    while used_cpu(&mut c) <= 0.0 {
        assert!(std::time::Instant::now() < deadline, "used_cpu_user + used_cpu_sys stayed 0 under load");
        c.send(&pings);
        for _ in 0..2_000 {
            c.read_reply();
        }
    }
    assert!(all("used_memory_human").ends_with(['B', 'K', 'M', 'G']));
    assert_eq!(all("slotway_nodes_unanswered"), "0");

    // `all` is the same list of sections; a bare INFO and `default` leave out the
    // per-command ones, as Redis does.
    let list = |args: &[&str]| -> Vec<String> {
        sections(&connect(&proxy.addr).cmd(args).text().unwrap_or_default()).into_iter().map(|(n, _)| n).collect()
    };
    assert_eq!(list(&["INFO", "all"]), names);
    let default: Vec<&str> = names.iter().copied().filter(|n| !["Commandstats", "Latencystats"].contains(n)).collect();
    assert_eq!(list(&["INFO"]), default);
    assert_eq!(list(&["INFO", "DEFAULT"]), default);
    assert_eq!(list(&["INFO", "memory"]), ["Memory"]);
    assert_eq!(list(&["INFO", "cpu", "MEMORY"]), ["Memory", "CPU"]);
    assert_eq!(list(&["INFO", "module_list"]), ["Modules"]);
    assert_eq!(c.cmd(&["INFO", "nosuch"]), Value::bulk(""));
}

fn number(info: &str, name: &str) -> f64 {
    field(info, name).unwrap_or_else(|| panic!("{name} in {info}")).parse().unwrap()
}

#[test]
fn node_figures_are_combined_over_the_primaries() {
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());
    let mut c = connect(&proxy.addr);
    for i in 0..50 {
        assert_eq!(c.cmd(&["SET", &format!("k{i}"), "v"]), Value::ok());
        assert_eq!(c.cmd(&["GET", &format!("k{i}")]), Value::bulk("v"));
        assert_eq!(c.cmd(&["GET", &format!("missing{i}")]), Value::Nil);
    }
    let ours = c.cmd(&["INFO", "memory", "persistence", "stats"]).text().unwrap();
    let nodes: Vec<String> = cluster
        .primaries()
        .iter()
        .map(|p| connect(p).cmd(&["INFO", "memory", "persistence", "stats"]).text().unwrap())
        .collect();
    let sum = |name: &str| nodes.iter().map(|n| number(n, name)).sum::<f64>();
    // Memory moves a little between the two looks (client buffers): within 5%.
    let used = number(&ours, "used_memory");
    assert!((used - sum("used_memory")).abs() < sum("used_memory") * 0.05, "{used} vs {}", sum("used_memory"));
    let ratio = number(&ours, "mem_fragmentation_ratio");
    assert!((ratio - number(&ours, "used_memory_rss") / used).abs() < 0.01, "{ratio}");
    // slotway's own INFO calls to the nodes count as hits on no key: these are exact.
    assert_eq!(number(&ours, "keyspace_hits"), sum("keyspace_hits"));
    assert_eq!(number(&ours, "keyspace_misses"), sum("keyspace_misses"));
    assert!(number(&ours, "keyspace_misses") >= 50.0);
    assert_eq!(number(&ours, "rdb_changes_since_last_save"), sum("rdb_changes_since_last_save"));
    let oldest = nodes.iter().map(|n| number(n, "rdb_last_save_time")).fold(f64::MAX, f64::min);
    assert_eq!(number(&ours, "rdb_last_save_time"), oldest);
    assert_eq!(field(&ours, "maxmemory_policy"), field(&nodes[0], "maxmemory_policy"));
    assert!(number(&ours, "slotway_used_memory_rss") > 0.0);
    // slotway's own: 150 commands and more from this client alone.
    assert!(number(&ours, "total_commands_processed") >= 150.0);
    assert!(number(&ours, "total_net_input_bytes") > 0.0 && number(&ours, "total_net_output_bytes") > 0.0);
}

#[test]
fn instantaneous_ops_per_sec_follows_the_traffic() {
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let traffic = {
        let (addr, stop) = (proxy.addr.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut c = connect(&addr);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                assert_eq!(c.cmd(&["PING"]), Value::Simple("PONG".into()));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(1500));
    let stats = connect(&proxy.addr).cmd(&["INFO", "stats"]).text().unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    traffic.join().unwrap();
    assert!(number(&stats, "instantaneous_ops_per_sec") > 0.0, "{stats}");
    assert!(number(&stats, "instantaneous_input_kbps") > 0.0, "{stats}");
    std::thread::sleep(Duration::from_millis(1500));
    let idle = connect(&proxy.addr).cmd(&["INFO", "stats"]).text().unwrap();
    assert!(number(&idle, "instantaneous_ops_per_sec") < 5.0, "{idle}");
}

#[test]
fn a_node_that_does_not_answer_is_left_out_and_counted() {
    let cluster = TestCluster::start();
    let mut config = slotway::Config::with_seeds(cluster.addrs());
    config.reply_timeout_ms = 300;
    let proxy = start_slotway_with(config);
    let mut c = connect(&proxy.addr);
    let before = c.cmd(&["INFO", "keyspace", "slotway"]).text().unwrap();
    assert_eq!(field(&before, "slotway_nodes_unanswered"), Some("0"));
    let paused = &cluster.primaries()[0];
    assert_eq!(connect(paused).cmd(&["CLIENT", "PAUSE", "1500", "ALL"]), Value::ok());
    let during = c.cmd(&["INFO"]).text().unwrap();
    assert_eq!(field(&during, "slotway_nodes_unanswered"), Some("1"), "{during}");
    sections(&during);
}

#[test]
fn blocked_clients_counts_clients_in_a_blocking_command() {
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());
    let mut waiting = connect(&proxy.addr);
    waiting.send(&support::encode(&["BLPOP", "info:list", "5"]));
    let mut c = connect(&proxy.addr);
    let blocked = || number(&connect(&proxy.addr).cmd(&["INFO", "clients"]).text().unwrap(), "blocked_clients");
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while blocked() != 1.0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(blocked(), 1.0);
    assert_eq!(c.cmd(&["RPUSH", "info:list", "x"]), Value::Int(1));
    assert_eq!(waiting.read_reply(), Value::Array(vec![Value::bulk("info:list"), Value::bulk("x")]));
    assert_eq!(blocked(), 0.0);
}
