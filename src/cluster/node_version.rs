//! The Redis version slotway reports (`HELLO`'s `version`, `INFO`'s `redis_version`):
//! the lowest `redis_version` among the primaries, since clients gate features on
//! it and a feature is only safe if every node has it. With it, the modules every
//! primary has (`MODULE LIST`, for `HELLO`'s `modules`: Redis 8.0 lists `vectorset`),
//! and what the server's version says of the fields slotway's own replies carry. Learned once before clients
//! are accepted, then again when slot ownership changes and every few minutes (a
//! rolling upgrade changes it without moving slots). Until known, the compiled-in
//! [`crate::REDIS_VERSION`].

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;

use super::refresh::ClusterMap;
use crate::backend::request::{OWN_REQUESTS, ReplyResult, reply_text};
use crate::config::LiveConfig;
use crate::observe::clients::ClientFields;

/// Longest time between two checks when the topology does not change.
const RECHECK: Duration = Duration::from_secs(300);
/// How often the topology version is looked at.
const POLL: Duration = Duration::from_secs(1);

const INFO_SERVER: &[u8] = b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n";
const MODULE_LIST: &[u8] = b"*2\r\n$6\r\nMODULE\r\n$4\r\nLIST\r\n";

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
    /// Its modules, as `MODULE LIST` names them.
    pub modules: Vec<Module>,
}

/// One module of `MODULE LIST`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    pub name: String,
    pub ver: i64,
    pub path: String,
    pub args: Vec<String>,
}

impl Server {
    fn builtin() -> Server {
        let v = crate::REDIS_VERSION.to_string();
        Server { redis_version: v.clone(), name: "redis".into(), version: v, modules: Vec::new() }
    }

    /// From the text of `INFO server`.
    pub fn from_info(text: &str) -> Option<Server> {
        let field = |name: &str| text.lines().find_map(|l| l.trim_end().strip_prefix(name)?.strip_prefix(':'));
        let redis_version = field("redis_version")?.to_string();
        let name = field("server_name").unwrap_or("redis").to_string();
        let version = field(&format!("{name}_version")).unwrap_or(&redis_version).to_string();
        Some(Server { redis_version, name, version, modules: Vec::new() })
    }

    /// What orders servers oldest first: their own version, then their Redis version.
    pub fn age(&self) -> (Vec<u64>, Vec<u64>) {
        (numbers(&self.version), numbers(&self.redis_version))
    }

    pub fn is_valkey(&self) -> bool {
        self.name == "valkey"
    }

    /// Its `redis_version` is `major.minor` or later (Valkey 8 says 7.2.4: it has
    /// what Redis 7.2 has, where it has nothing of its own instead).
    pub fn speaks_redis(&self, major: u64, minor: u64) -> bool {
        at_least(&self.redis_version, major, minor)
    }

    /// Redis (not Valkey) at `major.minor` or later.
    pub fn is_redis_at_least(&self, major: u64, minor: u64) -> bool {
        !self.is_valkey() && at_least(&self.version, major, minor)
    }

    /// Valkey at `major.minor` or later.
    pub fn is_valkey_at_least(&self, major: u64, minor: u64) -> bool {
        self.is_valkey() && at_least(&self.version, major, minor)
    }

    /// The fields this server's `CLIENT LIST` lines have beyond Redis 7.0's.
    pub fn client_fields(&self) -> ClientFields {
        ClientFields {
            watch: self.speaks_redis(7, 2),
            capa: self.is_valkey_at_least(8, 0),
            totals: self.is_valkey_at_least(8, 0),
            io_thread: self.is_redis_at_least(8, 0),
        }
    }
}

fn at_least(version: &str, major: u64, minor: u64) -> bool {
    let n = numbers(version);
    (n.first().copied().unwrap_or(0), n.get(1).copied().unwrap_or(0)) >= (major, minor)
}

/// The modules of a `MODULE LIST` reply (RESP2: an array of `name`, `ver`, `path`,
/// `args` pairs per module); none when it is an error or not that shape.
fn modules(reply: &[u8]) -> Vec<Module> {
    use redis_protocol::resp2::types::OwnedFrame as F;
    let Ok(Some((F::Array(entries), _))) = redis_protocol::resp2::decode::decode(reply) else { return Vec::new() };
    let text = |f: &F| match f {
        F::BulkString(b) | F::SimpleString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        _ => None,
    };
    entries
        .iter()
        .filter_map(|entry| {
            let F::Array(fields) = entry else { return None };
            let value =
                |key: &str| match fields.chunks_exact(2).find(|kv| kv.first().and_then(text).as_deref() == Some(key)) {
                    Some([_, v]) => Some(v),
                    _ => None,
                };
            let ver = match value("ver")? {
                F::Integer(v) => *v,
                other => text(other)?.parse().ok()?,
            };
            let args = match value("args") {
                Some(F::Array(args)) => args.iter().filter_map(text).collect(),
                _ => Vec::new(),
            };
            Some(Module {
                name: text(value("name")?)?,
                ver,
                path: value("path").and_then(text).unwrap_or_default(),
                args,
            })
        })
        .collect()
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
    servers.into_iter().min_by_key(Server::age)
}

/// Asks every primary for `INFO server` and `MODULE LIST` and keeps the lowest
/// version, with the modules every answering primary has. Nodes that do not answer
/// within `wait` are left out; when none answers nothing changes.
pub async fn learn(map: &ClusterMap, version: &NodeVersion, wait: Duration) {
    // All asked first, then all awaited: the waits overlap.
    let mut pending = Vec::new();
    let primaries: Vec<_> = map.load().shards.iter().map(|s| s.primary.clone()).collect();
    for node in primaries {
        let info = node.send(Bytes::from_static(INFO_SERVER), OWN_REQUESTS).await;
        let list = node.send(Bytes::from_static(MODULE_LIST), OWN_REQUESTS).await;
        if let (Ok(info), Ok(list)) = (info, list) {
            pending.push((info, list));
        }
    }
    let mut servers = Vec::new();
    for (info, list) in pending {
        let Some(mut server) = reply_text(info, wait).await.and_then(|t| Server::from_info(&t)) else { continue };
        server.modules = reply_bytes(list, wait).await.map(|r| modules(&r)).unwrap_or_default();
        servers.push(server);
    }
    let everywhere: Vec<Vec<Module>> = servers.iter().map(|s| s.modules.clone()).collect();
    if let Some(mut server) = lowest_server(servers) {
        server.modules.retain(|m| everywhere.iter().all(|ms| ms.iter().any(|o| o.name == m.name)));
        version.set(server);
    }
}

async fn reply_bytes(rx: tokio::sync::oneshot::Receiver<ReplyResult>, wait: Duration) -> Option<Bytes> {
    tokio::time::timeout(wait, rx).await.ok()?.ok()?.ok()
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
        assert!(redis.is_redis_at_least(8, 0) && redis.speaks_redis(7, 2) && !valkey.is_redis_at_least(8, 0));
        let f = valkey.client_fields();
        assert!(f.watch && f.capa && f.totals && !f.io_thread, "{f:?}");
        let older = Server::from_info("redis_version:7.0.15\r\n").unwrap();
        assert_eq!(older.client_fields(), ClientFields::default());
        assert_eq!(lowest_server(vec![redis, older.clone()]), Some(older));
    }

    #[test]
    fn modules_from_module_list() {
        let reply = b"*1\r\n*8\r\n$4\r\nname\r\n$9\r\nvectorset\r\n$3\r\nver\r\n:1\r\n$4\r\npath\r\n$0\r\n\r\n\
            $4\r\nargs\r\n*1\r\n$1\r\nx\r\n";
        let want = Module { name: "vectorset".into(), ver: 1, path: String::new(), args: vec!["x".into()] };
        assert_eq!(modules(reply), vec![want]);
        assert_eq!(modules(b"*0\r\n"), vec![]);
        assert_eq!(modules(b"-ERR unknown command\r\n"), vec![]);
    }
}
