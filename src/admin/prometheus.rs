//! A [`ClusterStatus`] in Prometheus's text format (0.0.4), written by the
//! Prometheus project's own Rust client (`prometheus-client`), which takes care of
//! names, `_total` suffixes, label escaping and number formatting.
//!
//! The values already live in atomics and the topology snapshot, so there is no
//! metric registry kept up to date on the data path: a collector reads the snapshot
//! at each scrape.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet, prometheus_text};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use super::status::ClusterStatus;
use crate::observe::commands::CommandTotals;

pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// The scrape body for `status`.
pub fn render(status: ClusterStatus) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Snapshot(status)));
    let mut out = String::new();
    // Writing to a String cannot fail; an encoder error would be a bug in a
    // metric name, and a partial scrape is still better than none.
    let _ = prometheus_text::encode(&mut out, &registry);
    out
}

#[derive(Debug)]
struct Snapshot(ClusterStatus);

impl Collector for Snapshot {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = &self.0;
        gauge(&mut enc, "slotway_connected_clients", "Clients connected now.", s.connected_clients)?;
        // Counter names get their `_total` from the encoder.
        counter(&mut enc, "slotway_connections_received", "Client connections accepted.", s.connections_received)?;
        counter(
            &mut enc,
            "slotway_rejected_connections",
            "Client connections refused at maxclients.",
            s.rejected_connections,
        )?;
        counter(&mut enc, "slotway_commands", "Commands received from clients.", s.commands)?;
        {
            let mut family = enc.encode_descriptor(
                "slotway_redirects",
                "MOVED and ASK redirects followed for clients.",
                None,
                MetricType::Counter,
            )?;
            ConstCounter::new(s.redirects.moved).encode(family.encode_family(&[("kind", "moved")])?)?;
            ConstCounter::new(s.redirects.ask).encode(family.encode_family(&[("kind", "ask")])?)?;
        }
        gauge(&mut enc, "slotway_topology_shards", "Shards (primaries owning slots) in the topology.", s.shards.len())?;
        gauge(&mut enc, "slotway_topology_slots_covered", "Slots of 16384 that a primary serves.", s.slots_covered)?;
        gauge(&mut enc, "slotway_topology_version", "Changes of slot ownership seen.", s.topology_version)?;
        gauge(
            &mut enc,
            "slotway_topology_epoch",
            "Highest config epoch among the primaries at the last topology read.",
            s.topology_epoch,
        )?;
        {
            let mut family = enc.encode_descriptor(
                "slotway_topology_refreshes",
                "Topology refreshes, by result (ok: a node answered; failed: none did).",
                None,
                MetricType::Counter,
            )?;
            ConstCounter::new(s.topology_refreshes).encode(family.encode_family(&[("result", "ok")])?)?;
            ConstCounter::new(s.topology_refresh_failures).encode(family.encode_family(&[("result", "failed")])?)?;
        }
        counter(&mut enc, "slotway_error_replies", "Error replies sent to clients.", s.error_replies)?;
        command_families(&mut enc, s)?;
        counter(
            &mut enc,
            "slotway_slowlog_entries",
            "Commands logged in slotway's slow log (slower end to end than slowlog-log-slower-than).",
            s.slowlog_entries,
        )?;
        gauge(&mut enc, "slotway_slowlog_length", "Entries in slotway's slow log now.", s.slowlog_length)?;
        {
            let mut family = enc.encode_descriptor(
                "slotway_hot_key_requests",
                "Estimated requests for each of the 10 hottest keys (sampled; counts halve as samples accumulate).",
                None,
                MetricType::Gauge,
            )?;
            for (key, requests) in &s.hot_keys {
                ConstGauge::new(*requests as i64).encode(family.encode_family(&[("key", key.as_str())])?)?;
            }
        }
        node_families(&mut enc, s)?;
        gauge(
            &mut enc,
            "slotway_leased_connections",
            "Node connections lent to single clients (blocking commands, WATCH).",
            s.leased_connections,
        )?;
        gauge(&mut enc, "slotway_uptime_seconds", "Seconds since slotway started.", s.uptime_seconds)?;
        // An info-style gauge: always 1, the labels are the data (join on `addr`).
        let mut family = enc.encode_descriptor(
            "slotway_node_info",
            "Cluster nodes in the topology, by address and role.",
            None,
            MetricType::Gauge,
        )?;
        for shard in &s.shards {
            let nodes =
                std::iter::once((&shard.primary, "primary")).chain(shard.replicas.iter().map(|r| (r, "replica")));
            for (addr, role) in nodes {
                ConstGauge::new(1i64).encode(family.encode_family(&[("addr", addr.as_str()), ("role", role)])?)?;
            }
        }
        Ok(())
    }
}

/// Requests, errors and time by command: one series per command used so far.
fn command_families(enc: &mut DescriptorEncoder, s: &ClusterStatus) -> Result<(), std::fmt::Error> {
    type Pick = fn(&CommandTotals) -> f64;
    let families: [(&str, &str, Pick); 3] = [
        ("slotway_command_requests", "Commands served, by command (rejected ones included).", |t| {
            (t.calls + t.rejected) as f64
        }),
        ("slotway_command_errors", "Commands answered with an error, by command (rejected ones included).", |t| {
            (t.failed + t.rejected) as f64
        }),
        ("slotway_command_seconds", "Time through slotway (read to reply queued), summed by command.", |t| {
            t.usec as f64 / 1e6
        }),
    ];
    for (name, help, pick) in families {
        let mut family = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
        for c in &s.command_stats {
            ConstCounter::new(pick(&c.totals)).encode(family.encode_family(&[("command", c.name)])?)?;
        }
    }
    Ok(())
}

/// Health, connections and reply latency of each node slotway has connections to.
fn node_families(enc: &mut DescriptorEncoder, s: &ClusterStatus) -> Result<(), std::fmt::Error> {
    let mut family = enc.encode_descriptor(
        "slotway_node_up",
        "1 while slotway's connections reach the node, 0 from a failed connect until one succeeds.",
        None,
        MetricType::Gauge,
    )?;
    for n in &s.nodes {
        ConstGauge::new(i64::from(n.up))
            .encode(family.encode_family(&[("addr", n.addr.as_str()), ("role", n.role)])?)?;
    }
    let mut family = enc.encode_descriptor(
        "slotway_node_connections",
        "Shared connections to the node established now (leased ones not included).",
        None,
        MetricType::Gauge,
    )?;
    for n in &s.nodes {
        ConstGauge::new(n.connections as i64).encode(family.encode_family(&[("addr", n.addr.as_str())])?)?;
    }
    let mut family = enc.encode_descriptor(
        "slotway_node_latency_seconds",
        "Time from writing a request to a node to reading its reply.",
        None,
        MetricType::Histogram,
    )?;
    for n in &s.nodes {
        // The encoder wants each bucket's own count and a last `+Inf` bucket.
        let mut buckets = Vec::with_capacity(n.latency.buckets.len() + 1);
        let mut below = 0;
        for &(bound, cumulative) in &n.latency.buckets {
            buckets.push((bound, cumulative - below));
            below = cumulative;
        }
        buckets.push((f64::INFINITY, n.latency.count - below));
        family.encode_family(&[("addr", n.addr.as_str())])?.encode_histogram::<NoLabelSet>(
            n.latency.sum_seconds,
            n.latency.count,
            &buckets,
            None,
        )?;
    }
    Ok(())
}

fn gauge<V: prometheus_client::encoding::EncodeGaugeValue>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: V,
) -> Result<(), std::fmt::Error> {
    let gauge = ConstGauge::new(value);
    gauge.encode(enc.encode_descriptor(name, help, None, gauge.metric_type())?)
}

fn counter(enc: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> Result<(), std::fmt::Error> {
    let counter = ConstCounter::new(value);
    counter.encode(enc.encode_descriptor(name, help, None, counter.metric_type())?)
}
