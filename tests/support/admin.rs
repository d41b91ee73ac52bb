//! The admin port from a test: slotway started with it, plain HTTP GETs, and
//! `/metrics` parsed by an independent Prometheus text parser (`prometheus-parse`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::{SlotwayHandle, TestCluster, start_slotway_with};

/// slotway in front of `cluster` with its admin port on a free port; returns once
/// the admin port answers and shows the whole cluster (it is up before the seeds
/// have been asked, showing no topology until then).
pub fn start_with_admin(cluster: &TestCluster) -> (SlotwayHandle, String) {
    start_with_admin_and(cluster, |_| {})
}

/// [`start_with_admin`] with settings the test adjusts.
pub fn start_with_admin_and(
    cluster: &TestCluster,
    adjust: impl FnOnce(&mut slotway::Config),
) -> (SlotwayHandle, String) {
    // Bind-and-release picks a free port; the tiny race with another process is
    // caught below as "admin port never answered".
    let admin = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    let mut config = slotway::Config::with_seeds(cluster.addrs());
    config.admin_listen = Some(admin.clone());
    adjust(&mut config);
    let proxy = start_slotway_with(config);
    let deadline = Instant::now() + Duration::from_secs(15);
    let ready = || try_get(&admin, "/api/cluster").is_ok_and(|r| r.body.contains(r#""slots_covered":16384"#));
    while !ready() {
        assert!(Instant::now() < deadline, "admin port {admin} never answered with the whole cluster");
        std::thread::sleep(Duration::from_millis(50));
    }
    (proxy, admin)
}

pub struct HttpReply {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

/// A minimal HTTP/1.1 GET (one request, `Connection: close`), so the test checks
/// the server's bytes rather than a client library's reading of them.
pub fn try_get(addr: &str, path: &str) -> std::io::Result<HttpReply> {
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

pub fn get(addr: &str, path: &str) -> HttpReply {
    let reply = try_get(addr, path).unwrap_or_else(|e| panic!("GET {path}: {e}"));
    assert_eq!(reply.status, 200, "GET {path}: {}", reply.body);
    reply
}

/// `/metrics`, parsed by an independent Prometheus text parser. That parser skips
/// lines it cannot read, so the test also insists every line was understood.
pub fn scrape(admin: &str) -> prometheus_parse::Scrape {
    let reply = get(admin, "/metrics");
    assert!(reply.content_type.starts_with("text/plain; version=0.0.4"), "content type {}", reply.content_type);
    for line in reply.body.lines().filter(|l| l.starts_with('#')) {
        assert!(line.starts_with("# HELP ") || line.starts_with("# TYPE "), "stray comment: {line}");
    }
    // The parser makes one sample of a histogram's buckets (one `+Inf` line each).
    let sample_lines = reply
        .body
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#') && (!l.contains("_bucket{") || l.contains(r#"le="+Inf""#)))
        .count();
    let scrape = prometheus_parse::Scrape::parse(reply.body.lines().map(|l| Ok(l.to_string()))).unwrap();
    assert_eq!(scrape.samples.len(), sample_lines, "lines the parser could not read in:\n{}", reply.body);
    scrape
}

/// The one sample of `name` with `labels`; counters must be typed as counters.
pub fn sample(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
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

/// A counter that may have no series yet (a command never used): 0 then.
pub fn counter_or_zero(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let present =
        scrape.samples.iter().any(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)));
    if present { sample(scrape, name, labels) } else { 0.0 }
}

/// Replies counted by `slotway_node_latency_seconds` for `addr`, checking the
/// buckets are cumulative and end with `+Inf` equal to the `_count` line.
pub fn latency_count(scrape: &prometheus_parse::Scrape, addr: &str) -> f64 {
    let buckets = scrape
        .samples
        .iter()
        .find(|s| s.metric == "slotway_node_latency_seconds" && s.labels.get("addr") == Some(addr))
        .unwrap_or_else(|| panic!("no latency histogram for {addr}"));
    let prometheus_parse::Value::Histogram(buckets) = &buckets.value else { panic!("not a histogram: {buckets:?}") };
    assert!(buckets.windows(2).all(|w| w[0].count <= w[1].count), "buckets are not cumulative: {buckets:?}");
    let last = buckets.last().unwrap();
    assert!(last.less_than.is_infinite(), "last bucket is not +Inf: {buckets:?}");
    let count = scrape
        .samples
        .iter()
        .find(|s| s.metric == "slotway_node_latency_seconds_count" && s.labels.get("addr") == Some(addr))
        .map(|s| match s.value {
            prometheus_parse::Value::Untyped(v) => v,
            ref other => panic!("{other:?}"),
        })
        .unwrap();
    assert_eq!(last.count, count, "+Inf bucket and _count disagree for {addr}");
    count
}
