//! Thread-per-core: `--threads N` runs N single-threaded runtimes. Each serves its
//! own share of the clients over its own connections to the nodes, so a request,
//! its node connection and its reply are handled on one thread: no task is woken
//! from another thread on the hot path (with one multi-threaded runtime, a client
//! and the node connection it shares with others sat on different threads about
//! half the time, and each such wakeup cost a system call: two threads spent more
//! CPU per request than one).
//!
//! Worker 0 is the runtime `serve` is called on (the main thread in the binary);
//! [`WorkerThreads`] starts the others and stops them when dropped.

use std::future::Future;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// The workers' runtimes, to place tasks on them. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Workers {
    /// Index 0 is the runtime serve runs on; empty outside any runtime (unit tests),
    /// where everything runs on the current runtime.
    handles: Arc<[Handle]>,
}

impl Workers {
    /// Just the runtime this is called on (or none outside a runtime).
    pub fn this_runtime() -> Workers {
        Workers { handles: Handle::try_current().into_iter().collect() }
    }

    /// How many workers share the clients (at least 1).
    pub fn count(&self) -> usize {
        self.handles.len().max(1)
    }

    /// The worker that serves client `client_id` (round robin by id).
    pub fn of_client(&self, client_id: u64) -> usize {
        (client_id % self.count() as u64) as usize
    }

    /// Runs `task` on worker `worker`; on the current runtime when there is only one.
    pub fn spawn<F>(&self, worker: usize, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        match self.handles.get(worker) {
            Some(handle) if self.handles.len() > 1 => drop(handle.spawn(task)),
            _ => drop(tokio::spawn(task)),
        }
    }
}

/// The worker threads beyond the calling runtime's; dropping this stops them.
pub struct WorkerThreads {
    threads: Vec<(oneshot::Sender<()>, JoinHandle<()>)>,
}

/// How long a stopping worker waits for its tasks (sessions past the grace period,
/// node connections) before it lets them go.
const STOP_WAIT: Duration = Duration::from_secs(2);

impl WorkerThreads {
    /// `count` workers in all: the calling runtime and `count - 1` new threads
    /// (`count` 0 means one per CPU core).
    pub fn start(count: usize) -> std::io::Result<(WorkerThreads, Workers)> {
        let count = match count {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let mut handles = vec![Handle::current()];
        let mut threads = Vec::new();
        for index in 1..count {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            handles.push(runtime.handle().clone());
            let (stop, stopped) = oneshot::channel::<()>();
            let thread = std::thread::Builder::new().name(format!("slotway-{index}")).spawn(move || {
                // A dropped sender (serve unwinding) stops the worker too.
                let _ = runtime.block_on(stopped);
                runtime.shutdown_timeout(STOP_WAIT);
            })?;
            threads.push((stop, thread));
        }
        Ok((WorkerThreads { threads }, Workers { handles: handles.into() }))
    }
}

impl Drop for WorkerThreads {
    fn drop(&mut self) {
        for (stop, thread) in self.threads.drain(..) {
            let _ = stop.send(());
            let _ = thread.join();
        }
    }
}
