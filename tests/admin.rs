//! The admin port against a real cluster: `/metrics` parses as Prometheus text and
//! counts what slotway did, `/api/cluster` names the cluster's primaries, and the
//! status page, rendered by a real headless Chromium, draws them.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use support::{
    TestCluster, Value, connect, counter_or_zero, get, latency_count, sample, scrape, start_with_admin, try_get,
};

#[test]
fn metrics_parse_and_count_what_slotway_does() {
    let cluster = TestCluster::start();
    let (_proxy, admin) = start_with_admin(&cluster);
    let before = scrape(&admin);
    assert_eq!(sample(&before, "slotway_topology_shards", &[]), 3.0);
    assert_eq!(sample(&before, "slotway_topology_slots_covered", &[]), 16384.0);
    assert!(sample(&before, "slotway_topology_version", &[]) >= 1.0, "the first topology is a change");
    assert_eq!(sample(&before, "slotway_connected_clients", &[]), 0.0);
    assert_eq!(sample(&before, "slotway_leased_connections", &[]), 0.0);
    assert!(sample(&before, "slotway_uptime_seconds", &[]) > 0.0);
    for kind in ["moved", "ask"] {
        assert_eq!(
            sample(&before, "slotway_redirects_total", &[("kind", kind)]),
            0.0,
            "a stable cluster redirects nothing"
        );
    }
    for addr in cluster.primaries() {
        assert_eq!(sample(&before, "slotway_node_info", &[("addr", &addr), ("role", "primary")]), 1.0);
    }
    for addr in cluster.replicas() {
        assert_eq!(sample(&before, "slotway_node_info", &[("addr", &addr), ("role", "replica")]), 1.0);
    }
    let commands_before = sample(&before, "slotway_commands_total", &[]);

    let mut client = connect(&_proxy.addr);
    for i in 0..100 {
        assert_eq!(client.cmd(&["SET", &format!("admin:{i}"), "v"]), Value::ok());
    }
    // The counter is bumped after a batch is handled, which can be just after the
    // reply left: poll briefly instead of racing it.
    let deadline = Instant::now() + Duration::from_secs(5);
    let after = loop {
        let after = scrape(&admin);
        if sample(&after, "slotway_commands_total", &[]) >= commands_before + 100.0 || Instant::now() > deadline {
            break after;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(sample(&after, "slotway_commands_total", &[]) >= commands_before + 100.0);
    assert_eq!(sample(&after, "slotway_connected_clients", &[]), 1.0);
    assert!(sample(&after, "slotway_connections_received_total", &[]) >= 1.0);
    assert_eq!(sample(&after, "slotway_rejected_connections_total", &[]), 0.0);
}

#[test]
fn metrics_count_each_command_its_errors_and_node_latency() {
    let cluster = TestCluster::start();
    // Two workers, each with its own connection to every node.
    let (proxy, admin) = support::start_with_admin_and(&cluster, |config| config.threads = 2);
    // The admin port shows the cluster before slotway has asked the primaries for
    // their version and commands (replies the node latency counts); clients are
    // served only after that, so a PING answered means those replies are in.
    let mut client = connect(&proxy.addr);
    assert_eq!(client.cmd(&["PING"]), Value::Simple("PONG".into()));
    let before = scrape(&admin);
    let replies_before: f64 = cluster.primaries().iter().map(|a| latency_count(&before, a)).sum();
    for addr in cluster.primaries() {
        assert_eq!(sample(&before, "slotway_node_up", &[("addr", &addr), ("role", "primary")]), 1.0);
    }
    assert!(sample(&before, "slotway_topology_refreshes_total", &[("result", "ok")]) >= 1.0);
    assert!(sample(&before, "slotway_topology_epoch", &[]) >= 1.0);

    assert_eq!(client.cmd(&["SET", "obs:s", "v"]), Value::ok());
    for _ in 0..7 {
        assert_eq!(client.cmd(&["GET", "obs:s"]), Value::bulk("v"));
    }
    for _ in 0..3 {
        assert!(client.cmd(&["LPUSH", "obs:s", "x"]).is_error(), "WRONGTYPE from the node");
    }
    // Refused by slotway itself: never reaches a node.
    assert!(client.cmd(&["EVAL", "return 1", "2", "a", "b"]).is_error(), "CROSSSLOT");

    let after = scrape(&admin);
    let delta = |name: &str, command: &str| {
        counter_or_zero(&after, name, &[("command", command)]) - counter_or_zero(&before, name, &[("command", command)])
    };
    assert_eq!(delta("slotway_command_requests_total", "get"), 7.0);
    assert_eq!(delta("slotway_command_errors_total", "get"), 0.0);
    assert_eq!(delta("slotway_command_requests_total", "set"), 1.0);
    assert_eq!(delta("slotway_command_requests_total", "lpush"), 3.0);
    assert_eq!(delta("slotway_command_errors_total", "lpush"), 3.0);
    assert_eq!(delta("slotway_command_requests_total", "eval"), 1.0);
    assert_eq!(delta("slotway_command_errors_total", "eval"), 1.0);
    assert!(delta("slotway_command_seconds_total", "get") > 0.0);
    assert_eq!(
        sample(&after, "slotway_error_replies_total", &[]) - sample(&before, "slotway_error_replies_total", &[]),
        4.0
    );
    // Every request that reached a node was timed there: 1 SET, 7 GET, 3 LPUSH.
    let replies_after: f64 = cluster.primaries().iter().map(|a| latency_count(&after, a)).sum();
    assert_eq!(replies_after - replies_before, 11.0);
    let owner = support::key_owner(&cluster, "obs:s");
    assert_eq!(latency_count(&after, &owner) - latency_count(&before, &owner), 11.0, "all on the key's primary");
    // Opened on first use: the client's worker's, and worker 0's once slotway's own
    // checks (replica lag, on worker 0) have run; never one per client.
    let conns = sample(&after, "slotway_node_connections", &[("addr", &owner)]);
    assert!((1.0..=2.0).contains(&conns), "at most one shared connection per worker: {conns}");

    // The same counts in Redis's INFO commandstats format.
    let stats = client.cmd(&["INFO", "commandstats"]).text().unwrap();
    assert!(stats.starts_with("# Commandstats\r\n"), "{stats}");
    let line = |name: &str| {
        stats
            .lines()
            .find(|l| l.starts_with(&format!("cmdstat_{name}:")))
            .unwrap_or_else(|| panic!("{stats}"))
            .to_string()
    };
    assert!(line("get").starts_with("cmdstat_get:calls=7,usec="), "{stats}");
    assert!(line("get").ends_with(",rejected_calls=0,failed_calls=0"), "{stats}");
    assert!(
        line("lpush").starts_with("cmdstat_lpush:calls=3,") && line("lpush").ends_with("failed_calls=3"),
        "{stats}"
    );
    assert!(
        line("eval").starts_with("cmdstat_eval:calls=0,") && line("eval").ends_with("rejected_calls=1,failed_calls=0")
    );
    let info = client.cmd(&["INFO"]).text().unwrap();
    assert!(!info.contains("# Commandstats"), "not in the default sections, as in Redis");
    assert!(info.contains("total_error_replies:4\r\n"), "{info}");
    assert!(info.contains("# Slotway\r\n") && info.contains("backend_nodes_down:0\r\n"), "{info}");
}

#[test]
fn node_up_drops_when_its_primary_is_killed() {
    let cluster = TestCluster::start();
    let (proxy, admin) = start_with_admin(&cluster);
    let mut client = connect(&proxy.addr);
    assert_eq!(client.cmd(&["SET", "obs:dies", "v"]), Value::ok());
    let victim = support::key_owner(&cluster, "obs:dies");
    assert_eq!(sample(&scrape(&admin), "slotway_node_up", &[("addr", &victim), ("role", "primary")]), 1.0);
    support::kill9(&victim);
    // slotway learns a node is down when it tries to connect, which it does for a
    // request: the first request may only see the connection break (its reply, an
    // error or, after the failover, the promoted replica's answer, does not matter).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let _ = client.cmd(&["GET", "obs:dies"]);
        let now = scrape(&admin);
        let up =
            now.samples.iter().find(|s| s.metric == "slotway_node_up" && s.labels.get("addr") == Some(victim.as_str()));
        match up.map(|s| &s.value) {
            Some(prometheus_parse::Value::Gauge(v)) if *v == 0.0 => break,
            _ => {}
        }
        assert!(Instant::now() < deadline, "slotway_node_up for {victim} never went to 0: {up:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let info = client.cmd(&["INFO", "slotway"]).text().unwrap();
    assert!(!info.contains("backend_nodes_down:0\r\n"), "{info}");
}

#[test]
fn api_cluster_lists_the_primaries_and_their_slots() {
    let cluster = TestCluster::start();
    let (_proxy, admin) = start_with_admin(&cluster);
    let reply = get(&admin, "/api/cluster");
    assert_eq!(reply.content_type, "application/json");
    let json: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    let shards = json["shards"].as_array().unwrap();
    let mut primaries: Vec<&str> = shards.iter().map(|s| s["primary"].as_str().unwrap()).collect();
    primaries.sort();
    let mut expected = cluster.primaries();
    expected.sort();
    assert_eq!(primaries, expected);
    // The ranges tile the slot space, and each shard's count matches its ranges.
    let mut ranges: Vec<(u64, u64)> = vec![];
    for s in shards {
        let mine: Vec<(u64, u64)> =
            s["ranges"].as_array().unwrap().iter().map(|r| (r[0].as_u64().unwrap(), r[1].as_u64().unwrap())).collect();
        assert_eq!(s["slots"].as_u64().unwrap(), mine.iter().map(|(a, b)| b - a + 1).sum::<u64>());
        assert_eq!(s["replicas"].as_array().unwrap().len(), 1, "testbed: one replica per primary");
        ranges.extend(mine);
    }
    ranges.sort();
    assert_eq!(ranges.first().map(|r| r.0), Some(0));
    assert_eq!(ranges.last().map(|r| r.1), Some(16383));
    assert!(ranges.windows(2).all(|w| w[1].0 == w[0].1 + 1), "gaps or overlaps: {ranges:?}");
    assert_eq!(json["slots_covered"], 16384);

    // The page is served as HTML, and unknown paths are 404s.
    let page = get(&admin, "/");
    assert!(page.content_type.starts_with("text/html"));
    assert!(page.body.contains("/api/cluster"));
    assert_eq!(try_get(&admin, "/nope").unwrap().status, 404);
}

/// Path to a Chromium, installed by `tests/browser/ensure-chromium.sh` if missing.
/// Fails (never skips) when there is none: this test is the page's only check.
fn chromium() -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/ensure-chromium.sh");
    let out = Command::new("bash").arg(&script).output().expect("run ensure-chromium.sh");
    assert!(
        out.status.success(),
        "no Chromium for the status page test, and ensure-chromium.sh could not install one:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Runs headless Chromium on `url` with `extra` arguments; returns its stdout.
/// Bounded: a browser that hangs fails the test instead of stalling the suite.
fn headless(browser: &str, url: &str, extra: &[&str]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let stdout = tempfile::NamedTempFile::new().unwrap();
    let mut child = Command::new(browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        .args(["--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--virtual-time-budget=3000")
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(stdout.reopen().unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let deadline = Instant::now() + Duration::from_secs(90);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish within 90 s on {url}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    std::fs::read_to_string(stdout.path()).unwrap()
}

#[test]
fn status_page_draws_the_cluster_in_a_browser() {
    let browser = chromium();
    let cluster = TestCluster::start();
    let (proxy, admin) = start_with_admin(&cluster);
    // A named client sending a steady trickle, so the page has a client and a rate to show.
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = {
        let (addr, stop) = (proxy.addr.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut c = connect(&addr);
            c.cmd(&["CLIENT", "SETNAME", "admin-test"]);
            for i in 0..200_000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                c.cmd(&["SET", &format!("page:{}", i % 1000), "v"]);
                std::thread::sleep(Duration::from_micros(200));
            }
        })
    };
    let url = format!("http://{admin}/");
    let dom = headless(&browser, &url, &["--dump-dom"]);
    for addr in cluster.primaries().iter().chain(&cluster.replicas()) {
        assert!(dom.contains(addr.as_str()), "the rendered page does not show {addr}:\n{dom}");
    }
    assert_eq!(dom.matches(r#"class="card""#).count(), 3, "one card per shard:\n{dom}");
    assert!(dom.contains(">live<"), "the page never got /api/cluster:\n{dom}");
    assert!(dom.contains("admin-test"), "the named client is not listed:\n{dom}");

    let shot = tempfile::Builder::new().suffix(".png").tempfile().unwrap();
    headless(&browser, &url, &[&format!("--screenshot={}", shot.path().display()), "--window-size=1400,1000"]);
    let png = std::fs::read(shot.path()).unwrap();
    assert!(png.len() > 10_000 && png.starts_with(b"\x89PNG"), "no screenshot ({} bytes)", png.len());
    // For a person to look at: SLOTWAY_ADMIN_SCREENSHOT=/tmp/page.png keeps a copy.
    if let Ok(keep) = std::env::var("SLOTWAY_ADMIN_SCREENSHOT") {
        std::fs::copy(shot.path(), keep).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    traffic.join().unwrap();
}

/// `admin::serve` on its own listener, without a cluster: what tests and embedders
/// start, and what a slotway that has no topology yet shows.
#[test]
fn admin_serve_starts_on_its_own_listener() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let router = rt.block_on(async { slotway::proxy::Proxy::new(&slotway::Config::with_seeds(["127.0.0.1:1"])) });
    let server = rt.spawn(slotway::admin::serve(listener, router));
    let scrape = scrape(&addr);
    assert_eq!(sample(&scrape, "slotway_topology_shards", &[]), 0.0);
    assert_eq!(sample(&scrape, "slotway_topology_slots_covered", &[]), 0.0);
    assert!(!scrape.samples.iter().any(|s| s.metric == "slotway_node_info"));
    let json: serde_json::Value = serde_json::from_str(&get(&addr, "/api/cluster").body).unwrap();
    assert_eq!(json["shards"].as_array().map(Vec::len), Some(0));
    server.abort();
}
