//! The slotway binary itself: SIGHUP reloads what can change live (here: the
//! password and maxclients), keeps running on a broken file, and SIGTERM stops it.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{TestCluster, Value, connect};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill").args([sig, &child.id().to_string()]).status().unwrap();
    assert!(status.success());
}

/// Retries `f` until it returns true (bounded).
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

struct Slotway(Child);

impl Slotway {
    /// The binary with `--config file`, once it answers on `addr`.
    fn start(file: &std::path::Path, addr: &str) -> Slotway {
        let child = Command::new(env!("CARGO_BIN_EXE_slotway"))
            .arg("--config")
            .arg(file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let slotway = Slotway(child);
        eventually("slotway answers PING", || {
            std::net::TcpStream::connect(addr).is_ok() && connect(addr).cmd(&["PING"]) == Value::Simple("PONG".into())
        });
        slotway
    }
}

impl Drop for Slotway {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn sighup_reloads_live_settings_and_sigterm_stops() {
    let cluster = TestCluster::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("slotway.toml");
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let write = |extra: &str| {
        std::fs::write(&file, format!("cluster = [\"{}\"]\nlisten = \"{addr}\"\n{extra}", cluster.seed())).unwrap()
    };
    write("maxclients = 100\n");
    let mut slotway = Slotway::start(&file, &addr);
    assert_eq!(connect(&addr).cmd(&["SET", "reload:k", "1"]), Value::ok());

    // A password appears: new clients must AUTH.
    write("maxclients = 100\nrequirepass = \"pw\"\n");
    signal(&slotway.0, "-HUP");
    eventually("requirepass is in force", || {
        connect(&addr).cmd(&["GET", "reload:k"]) == Value::Error("NOAUTH Authentication required.".into())
    });
    let mut c = connect(&addr);
    assert_eq!(c.cmd(&["AUTH", "pw"]), Value::ok());
    assert_eq!(c.cmd(&["GET", "reload:k"]), Value::bulk("1"));

    // A broken file is refused; the running configuration stays.
    std::fs::write(&file, "this is not toml = = =").unwrap();
    signal(&slotway.0, "-HUP");
    std::thread::sleep(Duration::from_millis(500));
    let mut c = connect(&addr);
    assert_eq!(c.cmd(&["AUTH", "pw"]), Value::ok(), "slotway kept its configuration");
    assert!(slotway.0.try_wait().unwrap().is_none(), "slotway kept running");

    // SIGTERM: a clean exit.
    signal(&slotway.0, "-TERM");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = slotway.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "slotway did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status}");
}

/// `calls=` of GET in a node's INFO commandstats.
fn gets(addr: &str) -> u64 {
    let Value::Bulk(info) = connect(addr).cmd(&["INFO", "commandstats"]) else { panic!("no INFO from {addr}") };
    let info = String::from_utf8_lossy(&info).into_owned();
    info.lines()
        .find_map(|l| l.strip_prefix("cmdstat_get:calls="))
        .and_then(|rest| rest.split(',').next()?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn sighup_turns_replica_reads_on_and_off() {
    let cluster = TestCluster::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("slotway.toml");
    let addr = format!("127.0.0.1:{}", free_port());
    let write = |read_from: &str| {
        let text = format!("cluster = [\"{}\"]\nlisten = \"{addr}\"\nread-from = \"{read_from}\"\n", cluster.seed());
        std::fs::write(&file, text).unwrap()
    };
    write("primary");
    let slotway = Slotway::start(&file, &addr);
    let replicas = cluster.replicas();
    let on_replicas = || replicas.iter().map(|r| gets(r)).sum::<u64>();
    let mut c = connect(&addr);
    let before = on_replicas();
    for i in 0..20 {
        c.cmd(&["GET", &format!("hup:{i}")]);
    }
    assert_eq!(on_replicas(), before, "read-from = primary: no read on a replica");

    write("prefer-replica");
    signal(&slotway.0, "-HUP");
    eventually("reads reach replicas after the reload", || {
        let before = on_replicas();
        c.cmd(&["GET", "hup:0"]);
        on_replicas() > before
    });

    write("primary");
    signal(&slotway.0, "-HUP");
    std::thread::sleep(Duration::from_millis(300));
    let before = on_replicas();
    for i in 0..20 {
        c.cmd(&["GET", &format!("hup:{i}")]);
    }
    assert_eq!(on_replicas(), before, "back to read-from = primary");
}

#[test]
fn sighup_changes_the_slow_log_threshold() {
    let cluster = TestCluster::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("slotway.toml");
    let addr = format!("127.0.0.1:{}", free_port());
    let write = |extra: &str| {
        std::fs::write(&file, format!("cluster = [\"{}\"]\nlisten = \"{addr}\"\n{extra}", cluster.seed())).unwrap()
    };
    write("slowlog_log_slower_than = -1\n");
    let slotway = Slotway::start(&file, &addr);
    let mut c = connect(&addr);
    assert_eq!(c.cmd(&["SET", "reload:slow", "1"]), Value::ok());
    assert_eq!(c.cmd(&["SLOTWAY", "SLOWLOG", "LEN"]), Value::Int(0), "off");

    write("slowlog_log_slower_than = 0\nslowlog_max_len = 3\n");
    signal(&slotway.0, "-HUP");
    // Every command is logged now, the log holding the newest three.
    eventually("the slow log logs every command", || {
        c.cmd(&["GET", "reload:slow"]);
        c.cmd(&["SLOTWAY", "SLOWLOG", "LEN"]) == Value::Int(3)
    });
    let Value::Array(entries) = c.cmd(&["SLOTWAY", "SLOWLOG", "GET", "-1"]) else { panic!("not an array") };
    assert_eq!(entries.len(), 3, "bounded by slowlog_max_len");
}
