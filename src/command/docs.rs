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

/// The whole `docs/commands.md`.
pub fn render() -> String {
    let mut out = String::from(
        "# Redis 7.0 commands through slotway\n\n\
         Generated from the routing table (`src/command/table.rs`) by \
         `SLOTWAY_BLESS=1 cargo test --lib command::docs`; a test fails when it is out of date.\n\n\
         | command | behaviour |\n|---|---|\n",
    );
    for spec in table::all() {
        let _ = writeln!(out, "| `{}` | {} |", spec.name.replace('|', " "), behaviour(spec));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_md_matches_the_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/commands.md");
        let want = render();
        if std::env::var_os("SLOTWAY_BLESS").is_some() {
            std::fs::write(path, &want).expect("write docs/commands.md");
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(have == want, "docs/commands.md is out of date: run SLOTWAY_BLESS=1 cargo test --lib command::docs");
    }
}
