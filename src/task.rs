//! Tasks that live as long as their owner: a spawned task's handle that aborts it
//! when dropped, so a connection's reader, a lease's connection or a background
//! watcher never outlives what it serves.

use std::future::Future;

/// Aborts a task when dropped: a connection's reader ends with its connection,
/// also when the connection task itself is aborted (a lease given back).
pub struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Spawns `task` on the current runtime; it is aborted when the guard is dropped.
pub fn spawn_owned(task: impl Future<Output = ()> + Send + 'static) -> AbortOnDrop {
    AbortOnDrop(tokio::spawn(task))
}
