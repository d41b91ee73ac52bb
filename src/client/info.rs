//! `INFO`: slotway's own sections in Redis's format, plus the cluster's keyspace
//! summed over the primaries.

use std::fmt::Write as _;

use crate::metrics::Metrics;
use crate::protocol::request::Args;
use crate::route::dispatch::Router;

/// Sections slotway writes itself, in Redis's order (`keyspace` comes from the nodes),
/// then slotway's own.
const OWN_SECTIONS: [&str; 9] =
    ["server", "clients", "memory", "persistence", "stats", "replication", "cluster", "commandstats", "slotway"];
/// Sections left out of a bare `INFO` (and `INFO default`), as Redis leaves out its
/// `commandstats`: one line per command used is long.
const NOT_DEFAULT: [&str; 1] = ["commandstats"];

/// What `INFO [section ...]` asked for: the text of slotway's sections, and whether
/// the nodes' keyspace must be added.
pub fn own_sections(args: Args<'_>, router: &Router, maxclients: usize, port: u16) -> (String, bool) {
    let asked: Vec<String> = args.iter().skip(1).map(|a| String::from_utf8_lossy(a).to_lowercase()).collect();
    let everything = asked.iter().any(|a| matches!(a.as_str(), "all" | "everything"));
    let default = asked.is_empty() || asked.iter().any(|a| a == "default");
    let wants =
        |s: &str| everything || (default && !NOT_DEFAULT.contains(&s)) || asked.iter().any(|a| a == s);
    let m = &router.metrics;
    let uptime = m.started.elapsed().as_secs();
    let mut out = String::new();
    for section in OWN_SECTIONS.into_iter().filter(|s| wants(s)) {
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        match section {
            "server" => {
                let _ = write!(
                    out,
                    "# Server\r\nredis_version:{}\r\nslotway_version:{}\r\nredis_mode:cluster\r\nos:{}\r\narch_bits:64\r\n\
                     multiplexing_api:epoll\r\nprocess_id:{}\r\ntcp_port:{port}\r\nuptime_in_seconds:{uptime}\r\n\
                     uptime_in_days:{}\r\n",
                    router.node_version.get(),
                    env!("CARGO_PKG_VERSION"),
                    std::env::consts::OS,
                    std::process::id(),
                    uptime / 86400
                );
            }
            "clients" => {
                let _ = write!(
                    out,
                    "# Clients\r\nconnected_clients:{}\r\nmaxclients:{maxclients}\r\nblocked_clients:0\r\n",
                    Metrics::get(&m.connected_clients)
                );
            }
            "memory" => {
                let rss = resident_bytes();
                let _ = write!(out, "# Memory\r\nused_memory:{rss}\r\nused_memory_rss:{rss}\r\n");
            }
            "persistence" => out.push_str("# Persistence\r\nloading:0\r\n"),
            "stats" => {
                let _ = write!(
                    out,
                    "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\nrejected_connections:{}\r\n\
                     total_error_replies:{}\r\nslotway_moved_redirects:{}\r\nslotway_ask_redirects:{}\r\n",
                    Metrics::get(&m.total_connections),
                    Metrics::get(&m.total_commands),
                    Metrics::get(&m.rejected_connections),
                    router.observe.commands.error_replies(),
                    Metrics::get(&m.redirects_moved),
                    Metrics::get(&m.redirects_ask),
                );
            }
            "replication" => out.push_str("# Replication\r\nrole:master\r\nconnected_slaves:0\r\n"),
            "commandstats" => command_stats(&mut out, router),
            "slotway" => slotway_section(&mut out, router),
            _ => {
                let topology = router.map.load();
                let _ = write!(
                    out,
                    "# Cluster\r\ncluster_enabled:1\r\nslotway_cluster_primaries:{}\r\nslotway_cluster_slots_covered:{}\r\n",
                    topology.shards.len(),
                    topology.covered_slots()
                );
            }
        }
    }
    (out, wants("keyspace"))
}

/// `# Commandstats` in Redis's format, counted by slotway: time is end to end
/// through slotway, `failed_calls` are error replies, `rejected_calls` requests
/// slotway refused before sending them (CROSSSLOT, unsupported).
fn command_stats(out: &mut String, router: &Router) {
    out.push_str("# Commandstats\r\n");
    for (name, t) in router.observe.commands.used() {
        let per_call = if t.calls > 0 { t.usec as f64 / t.calls as f64 } else { 0.0 };
        let _ = write!(
            out,
            "cmdstat_{name}:calls={},usec={},usec_per_call={per_call:.2},rejected_calls={},failed_calls={}\r\n",
            t.calls, t.usec, t.rejected, t.failed
        );
    }
}

/// Hot keys listed in `INFO slotway`.
const INFO_HOT_KEYS: usize = 5;

/// `# Slotway`: the proxy's own state (topology, nodes, slow log, hot keys).
fn slotway_section(out: &mut String, router: &Router) {
    let topology = router.map.load();
    let nodes = router.pool.nodes();
    let up = nodes.iter().filter(|(n, _)| n.reachable.load(std::sync::atomic::Ordering::Relaxed)).count();
    let m = &router.metrics;
    let _ = write!(
        out,
        "# Slotway\r\ntopology_version:{}\r\ntopology_epoch:{}\r\ntopology_refreshes:{}\r\n\
         topology_refresh_failures:{}\r\nbackend_nodes_up:{up}\r\nbackend_nodes_down:{}\r\n\
         leased_connections:{}\r\nslowlog_len:{}\r\nslowlog_entries_total:{}\r\nhotkeys_sample_rate:{}\r\n",
        router.map.version(),
        topology.epoch,
        Metrics::get(&m.topology_refreshes),
        Metrics::get(&m.topology_refresh_failures),
        nodes.len() - up,
        router.leases.in_use(),
        router.observe.slowlog.len(),
        router.observe.slowlog.logged(),
        router.live.load().hotkeys_sample_rate,
    );
    // The few hottest keys, in Redis's `name:field=value,...` style (keys shown
    // lossily, without the characters that would break a line).
    for (i, (key, requests)) in router.observe.hotkeys.top(INFO_HOT_KEYS).into_iter().enumerate() {
        let key: String =
            String::from_utf8_lossy(&key).chars().map(|c| if c.is_control() || c == ',' { '?' } else { c }).collect();
        let _ = write!(out, "hotkey{i}:key={key},requests={requests}\r\n");
    }
}

/// Adds the primaries' `INFO keyspace` replies (bulk strings) into one `# Keyspace` section.
pub fn sum_keyspace(replies: &[&[u8]]) -> String {
    // db index -> (keys, expires, sum of avg_ttl weighted by each node's expires)
    let mut dbs: std::collections::BTreeMap<u32, (u64, u64, u128)> = Default::default();
    for reply in replies {
        for line in String::from_utf8_lossy(reply).lines() {
            let Some((db, fields)) = line.trim().split_once(':') else { continue };
            let Some(index) = db.strip_prefix("db").and_then(|n| n.parse().ok()) else { continue };
            let entry = dbs.entry(index).or_default();
            let mut expires = 0;
            for field in fields.split(',') {
                let (k, v) = field.split_once('=').unwrap_or((field, "0"));
                let v: u64 = v.parse().unwrap_or(0);
                match k {
                    "keys" => entry.0 += v,
                    "expires" => expires = v,
                    "avg_ttl" => entry.2 += v as u128 * expires as u128,
                    _ => {}
                }
            }
            entry.1 += expires;
        }
    }
    let mut out = String::from("# Keyspace\r\n");
    for (db, (keys, expires, ttl_weighted)) in dbs {
        let avg_ttl = if expires > 0 { ttl_weighted / expires as u128 } else { 0 };
        let _ = write!(out, "db{db}:keys={keys},expires={expires},avg_ttl={avg_ttl}\r\n");
    }
    out
}

fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()))
        .map_or(0, |pages| pages * 4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyspace_is_summed() {
        let a = b"# Keyspace\r\ndb0:keys=10,expires=2,avg_ttl=100\r\n";
        let b = b"# Keyspace\r\ndb0:keys=30,expires=0,avg_ttl=0\r\n";
        let c = b"# Keyspace\r\n";
        assert_eq!(sum_keyspace(&[a, b, c]), "# Keyspace\r\ndb0:keys=40,expires=2,avg_ttl=100\r\n");
    }
}
