//! Processes: a node's redis-server (its PID, `kill -9`), and this test process's own
//! memory (slotway runs in-process in these tests).

use std::process::Command;
use std::time::{Duration, Instant};

use super::resp::connect;

/// The PID of the redis-server answering on `addr`, from `INFO server`.
pub fn process_id(addr: &str) -> u32 {
    let info = connect(addr).cmd(&["INFO", "server"]).text().expect("INFO is a bulk string");
    info.lines()
        .find_map(|l| l.strip_prefix("process_id:"))
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no process_id in INFO server of {addr}"))
}

/// A node stopped with SIGSTOP (it holds its connections but answers nothing); it
/// gets SIGCONT when this is dropped, also when the test fails half way.
pub struct Stopped(u32);

/// SIGSTOPs the node `pid`.
pub fn stop_node(pid: u32) -> Stopped {
    let status = Command::new("kill").args(["-STOP", &pid.to_string()]).status().expect("run kill");
    assert!(status.success(), "kill -STOP {pid}");
    Stopped(pid)
}

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-CONT", &self.0.to_string()]).status();
    }
}

/// Sends `kill -9` to `pid` (the node at `addr`) and insists it was delivered;
/// returns at once, while the node may still be going away.
pub fn send_kill9(pid: u32, addr: &str) {
    let status = Command::new("kill").args(["-9", &pid.to_string()]).status().expect("run kill");
    assert!(status.success(), "kill -9 {pid} ({addr})");
}

/// `kill -9` the node at `addr`; returns once the signal is sent and the port is closed.
pub fn kill9(addr: &str) {
    kill9_pid(process_id(addr), addr);
}

/// `kill -9` the node `pid` listening on `addr` (for nodes that want a login before
/// they tell their PID); returns once the port is closed.
pub fn kill9_pid(pid: u32, addr: &str) {
    send_kill9(pid, addr);
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(addr).is_ok() {
        assert!(Instant::now() < deadline, "{addr} still accepts connections after kill -9");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Resident memory of this process in KiB.
pub fn vm_rss_kib() -> u64 {
    proc_status_kib("VmRSS")
}

/// Virtual memory of this process in KiB: catches buffers reserved but not touched
/// yet, which resident memory does not show.
pub fn vm_size_kib() -> u64 {
    proc_status_kib("VmSize")
}

fn proc_status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"))
}
