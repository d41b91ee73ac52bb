//! `docs/commands.md`, rendered from the routing table so it cannot drift: a unit
//! test fails when the file differs from what the table says
//! (`SLOTWAY_BLESS=1 cargo test --lib command::docs` writes it anew).

use std::fmt::Write as _;

use super::table::{self, CommandSpec, Local, Movable, Route, flag};
use crate::command::combine::Combine;

/// How slotway serves `spec`, in a few words.
pub fn behaviour(spec: &CommandSpec) -> String {
    let blocking = spec.is(flag::BLOCKING);
    match spec.route {
        Route::Keys if blocking => "routed by key, on a connection lent to the client while it blocks".into(),
        Route::Keys => "routed by key to the slot's primary".into(),
        Route::Splittable => "routed by key; keys in several slots are split per slot and the replies merged".into(),
        Route::Movable(rule) => {
            let how = match rule {
                Movable::NumkeysAt1 | Movable::NumkeysAt2 | Movable::DestThenNumkeys | Movable::TimeoutThenNumkeys => {
                    "numkeys"
                }
                Movable::Streams => "the STREAMS list",
                Movable::Sort | Movable::SortRo | Movable::GeoStore => "key and STORE destination",
                Movable::Migrate => "key or KEYS list",
            };
            let extra = if blocking { ", on a lent connection when it blocks" } else { "" };
            format!("routed by key (found from {how}); all keys must share a slot{extra}")
        }
        Route::Specs(_) => "routed by key, found by the server's key specs; all keys must share a slot".into(),
        Route::Container => "see its subcommands".into(),
        Route::AnyPrimary => "sent to one primary (any gives the same answer)".into(),
        Route::Publish => {
            "sent to one primary (the cluster passes it on); each slotway subscriber counted as a receiver".into()
        }
        Route::Broadcast { combine, replicas } => {
            let whom = if replicas { "every node (primaries and replicas)" } else { "every primary" };
            let how = match combine {
                Combine::AllOk => "+OK when all succeed",
                Combine::Sum => "counts added",
                Combine::Concat => "arrays joined",
                Combine::ConcatUnique => "arrays joined without repeats",
                Combine::PairSum => "counts added per channel; slotway's subscribers counted one by one",
                Combine::Same => "the common reply",
                Combine::AnyOfArrays => "1 where any node says 1",
                Combine::FirstNonNil => "the first non-nil reply",
                Combine::SlotStats => "each primary's slots, merged in slot or metric order as one node's",
                Combine::Killed => {
                    "OK if a node killed a script, on connections of its own (a busy node reads no more of the shared ones)"
                }
                Combine::ConfigGet => "each value, or every node's value where they disagree",
                Combine::NewestFirst => "entries merged, newest first",
            };
            format!("sent to {whom}; {how}")
        }
        Route::Scan => "walks every primary in turn with one cursor".into(),
        Route::DebugObject => "DEBUG OBJECT routed by key; other subcommands refused".into(),
        Route::SlotArgument => "sent to the primary of the slot given".into(),
        Route::Local(local) => match local {
            Local::Info => "slotway's own sections plus the keyspace summed over primaries".into(),
            Local::Multi | Local::Exec | Local::Discard => "transaction on one slot, sent as one block".into(),
            Local::Watch => "on a connection lent to the client until EXEC/DISCARD/UNWATCH".into(),
            Local::Subscribe | Local::PSubscribe | Local::SSubscribe => "shared subscriptions on the nodes".into(),
            Local::ClusterInfo
            | Local::ClusterSlots
            | Local::ClusterShards
            | Local::ClusterNodes
            | Local::ClusterMyId
            | Local::ClusterReplicas => "answered by slotway: a one-node cluster at its address".into(),
            Local::SlotwaySlowlog => "answered by slotway: its own slow log (time end to end through slotway)".into(),
            Local::SlotwayHotkeys => "answered by slotway: the most requested keys, estimated from a sample".into(),
            Local::Role => "answered by slotway: a primary without replicas, as in CLUSTER NODES".into(),
            _ => "answered by slotway".into(),
        },
        Route::Refused(why) => format!("refused: {why}"),
    }
}

/// How the table is learned, between the built-in table and the newer servers'.
const LEARNED: &str = "\n## Newer servers: the table learned from the cluster\n\n\
At start, and whenever the servers' version changes, slotway asks every primary for \
`COMMAND` and builds the table it routes by (`INFO slotway` says which: \
`command_table`). A command counts only if every primary has it (a rolling upgrade \
gets what the oldest supports). Where a server describes a built-in command \
differently (arity, flags, key positions) the server wins; a command the built-in \
table lacks is routed by the server's description: by its key positions, or for \
movable keys by its key specs (`begin_search`/`find_keys`, as Redis's \
`getKeysUsingKeySpecs`); a keyless one by its `request_policy`/`response_policy` \
tips, else (Redis's documented default for keyless commands) to any primary, except \
administrative commands and new `CLIENT` subcommands (they act on a connection, and \
slotway's node connections are shared), which are refused. A movable-keys command \
without a key spec slotway can follow is refused.\n\n\
The tables below are rendered from `COMMAND` replies recorded from real servers \
(`tests/fixtures/command/`): the commands each adds to Redis 7.0's or describes \
differently, and what slotway does with them.\n";

/// The whole `docs/commands.md`: the built-in table, then what each server of
/// `newer` (a name and its recorded `COMMAND` reply) adds or changes.
pub fn render(newer: &[(&str, Vec<u8>)]) -> String {
    let mut out = String::from(
        "# Redis commands through slotway\n\n\
         Generated from the routing table (`src/command/table.rs`) by \
         `SLOTWAY_BLESS=1 cargo test --lib command::docs`; a test fails when it is out of date.\n\n\
         ## Redis 7.0 (the built-in table)\n\n\
         | command | behaviour |\n|---|---|\n",
    );
    for spec in table::all() {
        let _ = writeln!(out, "| `{}` | {} |", spec.name.replace('|', " "), behaviour(spec));
    }
    out.push_str(LEARNED);
    for (server, reply) in newer {
        let _ = write!(out, "\n### {server}\n\n| command | needs | behaviour |\n|---|---|---|\n");
        for (spec, new) in learned_rows(reply) {
            let needs = if new { server } else { "(changed)" };
            let _ = writeln!(out, "| `{}` | {needs} | {} |", spec.name.replace('|', " "), behaviour(spec));
        }
    }
    out
}

/// The commands a recorded `COMMAND` reply adds (`true`) or describes differently
/// (`false`), by name, as the learned table routes them.
pub fn learned_rows(reply: &[u8]) -> Vec<(&'static CommandSpec, bool)> {
    let Ok(Some((frame, _))) = redis_protocol::resp2::decode::decode(reply) else { return Vec::new() };
    let Ok(learned) = super::learned::parse_command_reply(&frame) else { return Vec::new() };
    let table = super::commands::CommandTable::learn(std::slice::from_ref(&learned), String::new());
    let mut rows: Vec<_> = learned
        .iter()
        .filter_map(|c| {
            let spec = table.lookup(c.name.as_bytes())?;
            match table::lookup(c.name.as_bytes()) {
                None => Some((spec, true)),
                Some(builtin) if !std::ptr::eq(builtin, spec) => Some((spec, false)),
                Some(_) => None,
            }
        })
        .collect();
    rows.sort_by_key(|(spec, _)| spec.name);
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `COMMAND` replies recorded from real servers.
    fn recorded() -> Vec<(&'static str, Vec<u8>)> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/command/");
        [("Redis 8.0.2", "redis-8.0.2.resp"), ("Valkey 8.1.8", "valkey-8.1.8.resp")]
            .into_iter()
            .map(|(name, file)| (name, std::fs::read(format!("{dir}{file}")).expect("recorded COMMAND reply")))
            .collect()
    }

    #[test]
    fn every_keyed_command_of_a_newer_server_is_routed() {
        // What the cluster accepts with keys, slotway routes: nothing keyed is refused.
        for (server, reply) in recorded() {
            let rows = learned_rows(&reply);
            assert!(rows.len() > 10, "{server}: {} rows", rows.len());
            for (spec, _) in rows {
                let keyed = spec.first_key > 0 || matches!(spec.route, Route::Specs(_));
                assert!(!(keyed && matches!(spec.route, Route::Refused(_))), "{server}: {} is refused", spec.name);
            }
        }
    }

    #[test]
    fn commands_md_matches_the_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/commands.md");
        let want = render(&recorded());
        if std::env::var_os("SLOTWAY_BLESS").is_some() {
            std::fs::write(path, &want).expect("write docs/commands.md");
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(have == want, "docs/commands.md is out of date: run SLOTWAY_BLESS=1 cargo test --lib command::docs");
    }
}
