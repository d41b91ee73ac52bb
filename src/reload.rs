//! Applying a re-read configuration (SIGHUP) to a running slotway.
//!
//! Live: users and `requirepass`, and the per-client limits (`maxclients`,
//! `timeout`, `max-pipeline`, `client-query-buffer-limit`, `proto-max-bulk-len`,
//! `shutdown-grace-ms`), which apply to clients that connect afterwards; the log
//! filter (applied by the binary); the read policy (`read-from`) and the replica
//! lag bounds, for the next command; the node timeouts (connect, reply, unreachable
//! wait; read at each use), the refresh interval and `max-redirects`; the slow log's
//! threshold and length, the hot keys' sample rate. Everything else needs a restart, and a changed value is
//! reported, not silently ignored. TLS settings and certificates too: the files are
//! read at start only (a renewed certificate needs a restart).

use tracing::{info, warn};

use crate::config::Config;
use crate::proxy::Proxy;
use crate::users::Users;

/// Applies `new`; returns (what changed live, what changed but needs a restart).
pub fn apply(proxy: &Proxy, new: Config) -> (Vec<&'static str>, Vec<&'static str>) {
    let old = proxy.live.load_full();
    let mut live = Vec::new();
    let mut restart = Vec::new();
    macro_rules! compare {
        ($list:ident: $($field:ident),*) => {
            $(if format!("{:?}", old.$field) != format!("{:?}", new.$field) {
                $list.push(stringify!($field));
            })*
        };
    }
    compare!(live: maxclients, timeout, max_pipeline, client_query_buffer_limit, proto_max_bulk_len,
        shutdown_grace_ms, requirepass, users, log, read_from, connect_timeout_ms, reply_timeout_ms,
        unreachable_wait_ms, refresh_interval_s, max_redirects, replica_max_lag_s, replica_max_lag_bytes,
        replica_check_interval_ms, slowlog_log_slower_than, slowlog_max_len,
        hotkeys_sample_rate);
    compare!(restart: listen, admin_listen, seeds, threads, conns_per_node, backend_queue, max_leased_conns,
        pubsub_output_limit,
        node_user, node_password, tls_listen, tls_cert_file, tls_key_file, tls_ca_cert_file,
        tls_auth_clients, node_tls, node_tls_ca_cert_file, node_tls_cert_file, node_tls_key_file,
        node_tls_server_name);
    if live.iter().any(|f| matches!(*f, "users" | "requirepass")) {
        proxy.users.store(Users::from_config(&new));
    }
    proxy.pool.set_read_from(new.read_from);
    proxy.reach.timeouts.update(&new);
    proxy.observe.configure(&new);
    proxy.live.store(std::sync::Arc::new(new));
    if !live.is_empty() {
        info!(changed = ?live, "configuration reloaded");
    }
    if !restart.is_empty() {
        warn!(changed = ?restart, "these settings changed but only take effect after a restart");
    }
    if live.is_empty() && restart.is_empty() {
        info!("configuration reloaded: nothing changed");
    }
    (live, restart)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_and_restart_changes_are_told_apart() {
        let config = Config::with_seeds(["127.0.0.1:1"]);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let proxy = Proxy::new(&config);
            let mut new = config.clone();
            new.maxclients = 7;
            new.requirepass = Some("pw".into());
            new.listen = "127.0.0.1:1".into();
            new.reply_timeout_ms = 1_234;
            new.max_redirects = 9;
            let (live, restart) = apply(&proxy, new);
            assert_eq!(live, vec!["maxclients", "requirepass", "reply_timeout_ms", "max_redirects"]);
            assert_eq!(
                proxy.reach.timeouts.reply(),
                std::time::Duration::from_millis(1_234),
                "node connections read it at each use"
            );
            assert_eq!(restart, vec!["listen"]);
            assert_eq!(proxy.live.load().maxclients, 7);
            assert!(proxy.users.required());
        });
    }
}
