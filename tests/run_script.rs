//! `./run.sh`, the main job, cleans up after itself however slotway ends: here
//! slotway refuses a bad flag at once, and run.sh must still stop the six nodes it
//! started and free their ports (it used to leak them: its exit trap stopped at the
//! `kill` of an already dead slotway).

use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

fn free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// A base port whose six node ports, bus ports and slotway's port are free; all
/// below the kernel's ephemeral range (32768 up), which a busy test run fills with
/// connections (about 13,000 sockets seen: then hardly any 13 ports there are free).
fn free_base() -> u16 {
    for _ in 0..1000 {
        let base: u16 = rand::random_range(10_000..=22_000);
        let ports = (base..base + 6).chain(base + 10_000..base + 10_006).chain([base + 9]);
        if ports.into_iter().all(free) {
            return base;
        }
    }
    panic!("no free ports for run.sh");
}

#[test]
fn run_sh_stops_the_cluster_when_slotway_exits_by_itself() {
    let base = free_base();
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/run.sh"))
        .args(["--base-port", &base.to_string(), "--listen", &format!("127.0.0.1:{}", base + 9), "--"])
        .arg("--no-such-flag")
        .env("SLOTWAY_BIN", env!("CARGO_BIN_EXE_slotway"))
        .env("SLOTWAY_RUN_DIR", dir.path())
        .output()
        .expect("run.sh runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "run.sh must fail with slotway's error:\n{stderr}");
    assert!(stderr.contains("--no-such-flag"), "slotway's own error names the flag:\n{stderr}");
    assert!(started.elapsed() < Duration::from_secs(60), "run.sh took {:?}", started.elapsed());
    // The nodes were started (their logs are there) and are gone again.
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_some(), "run.sh started no cluster:\n{stderr}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(base..base + 6).all(free) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let busy: Vec<u16> = (base..base + 6).filter(|&p| !free(p)).collect();
    assert!(busy.is_empty(), "run.sh left nodes on ports {busy:?}:\n{stderr}");
}
