//! Every knob slotway has, in one documented struct, filled from the command line
//! (and `SLOTWAY_*` environment variables). Defaults follow Redis where Redis has one.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use serde::Deserialize;

/// slotway: a Redis Cluster-aware routing proxy.
///
/// Point any plain Redis client at `--listen`; slotway routes each command to the
/// primary that owns its keys in the cluster reached through the `--cluster` seeds.
#[derive(Debug, Clone, Parser)]
#[command(name = "slotway", version, about)]
pub struct Config {
    /// Address clients connect to over plain TCP. Empty: no plain listener (Redis's
    /// `port 0`), for a TLS-only slotway.
    #[arg(long, env = "SLOTWAY_LISTEN", default_value = "127.0.0.1:6380")]
    pub listen: String,

    /// Address clients connect to over TLS, beside --listen (Redis's `tls-port`).
    /// Needs --tls-cert-file and --tls-key-file. Off unless given.
    #[arg(long, env = "SLOTWAY_TLS_LISTEN")]
    pub tls_listen: Option<String>,

    /// The TLS listener's certificate, PEM (a chain: leaf first).
    #[arg(long, env = "SLOTWAY_TLS_CERT_FILE")]
    pub tls_cert_file: Option<PathBuf>,

    /// The TLS listener's private key, PEM (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "SLOTWAY_TLS_KEY_FILE")]
    pub tls_key_file: Option<PathBuf>,

    /// CA certificates, PEM, that TLS clients' certificates must be signed by.
    #[arg(long, env = "SLOTWAY_TLS_CA_CERT_FILE")]
    pub tls_ca_cert_file: Option<PathBuf>,

    /// Whether TLS clients must show a certificate signed by --tls-ca-cert-file: `yes`
    /// (Redis's default), `optional` (verified when shown) or `no`.
    #[arg(long, env = "SLOTWAY_TLS_AUTH_CLIENTS", value_enum, default_value = "yes")]
    pub tls_auth_clients: TlsAuthClients,

    /// Connect to the nodes over TLS (nodes serving Redis's `tls-port`; give their TLS
    /// ports as seeds). Needs --node-tls-ca-cert-file.
    #[arg(long, env = "SLOTWAY_NODE_TLS", default_value_t = false, action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new())]
    pub node_tls: bool,

    /// CA certificates, PEM, the nodes' certificates must be signed by (a system
    /// bundle file works too).
    #[arg(long, env = "SLOTWAY_NODE_TLS_CA_CERT_FILE")]
    pub node_tls_ca_cert_file: Option<PathBuf>,

    /// Client certificate, PEM, slotway shows the nodes (for Redis's `tls-auth-clients
    /// yes`, its default); with --node-tls-key-file.
    #[arg(long, env = "SLOTWAY_NODE_TLS_CERT_FILE")]
    pub node_tls_cert_file: Option<PathBuf>,

    /// Private key, PEM, of --node-tls-cert-file.
    #[arg(long, env = "SLOTWAY_NODE_TLS_KEY_FILE")]
    pub node_tls_key_file: Option<PathBuf>,

    /// Name every node's certificate must carry. Default: the host part of each node's
    /// address, which for an IP address is checked against the certificate's IP SANs.
    #[arg(long, env = "SLOTWAY_NODE_TLS_SERVER_NAME")]
    pub node_tls_server_name: Option<String>,

    /// Address of the admin HTTP port: Prometheus `/metrics`, a live status page at
    /// `/`, its data at `/api/cluster`. Off unless given; it has no authentication,
    /// so keep it on a private address.
    #[arg(long, env = "SLOTWAY_ADMIN_LISTEN")]
    pub admin_listen: Option<String>,

    /// A cluster node to learn the topology from (HOST:PORT); repeat for several seeds.
    #[arg(long = "cluster", env = "SLOTWAY_CLUSTER", value_delimiter = ',')]
    pub seeds: Vec<String>,

    /// A TOML file with any of these settings (flags and SLOTWAY_* variables win over
    /// it), and the `[[users]]` clients may log in as. See docs/configuration.md.
    #[arg(long, env = "SLOTWAY_CONFIG")]
    pub config: Option<std::path::PathBuf>,

    /// Check a configuration file, explain any error (key and line), and exit.
    #[arg(long, value_name = "FILE")]
    pub check_config: Option<std::path::PathBuf>,

    /// Password clients must give with `AUTH <password>` (Redis's `requirepass`).
    #[arg(long, env = "SLOTWAY_REQUIREPASS", hide_env_values = true)]
    pub requirepass: Option<String>,

    /// Redis ACL user slotway logs in to the nodes as (with --node-password).
    #[arg(long, env = "SLOTWAY_NODE_USER")]
    pub node_user: Option<String>,

    /// Password slotway logs in to the nodes with (`AUTH`), on every connection.
    #[arg(long, env = "SLOTWAY_NODE_PASSWORD", hide_env_values = true)]
    pub node_password: Option<String>,

    /// Users clients may log in as (`AUTH user pass`), from the config file's `[[users]]`.
    #[arg(skip)]
    pub users: Vec<UserConfig>,

    /// Worker threads (0 = one per CPU core). Each runs its own event loop with its
    /// own share of the clients and its own connections to the nodes.
    #[arg(long, env = "SLOTWAY_THREADS", default_value_t = 0)]
    pub threads: usize,

    /// Maximum number of connected clients (Redis's `maxclients`).
    #[arg(long, env = "SLOTWAY_MAXCLIENTS", default_value_t = 10_000)]
    pub maxclients: usize,

    /// Close clients idle this many seconds (Redis's `timeout`; 0 = never). Subscribers
    /// and clients waiting for a reply are not idle.
    #[arg(long, env = "SLOTWAY_TIMEOUT", default_value_t = 0)]
    pub timeout: u64,

    /// Bytes of unparsed input a client may hold before it is closed (Redis's
    /// `client-query-buffer-limit`).
    #[arg(long, env = "SLOTWAY_CLIENT_QUERY_BUFFER_LIMIT", default_value_t = 1024 * 1024 * 1024)]
    pub client_query_buffer_limit: usize,

    /// Largest bulk string a client may send, in bytes (Redis's `proto-max-bulk-len`).
    #[arg(long, env = "SLOTWAY_PROTO_MAX_BULK_LEN", default_value_t = 512 * 1024 * 1024)]
    pub proto_max_bulk_len: usize,

    /// Commands a client may have in flight before slotway stops reading from it.
    #[arg(long, env = "SLOTWAY_MAX_PIPELINE", default_value_t = 1024)]
    pub max_pipeline: usize,

    /// Multiplexed connections per cluster node and worker thread, shared by that
    /// worker's clients.
    #[arg(long, env = "SLOTWAY_CONNS_PER_NODE", default_value_t = 1)]
    pub conns_per_node: usize,

    /// Requests queued for one backend connection before senders wait.
    #[arg(long, env = "SLOTWAY_BACKEND_QUEUE", default_value_t = 4096)]
    pub backend_queue: usize,

    /// Node connections that may be lent to single clients at once (blocking
    /// commands, WATCH ... EXEC); past it those commands get an error at once.
    #[arg(long, env = "SLOTWAY_MAX_LEASED_CONNS", default_value_t = 1024)]
    pub max_leased_conns: usize,

    /// Output limit for subscribed clients, as Redis's `client-output-buffer-limit
    /// pubsub`: "<hard bytes> <soft bytes> <soft seconds>". A subscriber with more
    /// unread messages than the hard limit, or over the soft limit for that long, is
    /// disconnected.
    #[arg(long, env = "SLOTWAY_PUBSUB_OUTPUT_LIMIT", default_value = "33554432 8388608 60")]
    pub pubsub_output_limit: String,

    /// Where read-only commands go: `primary`, `prefer-replica` (a replica of the
    /// slot, the primary when none is reachable) or `round-robin` (each client keeps
    /// to one of the primary and replicas). Writes always go to the primary.
    #[arg(long, env = "SLOTWAY_READ_FROM", value_enum, default_value = "primary")]
    pub read_from: ReadFrom,

    /// Replica reads skip a replica whose primary last heard from it more than this
    /// many seconds ago (`lag=` in the primary's `INFO replication`; Redis's
    /// `min-replicas-max-lag` default). 0: no bound in seconds.
    #[arg(long, env = "SLOTWAY_REPLICA_MAX_LAG_S", default_value_t = 10)]
    pub replica_max_lag_s: u64,

    /// Replica reads skip a replica more than this many bytes of replication stream
    /// behind its primary (`master_repl_offset` minus the replica's `offset=`).
    /// 0: no bound in bytes.
    #[arg(long, env = "SLOTWAY_REPLICA_MAX_LAG_BYTES", default_value_t = 0)]
    pub replica_max_lag_bytes: u64,

    /// Milliseconds between checks of replica lag (only while replica reads are on).
    #[arg(long, env = "SLOTWAY_REPLICA_CHECK_INTERVAL_MS", default_value_t = 1_000)]
    pub replica_check_interval_ms: u64,

    /// Milliseconds a command for an unreachable primary waits for it to come back or
    /// be replaced (then it goes to the new owner) before failing with CLUSTERDOWN.
    #[arg(long, env = "SLOTWAY_UNREACHABLE_WAIT_MS", default_value_t = 1_000)]
    pub unreachable_wait_ms: u64,

    /// Milliseconds to wait for a TCP connection to a node.
    #[arg(long, env = "SLOTWAY_CONNECT_TIMEOUT_MS", default_value_t = 1_000)]
    pub connect_timeout_ms: u64,

    /// Milliseconds a node may take to answer a (non-blocking) command.
    #[arg(long, env = "SLOTWAY_REPLY_TIMEOUT_MS", default_value_t = 5_000)]
    pub reply_timeout_ms: u64,

    /// Seconds between periodic topology refreshes.
    #[arg(long, env = "SLOTWAY_REFRESH_INTERVAL_S", default_value_t = 10)]
    pub refresh_interval_s: u64,

    /// Redirects (MOVED/ASK/TRYAGAIN) followed for one command before giving up.
    #[arg(long, env = "SLOTWAY_MAX_REDIRECTS", default_value_t = 5)]
    pub max_redirects: u8,

    /// On SIGTERM, milliseconds clients get to receive the replies to what they sent
    /// before slotway closes their connections (SIGINT or a second signal: at once).
    #[arg(long, env = "SLOTWAY_SHUTDOWN_GRACE_MS", default_value_t = 5_000)]
    pub shutdown_grace_ms: u64,

    /// Log commands slower than this many microseconds end to end through slotway
    /// (read to reply queued) in slotway's own slow log (`SLOTWAY SLOWLOG`), as
    /// Redis's `slowlog-log-slower-than`: 0 logs every command, -1 none.
    #[arg(long, env = "SLOTWAY_SLOWLOG_LOG_SLOWER_THAN", default_value_t = 10_000, allow_negative_numbers = true)]
    pub slowlog_log_slower_than: i64,

    /// Entries slotway's slow log keeps, newest first (Redis's `slowlog-max-len`).
    #[arg(long, env = "SLOTWAY_SLOWLOG_MAX_LEN", default_value_t = 128)]
    pub slowlog_max_len: usize,

    /// Hot keys (`SLOTWAY HOTKEYS`, `slotway_hot_key_requests`) are estimated from
    /// one command in this many (on average); 1 counts every command, 0 turns it off.
    #[arg(long, env = "SLOTWAY_HOTKEYS_SAMPLE_RATE", default_value_t = 16)]
    pub hotkeys_sample_rate: u32,

    /// Log filter, as for `RUST_LOG` (e.g. `info`, `slotway=debug`).
    #[arg(long, env = "SLOTWAY_LOG", default_value = "info")]
    pub log: String,
}

/// Whether TLS clients must show a certificate (Redis's `tls-auth-clients`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TlsAuthClients {
    No,
    Yes,
    Optional,
}

impl Config {
    /// A configuration with every default, for the given seeds (used by tests and embedders).
    pub fn with_seeds<S: Into<String>>(seeds: impl IntoIterator<Item = S>) -> Self {
        let seeds: Vec<String> = seeds.into_iter().map(Into::into).collect();
        let mut args = vec!["slotway".to_string()];
        for s in &seeds {
            args.push("--cluster".into());
            args.push(s.clone());
        }
        Config::parse_from(args)
    }

    /// `pubsub_output_limit` read; Redis's defaults (32mb 8mb 60) where it does not parse.
    pub fn pubsub_limit(&self) -> OutputLimit {
        let n: Vec<u64> = self.pubsub_output_limit.split_whitespace().filter_map(|v| v.parse().ok()).collect();
        match n[..] {
            // As in Redis, 0 turns a limit off.
            [hard, soft, secs] => OutputLimit {
                hard: if hard == 0 { usize::MAX } else { hard as usize },
                soft: if soft == 0 { usize::MAX } else { soft as usize },
                soft_seconds: secs,
            },
            _ => OutputLimit { hard: 32 << 20, soft: 8 << 20, soft_seconds: 60 },
        }
    }

    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    pub fn reply_timeout(&self) -> Duration {
        Duration::from_millis(self.reply_timeout_ms)
    }

    pub fn refresh_interval(&self) -> Duration {
        Duration::from_secs(self.refresh_interval_s.max(1))
    }
}

/// The configuration in force, swapped whole on reload (SIGHUP).
pub type LiveConfig = std::sync::Arc<arc_swap::ArcSwap<Config>>;

/// Redis's `client-output-buffer-limit pubsub <hard> <soft> <seconds>`.
#[derive(Debug, Clone, Copy)]
pub struct OutputLimit {
    pub hard: usize,
    pub soft: usize,
    pub soft_seconds: u64,
}

/// Where read-only commands go (`--read-from`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
#[repr(u8)]
pub enum ReadFrom {
    /// Every command to the slot's primary.
    #[default]
    Primary = 0,
    /// Reads to a replica of the slot (each client keeps to one), the primary when
    /// no replica is reachable.
    PreferReplica = 1,
    /// Each client keeps to one of the primary and its replicas for its reads.
    RoundRobin = 2,
}

impl ReadFrom {
    pub fn from_u8(n: u8) -> Self {
        match n {
            1 => ReadFrom::PreferReplica,
            2 => ReadFrom::RoundRobin,
            _ => ReadFrom::Primary,
        }
    }
}

/// A user clients may log in as (`AUTH name password`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub name: String,
    /// The password in clear; or give `password_sha256` (hex) instead, as Redis ACL allows.
    pub password: Option<String>,
    pub password_sha256: Option<String>,
    #[serde(default)]
    pub access: Access,
    /// Key patterns (Redis glob syntax) the user may touch; empty means every key.
    #[serde(default)]
    pub keys: Vec<String>,
    #[serde(default = "enabled")]
    pub enabled: bool,
}

fn enabled() -> bool {
    true
}

/// What a user may run.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    /// Commands that do not write.
    ReadOnly,
    /// Everything but administrative commands.
    #[default]
    ReadWrite,
    /// Everything, including `CONFIG SET`, `FLUSHALL`, `SLOWLOG RESET`.
    Admin,
}
