//! A [`ClusterStatus`] in Prometheus's text format (0.0.4), written by the
//! Prometheus project's own Rust client (`prometheus-client`), which takes care of
//! names, `_total` suffixes, label escaping and number formatting.
//!
//! The values already live in atomics and the topology snapshot, so there is no
//! metric registry kept up to date on the data path: a collector reads the snapshot
//! at each scrape.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, prometheus_text};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use super::status::ClusterStatus;

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
