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
    let child = Command::new(env!("CARGO_BIN_EXE_slotway"))
        .arg("--config")
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut slotway = Slotway(child);
    eventually("slotway answers PING", || {
        std::net::TcpStream::connect(&addr).is_ok() && connect(&addr).cmd(&["PING"]) == Value::Simple("PONG".into())
    });
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
