//! slotway in-process: its own OS thread and runtime, so a blocking test body can
//! talk to it over plain TCP, and dropping the handle shuts it down.

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::oneshot;

pub struct SlotwayHandle {
    /// "127.0.0.1:port" that clients connect to.
    pub addr: String,
    /// The TLS listener's "127.0.0.1:port", for [`start_slotway_tls`].
    pub tls_addr: Option<String>,
    shutdown: Option<oneshot::Sender<()>>,
    finished: mpsc::Receiver<()>,
    thread: Option<JoinHandle<()>>,
}

/// slotway with default settings in front of `seeds`.
pub fn start_slotway(seeds: Vec<String>) -> SlotwayHandle {
    start_slotway_with(slotway::Config::with_seeds(seeds))
}

/// slotway with a config the test adjusted (e.g. a short `refresh_interval_s`).
pub fn start_slotway_with(config: slotway::Config) -> SlotwayHandle {
    start(config, false)
}

/// slotway with a TLS listener beside the plain one (the config gives the `tls-*`
/// files; both listeners on port 0).
pub fn start_slotway_tls(config: slotway::Config) -> SlotwayHandle {
    start(config, true)
}

fn start(mut config: slotway::Config, tls: bool) -> SlotwayHandle {
    init_tracing();
    let (addr_tx, addr_rx) = mpsc::channel();
    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
    let (finished_tx, finished) = mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("slotway".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("tokio runtime");
            rt.block_on(async move {
                let bind = || async { tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0") };
                let listener = bind().await;
                let addr = listener.local_addr().unwrap().to_string();
                config.listen = addr.clone();
                let tls_listener = if tls { Some(bind().await) } else { None };
                config.tls_listen = tls_listener.as_ref().map(|l| l.local_addr().unwrap().to_string());
                addr_tx.send((addr, config.tls_listen.clone())).unwrap();
                // A dropped sender also ends the wait, so a handle leaked by a panic still stops.
                let shutdown = async move {
                    let _ = shutdown_rx.await;
                };
                let listeners = slotway::Listeners { plain: Some(listener), tls: tls_listener };
                if let Err(e) = slotway::serve_with_reload(listeners, config, shutdown, None).await {
                    eprintln!("slotway::serve failed: {e}");
                }
            });
            // Bounded: a task stuck on a socket must not keep the test alive.
            rt.shutdown_timeout(Duration::from_secs(2));
            let _ = finished_tx.send(());
        })
        .expect("spawn slotway thread");
    let (addr, tls_addr) = addr_rx.recv_timeout(Duration::from_secs(10)).expect("slotway did not bind a port");
    SlotwayHandle { addr, tls_addr, shutdown: Some(shutdown_tx), finished, thread: Some(thread) }
}

impl Drop for SlotwayHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        // std has no join with a timeout: wait for the thread's last word instead, and
        // leave it detached if it never comes rather than hang the test.
        match self.finished.recv_timeout(Duration::from_secs(10)) {
            Err(mpsc::RecvTimeoutError::Timeout) => {
                eprintln!("slotway did not shut down within 10 s")
            }
            _ => {
                if let Some(t) = self.thread.take() {
                    let _ = t.join();
                }
            }
        }
    }
}

/// What `slotway::serve` fails with for `config`, on a runtime of its own; panics
/// if it serves, or takes over 20 s to fail.
pub fn start_error(config: slotway::Config) -> String {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let serve = slotway::serve(listener, config, std::future::pending());
        match tokio::time::timeout(Duration::from_secs(20), serve).await {
            Ok(Err(e)) => e.to_string(),
            Ok(Ok(())) => panic!("slotway served"),
            Err(_) => panic!("slotway hung instead of failing"),
        }
    })
}

/// Logs from slotway in test output, only when asked: `SLOTWAY_TEST_LOG=slotway=debug`.
fn init_tracing() {
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_env("SLOTWAY_TEST_LOG") {
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
    }
}
