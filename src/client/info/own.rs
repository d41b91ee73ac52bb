//! The sections slotway writes from its own state: the process (`# Server`,
//! `# CPU`), its clients, the one-primary-without-replicas replication it presents
//! (as `ROLE` and `CLUSTER NODES` do), `# Cluster`, and its own values for the
//! node-figure sections (see `nodes.rs`).

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::metrics::{Metrics, SAMPLE_HZ};
use crate::proxy::Proxy;

/// What the process is, for `# Server`: slotway's own values in Redis's fields.
pub fn server(out: &mut String, proxy: &Proxy, port: u16) {
    let m = &proxy.metrics;
    let uptime = m.started.elapsed().as_secs();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let read = |path: &str| std::fs::read_to_string(path).map(|s| s.trim().to_string()).unwrap_or_default();
    // As Redis's `uname -s -r -m`.
    let os = format!(
        "{} {} {}",
        read("/proc/sys/kernel/ostype"),
        read("/proc/sys/kernel/osrelease"),
        std::env::consts::ARCH
    );
    // Valkey names itself after `redis_version` and says `server_mode`, as its own
    // INFO does (and has no `atomicvar_api`).
    let server = proxy.node_version.server();
    let (name, mode, atomicvar) = match server.is_valkey() {
        true => (
            format!("server_name:valkey\r\nvalkey_version:{}\r\nvalkey_release_stage:ga\r\n", server.version),
            "server",
            "",
        ),
        false => (String::new(), "redis", "atomicvar_api:c11-builtin\r\n"),
    };
    let valkey_8 = server.is_valkey_at_least(8, 0);
    let clients_hz = if valkey_8 { format!("clients_hz:{SAMPLE_HZ}\r\n") } else { String::new() };
    // Redis 7.2's listeners (Valkey's too), after Valkey 8's availability zone.
    let mut tail = String::from(if valkey_8 { "availability_zone:\r\n" } else { "" });
    if server.speaks_redis(7, 2) {
        listeners(&mut tail, proxy, port);
    }
    let executable = std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default();
    let config_file = proxy.live.load().config.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
    let _ = write!(
        out,
        "# Server\r\nredis_version:{}\r\n{name}redis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:0\r\n\
         {mode}_mode:cluster\r\nos:{os}\r\narch_bits:{}\r\nmonotonic_clock:POSIX clock_gettime\r\n\
         multiplexing_api:epoll\r\n{atomicvar}gcc_version:0.0.0\r\nprocess_id:{}\r\n\
         process_supervised:no\r\nrun_id:{}\r\ntcp_port:{port}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{uptime}\r\n\
         uptime_in_days:{}\r\nhz:{SAMPLE_HZ}\r\nconfigured_hz:{SAMPLE_HZ}\r\n{clients_hz}lru_clock:{}\r\n\
         executable:{executable}\r\nconfig_file:{config_file}\r\nio_threads_active:0\r\n{tail}slotway_version:{}\r\n",
        server.redis_version,
        usize::BITS,
        std::process::id(),
        m.run_id,
        now.as_micros(),
        uptime / 86400,
        // Redis's LRU clock: seconds, 24 bits.
        now.as_secs() & ((1 << 24) - 1),
        env!("CARGO_PKG_VERSION"),
    );
}

/// `listener0:name=tcp,bind=...,port=...` (and `listener1` for TLS), as Redis 7.2
/// lists its listeners: slotway's listen addresses.
fn listeners(out: &mut String, proxy: &Proxy, port: u16) {
    let live = proxy.live.load();
    let plain = std::iter::once(("tcp", live.listen.as_str()));
    for (i, (name, addr)) in plain.chain(live.tls_listen.as_deref().map(|a| ("tls", a))).enumerate() {
        let (bind, at) = addr.rsplit_once(':').unwrap_or(("*", "0"));
        let at = match at.parse::<u16>() {
            Ok(0) | Err(_) if name == "tcp" => port,
            Ok(p) => p,
            Err(_) => 0,
        };
        let bind = bind.trim_start_matches('[').trim_end_matches(']');
        let bind = if bind.is_empty() || bind == "0.0.0.0" { "*" } else { bind };
        let _ = write!(out, "listener{i}:name={name},bind={bind},port={at}\r\n");
    }
}

pub fn clients(out: &mut String, proxy: &Proxy, maxclients: usize) {
    let server = proxy.node_version.server();
    // Redis 7.2's counts (Valkey's too): subscribed clients are slotway's (its hub);
    // watched and blocking keys are not counted by slotway.
    let (pubsub, keys) = match server.speaks_redis(7, 2) {
        true => (
            format!("pubsub_clients:{}\r\nwatching_clients:0\r\n", proxy.hub.subscribed_clients()),
            "total_watched_keys:0\r\ntotal_blocking_keys:0\r\ntotal_blocking_keys_on_nokey:0\r\n",
        ),
        false => (String::new(), ""),
    };
    // slotway pauses no clients (it refuses CLIENT PAUSE).
    let paused = match server.is_valkey_at_least(8, 0) {
        true => "paused_reason:none\r\npaused_actions:none\r\npaused_timeout_milliseconds:0\r\n",
        false => "",
    };
    let _ = write!(
        out,
        "# Clients\r\nconnected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{maxclients}\r\n\
         client_recent_max_input_buffer:0\r\nclient_recent_max_output_buffer:0\r\nblocked_clients:{}\r\n\
         tracking_clients:0\r\n{pubsub}clients_in_timeout_table:0\r\n{keys}{paused}",
        Metrics::get(&proxy.metrics.connected_clients),
        proxy.leases.blocked(),
    );
}

/// `# Threads` (Redis 8.0): one line per slotway worker thread, with the clients it
/// serves (its reads and writes are not counted).
pub fn threads(out: &mut String, proxy: &Proxy) {
    let mut clients = vec![0usize; proxy.workers.count().max(1)];
    for id in proxy.clients.ids() {
        if let Some(n) = clients.get_mut(proxy.workers.of_client(id)) {
            *n += 1;
        }
    }
    out.push_str("# Threads\r\n");
    for (i, n) in clients.iter().enumerate() {
        let _ = write!(out, "io_thread_{i}:clients={n},reads=0,writes=0\r\n");
    }
}

/// One primary without replicas, as `ROLE` and `CLUSTER NODES` present slotway.
pub fn replication(out: &mut String, proxy: &Proxy) {
    let waiting = match proxy.node_version.server().is_valkey_at_least(8, 0) {
        true => "replicas_waiting_psync:0\r\n",
        false => "",
    };
    let _ = write!(
        out,
        "# Replication\r\nrole:master\r\nconnected_slaves:0\r\n{waiting}master_failover_state:no-failover\r\n\
         master_replid:{}\r\nmaster_replid2:0000000000000000000000000000000000000000\r\nmaster_repl_offset:0\r\n\
         second_repl_offset:-1\r\nrepl_backlog_active:0\r\nrepl_backlog_size:1048576\r\n\
         repl_backlog_first_byte_offset:0\r\nrepl_backlog_histlen:0\r\n",
        proxy.metrics.replid
    );
}

/// Clock ticks per second in `/proc/*/stat` (Linux's USER_HZ, 100 on every
/// architecture it exposes to programs).
const TICKS: f64 = 100.0;

/// (user, system, children's user, children's system) seconds from a `/proc/.../stat`.
fn cpu_seconds(path: &str) -> [f64; 4] {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // The command name (field 2) may hold spaces: count fields after its ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<f64> = rest.split_whitespace().map(|f| f.parse().unwrap_or(0.0)).collect();
    // utime, stime, cutime, cstime are fields 14 to 17, the 12th to 15th after ')'.
    let at = |i: usize| fields.get(i).copied().unwrap_or(0.0) / TICKS;
    [at(11), at(12), at(13), at(14)]
}

pub fn cpu(out: &mut String) {
    let [user, sys, user_children, sys_children] = cpu_seconds("/proc/self/stat");
    let [main_user, main_sys, ..] = cpu_seconds(&format!("/proc/self/task/{}/stat", std::process::id()));
    let _ = write!(
        out,
        "# CPU\r\nused_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\nused_cpu_sys_children:{sys_children:.6}\r\n\
         used_cpu_user_children:{user_children:.6}\r\nused_cpu_sys_main_thread:{main_sys:.6}\r\n\
         used_cpu_user_main_thread:{main_user:.6}\r\n"
    );
}

pub fn cluster(out: &mut String, proxy: &Proxy) {
    let topology = proxy.map.load();
    let _ = write!(
        out,
        "# Cluster\r\ncluster_enabled:1\r\nslotway_cluster_primaries:{}\r\nslotway_cluster_slots_covered:{}\r\n",
        topology.shards.len(),
        topology.covered_slots()
    );
}

/// slotway's own values for the fields of `# Memory` and `# Stats` marked `Own`.
pub fn values(proxy: &Proxy) -> Vec<(&'static str, String)> {
    let m = &proxy.metrics;
    let kbps = |v: &std::sync::atomic::AtomicU64| format!("{:.2}", f64::from_bits(Metrics::get(v)));
    let [channels, patterns, shard_channels] = proxy.hub.counts();
    vec![
        ("slotway_used_memory_rss", resident_bytes().to_string()),
        ("total_connections_received", Metrics::get(&m.total_connections).to_string()),
        ("total_commands_processed", Metrics::get(&m.total_commands).to_string()),
        ("instantaneous_ops_per_sec", Metrics::get(&m.ops_per_sec).to_string()),
        ("total_net_input_bytes", Metrics::get(&m.net_input_bytes).to_string()),
        ("total_net_output_bytes", Metrics::get(&m.net_output_bytes).to_string()),
        ("instantaneous_input_kbps", kbps(&m.input_kbps)),
        ("instantaneous_output_kbps", kbps(&m.output_kbps)),
        ("instantaneous_input_repl_kbps", "0.00".into()),
        ("instantaneous_output_repl_kbps", "0.00".into()),
        ("rejected_connections", Metrics::get(&m.rejected_connections).to_string()),
        ("pubsub_channels", channels.to_string()),
        ("pubsub_patterns", patterns.to_string()),
        ("pubsubshard_channels", shard_channels.to_string()),
        ("total_error_replies", proxy.observe.commands.error_replies().to_string()),
        ("slotway_moved_redirects", Metrics::get(&m.redirects_moved).to_string()),
        ("slotway_ask_redirects", Metrics::get(&m.redirects_ask).to_string()),
    ]
}

/// slotway's resident memory.
fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()))
        .map_or(0, |pages| pages * 4096)
}
