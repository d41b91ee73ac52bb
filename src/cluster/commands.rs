//! The primaries' own description of their commands: `COMMAND`, asked at start and
//! again whenever the servers behind slotway change (an upgrade, a failover to a
//! node of another version), made into the [`CommandTable`] routing uses. What
//! every primary supports counts; a primary that does not answer leaves the table
//! as it is.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use redis_protocol::resp2::decode::decode;
use tracing::{info, warn};

use super::node_version::{NodeVersion, Server};
use super::refresh::ClusterMap;
use crate::backend::request::{OWN_REQUESTS, reply_text};
use crate::command::commands::CommandTable;
use crate::command::learned::{LearnedCommand, parse_command_reply};
use crate::config::LiveConfig;

const COMMAND: &[u8] = b"*1\r\n$7\r\nCOMMAND\r\n";
const INFO_SERVER: &[u8] = b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n";
/// How often the servers' version is looked at.
const POLL: Duration = Duration::from_secs(1);

/// Asks every primary for its server version and its commands, and swaps in the
/// table they make. Returns whether every primary answered.
pub async fn learn(map: &ClusterMap, store: &ArcSwap<CommandTable>, wait: Duration) -> bool {
    let mut primaries: Vec<_> = map.load().shards.iter().map(|s| s.primary.clone()).collect();
    primaries.sort_by(|a, b| a.addr.cmp(&b.addr));
    let mut described = Vec::with_capacity(primaries.len());
    for node in &primaries {
        let server = match node.send(Bytes::from_static(INFO_SERVER), OWN_REQUESTS).await {
            Ok(rx) => reply_text(rx, wait).await.and_then(|t| Server::from_info(&t)),
            Err(_) => None,
        };
        let commands = ask(node, COMMAND, wait).await.and_then(|r| commands(&r));
        match (server, commands) {
            (Some(server), Some(commands)) => described.push((server, commands)),
            _ => {
                warn!(node = %node.addr, "no COMMAND reply: the command table stays as it is");
                return false;
            }
        }
    }
    if described.is_empty() {
        return false;
    }
    // Lowest version first: where the primaries disagree, what the oldest supports.
    described.sort_by_key(|(s, _)| s.age());
    let source = describe(&described);
    let per_primary: Vec<Vec<LearnedCommand>> = described.into_iter().map(|(_, c)| c).collect();
    let table = CommandTable::learn(&per_primary, source);
    if table.source != store.load().source || table.added() != store.load().added() {
        info!(source = %table.source, added = table.added(), changed = table.changed(), "command table learned from the primaries");
        store.store(Arc::new(table));
    }
    true
}

/// Runs until aborted: learns the table again whenever the servers' version changes.
pub async fn watch(
    map: Arc<ClusterMap>,
    version: Arc<NodeVersion>,
    store: Arc<ArcSwap<CommandTable>>,
    live: LiveConfig,
) {
    let mut seen = version.server();
    let mut complete = true;
    loop {
        tokio::time::sleep(POLL).await;
        let now = version.server();
        if now != seen || !complete {
            seen = now;
            complete = learn(&map, &store, live.load().reply_timeout()).await;
            if !complete {
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
    }
}

/// `servers` in words, for `INFO` and the log: `valkey 8.1.8 x3`, or each version
/// of a mixed cluster (a rolling upgrade).
fn describe(servers: &[(Server, Vec<LearnedCommand>)]) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for (s, _) in servers {
        let name = format!("{} {}", s.name, s.version);
        match counts.iter_mut().find(|(n, _)| *n == name) {
            Some((_, c)) => *c += 1,
            None => counts.push((name, 1)),
        }
    }
    let list: Vec<String> = counts.iter().map(|(n, c)| format!("{n} x{c}")).collect();
    let mixed = if counts.len() > 1 { "mixed versions, what every primary supports: " } else { "" };
    format!("learned from the primaries ({mixed}{})", list.join(", "))
}

async fn ask(node: &crate::backend::pool::Node, request: &'static [u8], wait: Duration) -> Option<Bytes> {
    let rx = node.send(Bytes::from_static(request), OWN_REQUESTS).await.ok()?;
    tokio::time::timeout(wait, rx).await.ok()?.ok()?.ok()
}

fn commands(reply: &Bytes) -> Option<Vec<LearnedCommand>> {
    let (frame, _) = decode(reply).ok()??;
    parse_command_reply(&frame).ok()
}
