//! The Redis version slotway reports (`HELLO`'s `version`, `INFO`'s `redis_version`):
//! the lowest `redis_version` among the primaries, since clients gate features on
//! it and a feature is only safe if every node has it. Learned once before clients
//! are accepted, then again when slot ownership changes and every few minutes (a
//! rolling upgrade changes it without moving slots). Until known, the compiled-in
//! [`crate::REDIS_VERSION`].

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;

use super::refresh::ClusterMap;
use crate::backend::request::{OWN_REQUESTS, reply_text};
use crate::config::LiveConfig;

/// Longest time between two checks when the topology does not change.
const RECHECK: Duration = Duration::from_secs(300);
/// How often the topology version is looked at.
const POLL: Duration = Duration::from_secs(1);

const INFO_SERVER: &[u8] = b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n";

/// What a server says it is in `INFO server`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// `redis_version`: Redis's own version, or the Redis version a Valkey server
    /// is compatible with (Valkey 8 says 7.2.4).
    pub redis_version: String,
    /// `server_name` (`valkey`); `redis` when the server does not say.
    pub name: String,
    /// The server's own version (`valkey_version` for Valkey, else `redis_version`).
    pub version: String,
}

impl Server {
    fn builtin() -> Server {
        let v = crate::REDIS_VERSION.to_string();
        Server { redis_version: v.clone(), name: "redis".into(), version: v }
    }

    /// From the text of `INFO server`.
    pub fn from_info(text: &str) -> Option<Server> {
        let field = |name: &str| text.lines().find_map(|l| l.trim_end().strip_prefix(name)?.strip_prefix(':'));
        let redis_version = field("redis_version")?.to_string();
        let name = field("server_name").unwrap_or("redis").to_string();
        let version = field(&format!("{name}_version")).unwrap_or(&redis_version).to_string();
        Some(Server { redis_version, name, version })
    }

    pub fn is_valkey(&self) -> bool {
        self.name == "valkey"
    }
}

pub struct NodeVersion(ArcSwap<Server>);

impl Default for NodeVersion {
    fn default() -> Self {
        NodeVersion(ArcSwap::from_pointee(Server::builtin()))
    }
}

impl NodeVersion {
    /// The `redis_version` slotway reports.
    pub fn get(&self) -> Arc<String> {
        Arc::new(self.0.load().redis_version.clone())
    }

    /// The server behind slotway: the primaries' lowest.
    pub fn server(&self) -> Arc<Server> {
        self.0.load_full()
    }

    fn set(&self, server: Server) {
        if *self.0.load_full() != server {
            tracing::info!(name = %server.name, version = %server.version, redis_version = %server.redis_version,
                "the nodes' server version (lowest among the primaries)");
            self.0.store(Arc::new(server));
        }
    }
}

/// Parses `7.0.15` into comparable numbers (missing or odd parts count as 0).
fn numbers(version: &str) -> Vec<u64> {
    version.split('.').map(|p| p.parse().unwrap_or(0)).collect()
}

/// The lowest of `versions` (numerically: `7.0.9` < `7.0.15`).
pub fn lowest<'a>(versions: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    versions.into_iter().min_by_key(|v| numbers(v))
}

/// `redis_version` from the text of `INFO server`.
pub fn from_info(text: &str) -> Option<&str> {
    text.lines().find_map(|l| l.trim_end().strip_prefix("redis_version:"))
}

/// The lowest of `servers`: by the server's own version, then its Redis version.
fn lowest_server(servers: Vec<Server>) -> Option<Server> {
    servers.into_iter().min_by_key(|s| (numbers(&s.version), numbers(&s.redis_version)))
}

/// Asks every primary for `INFO server` and keeps the lowest version. Nodes that do
/// not answer within `wait` are left out; when none answers nothing changes.
pub async fn learn(map: &ClusterMap, version: &NodeVersion, wait: Duration) {
    // All asked first, then all awaited: the waits overlap.
    let mut pending = Vec::new();
    let primaries: Vec<_> = map.load().shards.iter().map(|s| s.primary.clone()).collect();
    for node in primaries {
        if let Ok(rx) = node.send(Bytes::from_static(INFO_SERVER), OWN_REQUESTS).await {
            pending.push(rx);
        }
    }
    let mut texts = Vec::new();
    for rx in pending {
        texts.extend(reply_text(rx, wait).await);
    }
    if let Some(server) = lowest_server(texts.iter().filter_map(|t| Server::from_info(t)).collect()) {
        version.set(server);
    }
}

/// Runs until aborted: learns again after each change of slot ownership and every
/// [`RECHECK`].
pub async fn watch(map: Arc<ClusterMap>, version: Arc<NodeVersion>, live: LiveConfig) {
    let mut seen = map.version();
    let mut since = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(POLL).await;
        let now = map.version();
        if now != seen || since.elapsed() >= RECHECK {
            seen = now;
            since = tokio::time::Instant::now();
            learn(&map, &version, live.load().reply_timeout()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lowest_version_is_numeric() {
        assert_eq!(lowest(["7.0.15", "7.0.9", "7.2.4"]), Some("7.0.9"));
        assert_eq!(lowest(["7.0.15"]), Some("7.0.15"));
        assert_eq!(lowest([]), None);
        assert_eq!(from_info("# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:0\r\n"), Some("7.0.15"));
    }

    #[test]
    fn valkey_says_its_name_and_version() {
        let valkey =
            Server::from_info("# Server\r\nredis_version:7.2.4\r\nserver_name:valkey\r\nvalkey_version:8.1.8\r\n");
        let valkey = valkey.unwrap();
        assert_eq!(
            (valkey.name.as_str(), valkey.version.as_str(), valkey.redis_version.as_str()),
            ("valkey", "8.1.8", "7.2.4")
        );
        assert!(valkey.is_valkey());
        let redis = Server::from_info("redis_version:8.0.2\r\n").unwrap();
        assert_eq!((redis.name.as_str(), redis.version.as_str()), ("redis", "8.0.2"));
        let older = Server::from_info("redis_version:7.0.15\r\n").unwrap();
        assert_eq!(lowest_server(vec![redis, older.clone()]), Some(older));
    }
}
