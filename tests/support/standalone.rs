//! A standalone (not cluster) redis-server on a free port: the reference for what a
//! single Redis 7.0 answers (or the server `SLOTWAY_TEST_SERVER` names: the same
//! binary as the test clusters' nodes, see [`default_server`]), with their
//! persistence settings; stopped (by its PID) when dropped.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::cluster::default_server;
use super::resp::try_connect;

pub struct Standalone {
    child: Child,
    /// "127.0.0.1:port".
    pub addr: String,
    _dir: tempfile::TempDir,
}

impl Standalone {
    /// Starts one and waits until it accepts connections; retries on another port
    /// when a parallel test took the one picked.
    pub fn start() -> Standalone {
        Standalone::start_with(&[])
    }

    /// Like [`start`](Self::start), with more `redis-server` options (`["--hz", "100"]`).
    pub fn start_with(options: &[&str]) -> Standalone {
        for _ in 0..5 {
            let dir = tempfile::Builder::new().prefix("slotway-standalone-").tempdir().expect("temp dir");
            let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let child = Command::new(default_server())
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .args(options)
                .current_dir(dir.path())
                .stdout(Stdio::null())
                .spawn()
                .expect("run redis-server");
            let mut server = Standalone { child, addr: format!("127.0.0.1:{port}"), _dir: dir };
            for _ in 0..50 {
                if try_connect(&server.addr).is_ok() {
                    return server;
                }
                if server.child.try_wait().unwrap().is_some() {
                    break; // lost the port to someone else: try another
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("could not start a standalone redis-server");
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Standalone {
    fn drop(&mut self) {
        // `kill` signals this child's own PID, nothing else.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
