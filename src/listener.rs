//! The accept loop: one session task per client, up to `maxclients`.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tracing::{Instrument, debug_span, warn};

use crate::client::session::Session;
use crate::metrics::Metrics;
use crate::route::dispatch::Router;

/// Accepts clients until `shutdown` completes.
pub async fn accept_loop(listener: TcpListener, router: Arc<Router>, shutdown: impl Future<Output = ()>) {
    let next_id = AtomicU64::new(1);
    let connected = Arc::new(AtomicUsize::new(0));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (mut stream, peer) = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Read per client: a reload (SIGHUP) changes the limits for new clients.
        let config = router.live.load_full();
        if connected.load(Ordering::Relaxed) >= config.maxclients {
            Metrics::add(&router.metrics.rejected_connections, 1);
            tokio::spawn(async move {
                let _ = stream.write_all(b"-ERR max number of clients reached\r\n").await;
            });
            continue;
        }
        // As Redis's total_connections_received: clients refused at maxclients are not counted.
        Metrics::add(&router.metrics.total_connections, 1);
        connected.fetch_add(1, Ordering::Relaxed);
        let id = next_id.fetch_add(1, Ordering::Relaxed);
        let session = Session::new(router.clone(), &config, id);
        let connected = connected.clone();
        let router = router.clone();
        tokio::spawn(
            async move {
                Metrics::add(&router.metrics.connected_clients, 1);
                session.run(stream).await;
                router.metrics.connected_clients.fetch_sub(1, Ordering::Relaxed);
                connected.fetch_sub(1, Ordering::Relaxed);
            }
            // A span per client; at debug level, so at the default `info` it costs no
            // enter/exit on every poll of the hot path (it showed in profiles).
            .instrument(debug_span!("client", id, %peer)),
        );
    }
}
