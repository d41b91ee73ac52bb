//! `INFO` as the server behind slotway writes it (Redis 7.0's by default; the
//! sections and fields newer servers add where the nodes are newer): every
//! section, field name and format, with
//! slotway's own values where a field describes the process or its clients
//! (`own.rs`), and the primaries' memory, persistence, stats and keyspace figures
//! combined into what one server would show (`nodes.rs`), asked with one `INFO`
//! per call. slotway's extra fields start with `slotway_`; `# Slotway` is its own.

use std::fmt::Write as _;

use bytes::Bytes;

use crate::backend::request::ReplyResult;
use crate::metrics::Metrics;
use crate::protocol::encode;
use crate::protocol::reply::bulk_body;
use crate::protocol::request::Args;
use crate::proxy::Proxy;

mod nodes;
mod own;

pub use nodes::human;

/// Every section, in Redis's order, then slotway's own. `# Threads` and `# Keysizes`
/// are Redis 8.0's ([`NEWER`]).
const SECTIONS: [&str; 16] = [
    "server",
    "clients",
    "memory",
    "persistence",
    "threads",
    "stats",
    "replication",
    "cpu",
    "modules",
    "commandstats",
    "errorstats",
    "latencystats",
    "cluster",
    "keyspace",
    "keysizes",
    "slotway",
];
/// Sections only Redis 8.0 and later have.
const NEWER: [&str; 2] = ["threads", "keysizes"];
/// Left out of a bare `INFO` (and `INFO default`), as Redis leaves them out.
const NOT_DEFAULT: [&str; 2] = ["commandstats", "latencystats"];

/// One `INFO` request, prepared when it arrives: the sections asked for, in Redis's
/// order, with slotway's own figures as they were then; the node figures are added
/// by [`Plan::render`] once the primaries answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    parts: Vec<Part>,
    /// slotway's own values for fields of the node-figure sections.
    own: Vec<(&'static str, String)>,
}

/// An `INFO` waiting for the primaries: its plan, and the nodes asked in the order
/// of their replies.
#[derive(Debug)]
pub struct Gather {
    pub plan: Plan,
    pub addrs: Vec<String>,
    pub resp3: bool,
}

impl Gather {
    /// The reply, once every node answered. A node that does not answer (or answers
    /// an error) is left out, not the reason to fail; `# Slotway` counts such nodes.
    pub fn merge(&self, parts: Vec<ReplyResult>) -> Bytes {
        let total = parts.len();
        let texts: Vec<(String, String)> = parts
            .iter()
            .zip(&self.addrs)
            .filter_map(|(part, addr)| {
                let body = bulk_body(part.as_ref().ok()?)?;
                Some((String::from_utf8_lossy(body).into_owned(), addr.clone()))
            })
            .collect();
        let text = self.plan.render(&texts, total - texts.len());
        if self.resp3 { encode::verbatim(text.as_bytes()) } else { encode::bulk(text.as_bytes()) }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// A section slotway wrote whole.
    Ready(String),
    Nodes(&'static nodes::Section),
    Keyspace,
    /// `# Modules`: the module lines every answering node has.
    Modules,
    /// `# Keysizes` (Redis 8.0): the nodes' key size histograms added up.
    Keysizes,
    /// `# Slotway`, to which the count of nodes that did not answer is added.
    Slotway(String),
}

impl Plan {
    /// What `INFO [section ...]` asks for. As Redis: names are case-insensitive,
    /// unknown ones are ignored, `all` and `everything` mean every section,
    /// `default` (or no name) the default ones, and the order is always Redis's.
    pub fn new(args: Args<'_>, proxy: &Proxy, maxclients: usize, port: u16) -> Plan {
        let asked: Vec<String> = args.iter().skip(1).map(|a| String::from_utf8_lossy(a).to_lowercase()).collect();
        let everything = asked.iter().any(|a| matches!(a.as_str(), "all" | "everything"));
        let default = asked.is_empty() || asked.iter().any(|a| a == "default");
        // Redis 7.0 also accepts `module_list` for `# Modules`.
        let named = |s: &str| asked.iter().any(|a| a == s || (s == "modules" && a == "module_list"));
        let wants = |s: &str| everything || (default && !NOT_DEFAULT.contains(&s)) || named(s);
        let newer = proxy.node_version.server().is_redis_at_least(8, 0);
        let mut parts = Vec::new();
        for section in SECTIONS.into_iter().filter(|s| wants(s) && (newer || !NEWER.contains(s))) {
            let mut out = String::new();
            parts.push(match section {
                "server" => Part::Ready({
                    own::server(&mut out, proxy, port);
                    out
                }),
                "clients" => Part::Ready({
                    own::clients(&mut out, proxy, maxclients);
                    out
                }),
                "memory" => Part::Nodes(&nodes::MEMORY),
                "persistence" => Part::Nodes(&nodes::PERSISTENCE),
                "threads" => Part::Ready({
                    own::threads(&mut out, proxy);
                    out
                }),
                "stats" => Part::Nodes(&nodes::STATS),
                "replication" => Part::Ready({
                    own::replication(&mut out, proxy);
                    out
                }),
                "cpu" => Part::Ready({
                    own::cpu(&mut out);
                    out
                }),
                "modules" => Part::Modules,
                "commandstats" => Part::Ready({
                    command_stats(&mut out, proxy);
                    out
                }),
                // slotway counts its error replies but not by error code, nor latency
                // percentiles per command: the sections are there, empty.
                "errorstats" => Part::Ready("# Errorstats\r\n".into()),
                "latencystats" => Part::Ready("# Latencystats\r\n".into()),
                "cluster" => Part::Ready({
                    own::cluster(&mut out, proxy);
                    out
                }),
                "keyspace" => Part::Keyspace,
                "keysizes" => Part::Keysizes,
                _ => Part::Slotway({
                    slotway_section(&mut out, proxy);
                    out
                }),
            });
        }
        let own = if parts.iter().any(|p| matches!(p, Part::Nodes(_))) { own::values(proxy) } else { Vec::new() };
        Plan { parts, own }
    }

    /// The `INFO` request for the primaries, or `None` when no section needs them.
    pub fn node_request(&self) -> Option<Bytes> {
        let mut args: Vec<&[u8]> = vec![b"INFO"];
        for part in &self.parts {
            match part {
                Part::Nodes(section) => args.push(section.header.as_bytes()),
                Part::Keyspace => args.push(b"keyspace"),
                Part::Modules => args.push(b"modules"),
                Part::Keysizes => args.push(b"keysizes"),
                _ => {}
            }
        }
        (args.len() > 1).then(|| crate::protocol::encode::command(&args))
    }

    /// The `INFO` text, from the answering nodes' `INFO` texts (each with its
    /// address); `unanswered` nodes are left out and counted in `# Slotway`.
    pub fn render(&self, texts: &[(String, String)], unanswered: usize) -> String {
        let figures = nodes::NodeFigures::new(texts);
        let mut out = String::new();
        for part in &self.parts {
            if !out.is_empty() {
                out.push_str("\r\n");
            }
            match part {
                Part::Ready(text) => out.push_str(text),
                Part::Nodes(section) => figures.write(&mut out, section, &self.own),
                Part::Keyspace => {
                    let bodies: Vec<&[u8]> = texts.iter().map(|(t, _)| t.as_bytes()).collect();
                    out.push_str(&sum_keyspace(&bodies));
                }
                Part::Modules => out.push_str(&common_modules(texts)),
                Part::Keysizes => out.push_str(&sum_keysizes(texts)),
                Part::Slotway(text) => {
                    out.push_str(text);
                    let _ = write!(out, "slotway_nodes_unanswered:{unanswered}\r\n");
                }
            }
        }
        out
    }
}

/// `# Commandstats` in Redis's format, counted by slotway: time is end to end
/// through slotway, `failed_calls` are error replies, `rejected_calls` requests
/// slotway refused before sending them (CROSSSLOT, unsupported).
fn command_stats(out: &mut String, proxy: &Proxy) {
    out.push_str("# Commandstats\r\n");
    for (name, t) in proxy.observe.commands.used() {
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
fn slotway_section(out: &mut String, proxy: &Proxy) {
    let topology = proxy.map.load();
    let nodes = proxy.pool.nodes();
    let up = nodes.iter().filter(|(n, _)| n.reachable.load(std::sync::atomic::Ordering::Relaxed)).count();
    let m = &proxy.metrics;
    let commands = proxy.commands.load();
    let _ = write!(
        out,
        "# Slotway\r\ntopology_version:{}\r\ntopology_epoch:{}\r\ntopology_refreshes:{}\r\n\
         topology_refresh_failures:{}\r\nbackend_nodes_up:{up}\r\nbackend_nodes_down:{}\r\n\
         leased_connections:{}\r\nslowlog_len:{}\r\nslowlog_entries_total:{}\r\nhotkeys_sample_rate:{}\r\n\
         command_table:{}\r\ncommand_table_added:{}\r\ncommand_table_changed:{}\r\n",
        proxy.map.version(),
        topology.epoch,
        Metrics::get(&m.topology_refreshes),
        Metrics::get(&m.topology_refresh_failures),
        nodes.len() - up,
        proxy.leases.in_use(),
        proxy.observe.slowlog.len(),
        proxy.observe.slowlog.logged(),
        proxy.live.load().hotkeys_sample_rate,
        commands.source,
        commands.added(),
        commands.changed(),
    );
    // The few hottest keys, in Redis's `name:field=value,...` style (keys shown
    // lossily, without the characters that would break a line).
    for (i, (key, requests)) in proxy.observe.hotkeys.top(INFO_HOT_KEYS).into_iter().enumerate() {
        let key: String =
            String::from_utf8_lossy(&key).chars().map(|c| if c.is_control() || c == ',' { '?' } else { c }).collect();
        let _ = write!(out, "hotkey{i}:key={key},requests={requests}\r\n");
    }
}

/// The lines of `# name` in an `INFO` text of several sections.
fn section_lines<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    let header = format!("# {name}");
    let mut lines = text.lines().map(str::trim_end).skip_while(|l| *l != header).skip(1);
    std::iter::from_fn(|| lines.next().filter(|l| !l.starts_with('#'))).filter(|l| !l.is_empty()).collect()
}

/// `# Modules`: the modules every answering node lists (a module some node lacks
/// cannot be used through slotway), in the first node's order.
fn common_modules(texts: &[(String, String)]) -> String {
    let mut out = String::from("# Modules\r\n");
    let per_node: Vec<Vec<&str>> = texts.iter().map(|(t, _)| section_lines(t, "Modules")).collect();
    if let Some((first, others)) = per_node.split_first() {
        for line in first.iter().filter(|l| others.iter().all(|o| o.contains(l))) {
            let _ = write!(out, "{line}\r\n");
        }
    }
    out
}

/// `# Keysizes` (Redis 8.0): each `dbN_distrib_<type>_sizes` histogram added up
/// over the nodes, bin by bin (`1=3,2=1,4K=2`: keys whose size is in each power of
/// two), bins in size order, histograms in the order the nodes list them.
pub fn sum_keysizes(texts: &[(String, String)]) -> String {
    let mut histograms: Vec<(String, Vec<(String, u64)>)> = Vec::new();
    for (text, _) in texts {
        for line in section_lines(text, "Keysizes") {
            let Some((name, bins)) = line.split_once(':') else { continue };
            if !histograms.iter().any(|(n, _)| n == name) {
                histograms.push((name.to_string(), Vec::new()));
            }
            let Some((_, sums)) = histograms.iter_mut().find(|(n, _)| n == name) else { continue };
            for (bin, count) in bins.split(',').filter_map(|b| b.split_once('=')) {
                let count: u64 = count.parse().unwrap_or(0);
                match sums.iter_mut().find(|(b, _)| b == bin) {
                    Some((_, sum)) => *sum += count,
                    None => sums.push((bin.to_string(), count)),
                }
            }
        }
    }
    let mut out = String::from("# Keysizes\r\n");
    for (name, mut bins) in histograms {
        bins.sort_by_key(|(bin, _)| bin_size(bin));
        let bins: Vec<String> = bins.iter().map(|(bin, count)| format!("{bin}={count}")).collect();
        let _ = write!(out, "{name}:{}\r\n", bins.join(","));
    }
    out
}

/// A histogram bin's size: `512`, `4K`, `1M` ... (powers of 1024 by letter).
fn bin_size(bin: &str) -> u64 {
    let (digits, unit) = bin.split_at(bin.find(|c: char| !c.is_ascii_digit()).unwrap_or(bin.len()));
    let scale = match unit {
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        "P" => 1 << 50,
        _ => 1,
    };
    digits.parse::<u64>().unwrap_or(0).saturating_mul(scale)
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

    #[test]
    fn keysizes_are_added_bin_by_bin_in_size_order() {
        let node = |t: &str| (format!("# Keysizes\r\n{t}\r\n# Modules\r\nmodule:name=x\r\n"), String::new());
        let texts = [node("db0_distrib_strings_sizes:2=1,1K=2"), node("db0_distrib_strings_sizes:512=1,2=3")];
        assert_eq!(sum_keysizes(&texts), "# Keysizes\r\ndb0_distrib_strings_sizes:2=4,512=1,1K=2\r\n");
        assert_eq!(sum_keysizes(&[]), "# Keysizes\r\n");
        assert_eq!(common_modules(&texts), "# Modules\r\nmodule:name=x\r\n");
        let without = ("# Modules\r\n".to_string(), String::new());
        assert_eq!(common_modules(&[texts[0].clone(), without]), "# Modules\r\n");
    }
}
