//! The admin port against a real cluster: `/metrics` parses as Prometheus text and
//! counts what slotway did, `/api/cluster` names the cluster's primaries, and the
//! status page, rendered by a real headless Chromium, draws them.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use support::{SlotwayHandle, TestCluster, Value, connect, start_slotway_with};

/// slotway in front of `cluster` with its admin port on a free port; returns once
/// the admin port answers and shows the whole cluster (it is up before the seeds
/// have been asked, showing no topology until then).
fn start_with_admin(cluster: &TestCluster) -> (SlotwayHandle, String) {
    // Bind-and-release picks a free port; the tiny race with another process is
    // caught below as "admin port never answered".
    let admin = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    let mut config = slotway::Config::with_seeds(cluster.addrs());
    config.admin_listen = Some(admin.clone());
    let proxy = start_slotway_with(config);
    let deadline = Instant::now() + Duration::from_secs(15);
    let ready = || try_get(&admin, "/api/cluster").is_ok_and(|r| r.body.contains(r#""slots_covered":16384"#));
    while !ready() {
        assert!(Instant::now() < deadline, "admin port {admin} never answered with the whole cluster");
        std::thread::sleep(Duration::from_millis(50));
    }
    (proxy, admin)
}

struct HttpReply {
    status: u16,
    content_type: String,
    body: String,
}

/// A minimal HTTP/1.1 GET (one request, `Connection: close`), so the test checks
/// the server's bytes rather than a client library's reading of them.
fn try_get(addr: &str, path: &str) -> std::io::Result<HttpReply> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw)?;
    let (head, body) = raw.split_once("\r\n\r\n").ok_or_else(|| std::io::Error::other("no header end"))?;
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let content_type = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-type:").map(|v| v.trim().to_string()))
        .unwrap_or_default();
    Ok(HttpReply { status, content_type, body: body.to_string() })
}

fn get(addr: &str, path: &str) -> HttpReply {
    let reply = try_get(addr, path).unwrap_or_else(|e| panic!("GET {path}: {e}"));
    assert_eq!(reply.status, 200, "GET {path}: {}", reply.body);
    reply
}

/// `/metrics`, parsed by an independent Prometheus text parser. That parser skips
/// lines it cannot read, so the test also insists every line was understood.
fn scrape(admin: &str) -> prometheus_parse::Scrape {
    let reply = get(admin, "/metrics");
    assert!(reply.content_type.starts_with("text/plain; version=0.0.4"), "content type {}", reply.content_type);
    for line in reply.body.lines().filter(|l| l.starts_with('#')) {
        assert!(line.starts_with("# HELP ") || line.starts_with("# TYPE "), "stray comment: {line}");
    }
    let sample_lines = reply.body.lines().filter(|l| !l.is_empty() && !l.starts_with('#')).count();
    let scrape = prometheus_parse::Scrape::parse(reply.body.lines().map(|l| Ok(l.to_string()))).unwrap();
    assert_eq!(scrape.samples.len(), sample_lines, "lines the parser could not read in:\n{}", reply.body);
    scrape
}

/// The one sample of `name` with `labels`; counters must be typed as counters.
fn sample(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<_> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .collect();
    assert_eq!(found.len(), 1, "{name}{labels:?}: {found:?}");
    match found[0].value {
        prometheus_parse::Value::Counter(v) => {
            assert!(name.ends_with("_total"), "{name} is a counter without _total");
            v
        }
        prometheus_parse::Value::Gauge(v) => {
            assert!(!name.ends_with("_total"), "{name} should be a counter");
            v
        }
        ref other => panic!("{name}: unexpected {other:?}"),
    }
}

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
    let router =
        rt.block_on(async { slotway::route::dispatch::Router::new(&slotway::Config::with_seeds(["127.0.0.1:1"])) });
    let server = rt.spawn(slotway::admin::serve(listener, router));
    let scrape = scrape(&addr);
    assert_eq!(sample(&scrape, "slotway_topology_shards", &[]), 0.0);
    assert_eq!(sample(&scrape, "slotway_topology_slots_covered", &[]), 0.0);
    assert!(!scrape.samples.iter().any(|s| s.metric == "slotway_node_info"));
    let json: serde_json::Value = serde_json::from_str(&get(&addr, "/api/cluster").body).unwrap();
    assert_eq!(json["shards"].as_array().map(Vec::len), Some(0));
    server.abort();
}
