//! Which server a node runs, read from its `INFO server`: for the tests whose
//! expectations differ between the servers slotway is tested against (Redis 7.0,
//! Valkey 8.1, Redis 8.0), so that each expects what that server itself answers.

use super::cluster::TestCluster;
use super::resp::{RawConn, connect};

/// What a server says it is in `INFO server`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerVersion {
    /// `server_name` (`valkey`), or `redis` when the server does not say.
    pub name: String,
    /// The server's own version (`valkey_version` for Valkey, else `redis_version`).
    pub version: String,
    /// `redis_version`: Redis's, or the Redis version a Valkey server is compatible
    /// with (Valkey 8 says 7.2.4).
    pub redis_version: String,
}

impl ServerVersion {
    /// The server at `addr` (a node that wants no login, or a standalone server).
    pub fn of(addr: &str) -> ServerVersion {
        ServerVersion::asking(&mut connect(addr))
    }

    /// The server on the other end of `conn`.
    pub fn asking(conn: &mut RawConn) -> ServerVersion {
        let info = conn.cmd(&["INFO", "server"]).text().expect("INFO server answers a bulk string");
        ServerVersion::from_info(&info)
    }

    /// From the text of `INFO server`.
    pub fn from_info(info: &str) -> ServerVersion {
        let field = |name: &str| info.lines().find_map(|l| l.trim_end().strip_prefix(name)?.strip_prefix(':'));
        let redis_version = field("redis_version").expect("redis_version in INFO server").to_string();
        let name = field("server_name").unwrap_or("redis").to_string();
        let version = field(&format!("{name}_version")).unwrap_or(&redis_version).to_string();
        ServerVersion { name, version, redis_version }
    }

    pub fn is_valkey(&self) -> bool {
        self.name == "valkey"
    }

    /// Redis (not Valkey) at `major.minor` or later.
    pub fn is_redis_at_least(&self, major: u64, minor: u64) -> bool {
        !self.is_valkey() && at_least(&self.version, major, minor)
    }

    /// The Redis version it is or is compatible with is `major.minor` or later
    /// (Valkey 8 is Redis 7.2's: its fields and replies are 7.2's where it has no own).
    pub fn speaks_redis(&self, major: u64, minor: u64) -> bool {
        at_least(&self.redis_version, major, minor)
    }

    /// Redis 7.0, the server slotway's built-in table and most expectations describe.
    pub fn is_redis_7_0(&self) -> bool {
        !self.is_valkey() && self.version.starts_with("7.0.")
    }
}

fn at_least(version: &str, major: u64, minor: u64) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0)) >= (major, minor)
}

impl TestCluster {
    /// The server its nodes run (asked of the first primary, logged in if need be).
    pub fn server_version(&self) -> ServerVersion {
        ServerVersion::asking(&mut self.connect_node(&self.primaries()[0]))
    }
}
