//! The sections made of the primaries' figures (`# Memory`, `# Persistence`,
//! `# Stats`): each field in Redis 7.0's order with the rule that turns the nodes'
//! values into the one a single server would show. Fields that describe slotway
//! itself (clients, commands, bytes) are slotway's own values instead. Fields newer
//! servers added (Redis 7.2 to 8.0, Valkey 8) are in the tables in those servers'
//! order, each section's `newer`: shown only when a node shows it, so each server's
//! fields are its own.

use std::collections::HashMap;
use std::fmt::Write as _;

/// How one field's value is made.
#[derive(Debug, PartialEq, Eq)]
pub enum Rule {
    /// Added up over the nodes.
    Sum,
    /// The largest node's (flags such as `loading`: 1 if any node's is 1).
    Max,
    /// The smallest node's (`rdb_last_save_time`: the oldest save).
    Min,
    /// The largest node's, a float printed with two decimals.
    MaxFloat,
    /// One value when the nodes agree, else each node's, as `CONFIG GET` shows them.
    Same,
    /// `ok` unless a node says otherwise (`rdb_last_bgsave_status`, ...).
    Status,
    /// Added up, but 0 (no limit) when any node has no limit.
    Limit,
    /// The named field's (aggregated) bytes, as Redis's `_human` form.
    Human(&'static str),
    /// `a / b` of two aggregated fields, two decimals.
    Ratio(&'static str, &'static str),
    /// `a - b` of two aggregated fields.
    Diff(&'static str, &'static str),
    /// `100 * a / (b - c)` with two decimals and `%` (`c` empty: `100 * a / b`).
    Percent(&'static str, &'static str, &'static str),
    /// slotway's own value, taken when the request arrived.
    Own,
}

pub struct Section {
    pub header: &'static str,
    pub fields: &'static [(&'static str, Rule)],
    /// Fields Redis 7.0 does not have: written only when an answering node has them.
    pub newer: &'static [&'static str],
}

impl std::fmt::Debug for Section {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.header)
    }
}

impl PartialEq for Section {
    fn eq(&self, other: &Self) -> bool {
        self.header == other.header
    }
}

impl Eq for Section {}

use Rule::*;

pub static MEMORY: Section = Section {
    header: "Memory",
    fields: &[
        ("used_memory", Sum),
        ("used_memory_human", Human("used_memory")),
        ("used_memory_rss", Sum),
        ("used_memory_rss_human", Human("used_memory_rss")),
        ("used_memory_peak", Sum),
        ("used_memory_peak_human", Human("used_memory_peak")),
        ("used_memory_peak_perc", Percent("used_memory", "used_memory_peak", "")),
        ("used_memory_overhead", Sum),
        ("used_memory_startup", Sum),
        ("used_memory_dataset", Sum),
        ("used_memory_dataset_perc", Percent("used_memory_dataset", "used_memory", "used_memory_startup")),
        ("allocator_allocated", Sum),
        ("allocator_active", Sum),
        ("allocator_resident", Sum),
        ("allocator_muzzy", Sum),
        // One machine's memory: nodes often share a host, so a sum would overstate it.
        ("total_system_memory", Max),
        ("total_system_memory_human", Human("total_system_memory")),
        ("used_memory_lua", Sum),
        ("used_memory_vm_eval", Sum),
        ("used_memory_lua_human", Human("used_memory_lua")),
        ("used_memory_scripts_eval", Sum),
        // Scripts and functions loaded through slotway are loaded on every primary:
        // the count one server would have is the largest node's, not the sum.
        ("number_of_cached_scripts", Max),
        ("number_of_functions", Max),
        ("number_of_libraries", Max),
        ("used_memory_vm_functions", Sum),
        ("used_memory_vm_total", Sum),
        ("used_memory_vm_total_human", Human("used_memory_vm_total")),
        ("used_memory_functions", Sum),
        ("used_memory_scripts", Sum),
        ("used_memory_scripts_human", Human("used_memory_scripts")),
        ("maxmemory", Limit),
        ("maxmemory_human", Human("maxmemory")),
        ("maxmemory_policy", Same),
        ("allocator_frag_ratio", Ratio("allocator_active", "allocator_allocated")),
        ("allocator_frag_bytes", Diff("allocator_active", "allocator_allocated")),
        ("allocator_rss_ratio", Ratio("allocator_resident", "allocator_active")),
        ("allocator_rss_bytes", Diff("allocator_resident", "allocator_active")),
        ("rss_overhead_ratio", Ratio("used_memory_rss", "allocator_resident")),
        ("rss_overhead_bytes", Diff("used_memory_rss", "allocator_resident")),
        ("mem_fragmentation_ratio", Ratio("used_memory_rss", "used_memory")),
        ("mem_fragmentation_bytes", Diff("used_memory_rss", "used_memory")),
        ("mem_not_counted_for_evict", Sum),
        ("mem_replication_backlog", Sum),
        ("mem_total_replication_buffers", Sum),
        ("mem_replica_full_sync_buffer", Sum),
        ("mem_clients_slaves", Sum),
        ("mem_clients_normal", Sum),
        ("mem_cluster_links", Sum),
        ("mem_aof_buffer", Sum),
        ("mem_allocator", Same),
        ("mem_overhead_db_hashtable_rehashing", Sum),
        ("active_defrag_running", Max),
        ("lazyfree_pending_objects", Sum),
        ("lazyfreed_objects", Sum),
        ("slotway_used_memory_rss", Own),
    ],
    newer: &["allocator_muzzy", "mem_replica_full_sync_buffer", "mem_overhead_db_hashtable_rehashing"],
};

pub static PERSISTENCE: Section = Section {
    header: "Persistence",
    fields: &[
        ("loading", Max),
        ("async_loading", Max),
        ("current_cow_peak", Max),
        ("current_cow_size", Sum),
        ("current_cow_size_age", Max),
        ("current_fork_perc", MaxFloat),
        ("current_save_keys_processed", Sum),
        ("current_save_keys_total", Sum),
        ("rdb_changes_since_last_save", Sum),
        ("rdb_bgsave_in_progress", Max),
        ("rdb_last_save_time", Min),
        ("rdb_last_bgsave_status", Status),
        ("rdb_last_bgsave_time_sec", Max),
        ("rdb_current_bgsave_time_sec", Max),
        ("rdb_saves", Sum),
        ("rdb_last_cow_size", Sum),
        ("rdb_last_load_keys_expired", Sum),
        ("rdb_last_load_keys_loaded", Sum),
        ("aof_enabled", Max),
        ("aof_rewrite_in_progress", Max),
        ("aof_rewrite_scheduled", Max),
        ("aof_last_rewrite_time_sec", Max),
        ("aof_current_rewrite_time_sec", Max),
        ("aof_last_bgrewrite_status", Status),
        ("aof_rewrites", Sum),
        ("aof_rewrites_consecutive_failures", Max),
        ("aof_last_write_status", Status),
        ("aof_last_cow_size", Sum),
        ("module_fork_in_progress", Max),
        ("module_fork_last_cow_size", Sum),
    ],
    newer: &[],
};

pub static STATS: Section = Section {
    header: "Stats",
    fields: &[
        ("total_connections_received", Own),
        ("total_commands_processed", Own),
        ("instantaneous_ops_per_sec", Own),
        ("total_net_input_bytes", Own),
        ("total_net_output_bytes", Own),
        // slotway replicates nothing itself.
        ("total_net_repl_input_bytes", Own),
        ("total_net_repl_output_bytes", Own),
        ("instantaneous_input_kbps", Own),
        ("instantaneous_output_kbps", Own),
        ("instantaneous_input_repl_kbps", Own),
        ("instantaneous_output_repl_kbps", Own),
        ("rejected_connections", Own),
        // Resyncs of the nodes' replicas: events in the cluster worth watching,
        // although slotway presents no replicas of its own.
        ("sync_full", Sum),
        ("sync_partial_ok", Sum),
        ("sync_partial_err", Sum),
        ("expired_subkeys", Sum),
        ("expired_keys", Sum),
        ("expired_stale_perc", MaxFloat),
        ("expired_time_cap_reached_count", Sum),
        ("expire_cycle_cpu_milliseconds", Sum),
        ("evicted_keys", Sum),
        ("evicted_clients", Sum),
        ("evicted_scripts", Sum),
        ("total_eviction_exceeded_time", Sum),
        ("current_eviction_exceeded_time", Max),
        ("keyspace_hits", Sum),
        ("keyspace_misses", Sum),
        // Subscriptions are slotway's (its hub), as its clients made them.
        ("pubsub_channels", Own),
        ("pubsub_patterns", Own),
        ("pubsubshard_channels", Own),
        ("latest_fork_usec", Max),
        ("total_forks", Sum),
        ("migrate_cached_sockets", Sum),
        ("slave_expires_tracked_keys", Sum),
        ("active_defrag_hits", Sum),
        ("active_defrag_misses", Sum),
        ("active_defrag_key_hits", Sum),
        ("active_defrag_key_misses", Sum),
        ("total_active_defrag_time", Sum),
        ("current_active_defrag_time", Max),
        ("tracking_total_keys", Sum),
        ("tracking_total_items", Sum),
        ("tracking_total_prefixes", Sum),
        ("unexpected_error_replies", Sum),
        ("total_error_replies", Own),
        ("dump_payload_sanitizations", Sum),
        ("total_reads_processed", Own),
        ("total_writes_processed", Own),
        ("io_threaded_reads_processed", Own),
        ("io_threaded_writes_processed", Own),
        // slotway's process has no I/O threads, event loop figures or ACL of Redis's
        // kind: the newer servers' fields about them are 0.
        ("io_threaded_freed_objects", Own),
        ("io_threaded_accept_processed", Own),
        ("io_threaded_poll_processed", Own),
        ("io_threaded_total_prefetch_batches", Own),
        ("io_threaded_total_prefetch_entries", Own),
        ("client_query_buffer_limit_disconnections", Own),
        ("client_output_buffer_limit_disconnections", Own),
        ("reply_buffer_shrinks", Own),
        ("reply_buffer_expands", Own),
        ("eventloop_cycles", Own),
        ("eventloop_duration_sum", Own),
        ("eventloop_duration_cmd_sum", Own),
        ("instantaneous_eventloop_cycles_per_sec", Own),
        ("instantaneous_eventloop_duration_usec", Own),
        ("acl_access_denied_auth", Own),
        ("acl_access_denied_cmd", Own),
        ("acl_access_denied_key", Own),
        ("acl_access_denied_channel", Own),
        ("slotway_moved_redirects", Own),
        ("slotway_ask_redirects", Own),
    ],
    newer: &[
        "expired_subkeys",
        "evicted_scripts",
        "io_threaded_freed_objects",
        "io_threaded_accept_processed",
        "io_threaded_poll_processed",
        "io_threaded_total_prefetch_batches",
        "io_threaded_total_prefetch_entries",
        "client_query_buffer_limit_disconnections",
        "client_output_buffer_limit_disconnections",
        "eventloop_cycles",
        "eventloop_duration_sum",
        "eventloop_duration_cmd_sum",
        "instantaneous_eventloop_cycles_per_sec",
        "instantaneous_eventloop_duration_usec",
        "acl_access_denied_auth",
        "acl_access_denied_cmd",
        "acl_access_denied_key",
        "acl_access_denied_channel",
    ],
};

/// The answering nodes' `INFO` texts, read into `field -> value` per node.
pub struct NodeFigures<'a> {
    nodes: Vec<(HashMap<&'a str, &'a str>, &'a str)>,
}

impl<'a> NodeFigures<'a> {
    /// `texts`: each answering node's `INFO` text and address.
    pub fn new(texts: &'a [(String, String)]) -> Self {
        let nodes = texts
            .iter()
            .map(|(text, addr)| {
                let fields = text.lines().filter_map(|l| l.trim_end().split_once(':')).collect();
                (fields, addr.as_str())
            })
            .collect();
        NodeFigures { nodes }
    }

    fn ints(&self, field: &str) -> impl Iterator<Item = i64> + '_ {
        let field = field.to_string();
        self.nodes.iter().filter_map(move |(f, _)| f.get(field.as_str())?.parse().ok())
    }

    /// The aggregated integer value of `field` in `section` (0 without figures).
    fn int(&self, section: &Section, field: &str) -> i64 {
        match section.fields.iter().find(|(name, _)| *name == field).map(|(_, rule)| rule) {
            Some(Max) => self.ints(field).max().unwrap_or(0),
            Some(Min) => self.ints(field).min().unwrap_or(0),
            Some(Limit) if self.ints(field).any(|v| v == 0) => 0,
            _ => self.ints(field).sum(),
        }
    }

    fn float(&self, field: &str) -> f64 {
        let field = field.to_string();
        self.nodes.iter().filter_map(|(f, _)| f.get(field.as_str())?.parse::<f64>().ok()).fold(0.0, f64::max)
    }

    fn text(&self, field: &str, rule: &Rule) -> String {
        let values: Vec<(&str, &str)> =
            self.nodes.iter().filter_map(|(f, addr)| Some((*f.get(field)?, *addr))).collect();
        match rule {
            Status => values.iter().find(|(v, _)| *v != "ok").map_or("ok", |(v, _)| v).to_string(),
            _ => match values.first() {
                Some((first, _)) if values.iter().all(|(v, _)| v == first) => first.to_string(),
                _ => values.iter().map(|(v, addr)| format!("{v} ({addr})")).collect::<Vec<_>>().join("; "),
            },
        }
    }

    /// Writes `section` with its header; `own` holds slotway's own values.
    pub fn write(&self, out: &mut String, section: &Section, own: &[(&str, String)]) {
        let _ = write!(out, "# {}\r\n", section.header);
        let shown = |name: &str| !section.newer.contains(&name) || self.nodes.iter().any(|(f, _)| f.contains_key(name));
        for (name, rule) in section.fields.iter().filter(|(name, _)| shown(name)) {
            let int = |f: &str| self.int(section, f);
            let _ = match rule {
                Sum | Max | Min | Limit => write!(out, "{name}:{}\r\n", int(name)),
                MaxFloat => write!(out, "{name}:{:.2}\r\n", self.float(name)),
                Same | Status => write!(out, "{name}:{}\r\n", self.text(name, rule)),
                Human(of) => write!(out, "{name}:{}\r\n", human(int(of))),
                Ratio(a, b) => write!(out, "{name}:{:.2}\r\n", ratio(int(a), int(b))),
                Diff(a, b) => write!(out, "{name}:{}\r\n", int(a) - int(b)),
                Percent(a, b, c) => {
                    let base = int(b) - if c.is_empty() { 0 } else { int(c) };
                    write!(out, "{name}:{:.2}%\r\n", 100.0 * ratio(int(a), base))
                }
                Own => {
                    let value = own.iter().find(|(n, _)| n == name).map_or("0", |(_, v)| v.as_str());
                    write!(out, "{name}:{value}\r\n")
                }
            };
        }
    }
}

fn ratio(a: i64, b: i64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Bytes as Redis's `bytesToHuman` writes them: `512B`, `967.79K`, `1.23M`, ...
pub fn human(n: i64) -> String {
    let n = n.max(0) as u64;
    let units = [('K', 1u64 << 10), ('M', 1 << 20), ('G', 1 << 30), ('T', 1 << 40), ('P', 1 << 50)];
    match units.iter().rev().find(|(_, size)| n >= *size && n < size.saturating_mul(1024)) {
        Some((unit, size)) => format!("{:.2}{unit}", n as f64 / *size as f64),
        None => format!("{n}B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_bytes_as_redis_writes_them() {
        assert_eq!(human(0), "0B");
        assert_eq!(human(1023), "1023B");
        assert_eq!(human(991016), "967.79K");
        assert_eq!(human(12234752), "11.67M");
        assert_eq!(human(25276502016), "23.54G");
        assert_eq!(human(2 << 60), "2305843009213693952B");
    }

    fn figures(texts: &[(String, String)], section: &Section) -> String {
        let mut out = String::new();
        NodeFigures::new(texts).write(&mut out, section, &[("slotway_used_memory_rss", "7".into())]);
        out
    }

    #[test]
    fn memory_is_summed_and_ratios_come_from_the_sums() {
        let node = |used: u64, rss: u64, max: u64, policy: &str| {
            format!("used_memory:{used}\r\nused_memory_rss:{rss}\r\nmaxmemory:{max}\r\nmaxmemory_policy:{policy}\r\n")
        };
        let two = [
            (node(1 << 20, 3 << 20, 100, "noeviction"), "a:1".to_string()),
            (node(1 << 20, 1 << 20, 200, "noeviction"), "b:2".to_string()),
        ];
        let out = figures(&two, &MEMORY);
        assert!(out.starts_with("# Memory\r\nused_memory:2097152\r\nused_memory_human:2.00M\r\n"), "{out}");
        for line in [
            "maxmemory:300",
            "maxmemory_policy:noeviction",
            "mem_fragmentation_ratio:2.00",
            "slotway_used_memory_rss:7",
        ] {
            assert!(out.contains(&format!("{line}\r\n")), "{line} in {out}");
        }
        let unlimited = [two[0].clone(), (node(1, 1, 0, "allkeys-lru"), "b:2".to_string())];
        let out = figures(&unlimited, &MEMORY);
        assert!(out.contains("maxmemory:0\r\nmaxmemory_human:0B\r\n"), "{out}");
        assert!(out.contains("maxmemory_policy:noeviction (a:1); allkeys-lru (b:2)\r\n"), "{out}");
    }

    #[test]
    fn persistence_takes_any_flag_and_the_oldest_save() {
        let texts = [
            ("loading:0\r\nrdb_last_save_time:200\r\nrdb_last_bgsave_status:ok\r\n".to_string(), "a".to_string()),
            ("loading:1\r\nrdb_last_save_time:100\r\nrdb_last_bgsave_status:err\r\n".to_string(), "b".to_string()),
        ];
        let out = figures(&texts, &PERSISTENCE);
        for line in ["loading:1", "rdb_last_save_time:100", "rdb_last_bgsave_status:err", "aof_last_write_status:ok"] {
            assert!(out.contains(&format!("{line}\r\n")), "{line} in {out}");
        }
    }

    #[test]
    fn newer_fields_only_where_a_node_has_them() {
        let old = [("expired_keys:1\r\n".to_string(), "a".to_string())];
        let out = figures(&old, &STATS);
        assert!(!out.contains("expired_subkeys") && !out.contains("eventloop_cycles"), "{out}");
        let new = [
            ("expired_subkeys:2\r\neventloop_cycles:99\r\n".to_string(), "a".to_string()),
            ("expired_subkeys:3\r\n".to_string(), "b".to_string()),
        ];
        let out = figures(&new, &STATS);
        assert!(out.contains("\r\nexpired_subkeys:5\r\nexpired_keys:0\r\n"), "{out}");
        assert!(out.contains("\r\neventloop_cycles:0\r\n"), "slotway's own, not the nodes': {out}");
    }
}
