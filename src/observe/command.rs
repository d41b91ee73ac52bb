//! `SLOTWAY ...`: slotway's own introspection commands, answered from the
//! [`Observer`](super::Observer).
//!
//! - `SLOTWAY SLOWLOG GET [count] | LEN | RESET`: slotway's slow log, in Redis's
//!   `SLOWLOG` formats.
//! - `SLOTWAY HOTKEYS [count]`: the most requested keys with their estimated
//!   request counts, hottest first, as `[key, count]` pairs.
//! - `SLOTWAY HELP`.

use bytes::Bytes;

use super::Observer;
use super::slowlog::encode_entries;
use crate::error::CommandError;
use crate::protocol::encode::{self, OK};
use crate::protocol::{parse_int, request::Args};

/// Entries `SLOTWAY SLOWLOG GET` returns when not told, as Redis's `SLOWLOG GET`.
const DEFAULT_SLOWLOG_COUNT: usize = 10;
/// Keys `SLOTWAY HOTKEYS` returns when not told.
const DEFAULT_HOTKEYS_COUNT: usize = 10;

const HELP: &[&str] = &[
    "SLOTWAY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "SLOWLOG GET [<count>]",
    "    Entries of slotway's own slow log, newest first (default 10, -1 for all): commands slower",
    "    end to end through slotway than slowlog-log-slower-than microseconds.",
    "SLOWLOG LEN",
    "    Entries in slotway's slow log.",
    "SLOWLOG RESET",
    "    Empties slotway's slow log.",
    "HOTKEYS [<count>]",
    "    The most requested keys (default 10), hottest first, each with its estimated request count",
    "    (sampled: one command in hotkeys-sample-rate; counts halve as samples accumulate).",
    "HELP",
    "    Prints this help.",
];

/// `SLOTWAY SLOWLOG ...` (arguments from `SLOWLOG` on).
pub fn slowlog(args: Args<'_>, observer: &Observer) -> Bytes {
    let op = args.get(2);
    let log = &observer.slowlog;
    if op.eq_ignore_ascii_case(b"get") && args.len() <= 4 {
        let count = if args.len() == 4 {
            match parse_int(args.get(3)) {
                Some(-1) => None,
                Some(n) if n >= 0 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
                _ => return CommandError::SlowlogCount.to_reply(),
            }
        } else {
            Some(DEFAULT_SLOWLOG_COUNT)
        };
        encode_entries(&log.newest(count))
    } else if op.eq_ignore_ascii_case(b"len") && args.len() == 3 {
        encode::integer(i64::try_from(log.len()).unwrap_or(i64::MAX))
    } else if op.eq_ignore_ascii_case(b"reset") && args.len() == 3 {
        log.reset();
        Bytes::from_static(OK)
    } else if [&b"get"[..], b"len", b"reset"].iter().any(|o| op.eq_ignore_ascii_case(o)) {
        CommandError::WrongArity(format!("slotway|slowlog|{}", String::from_utf8_lossy(op).to_lowercase())).to_reply()
    } else {
        let sub = String::from_utf8_lossy(op.get(..128).unwrap_or(op));
        CommandError::UnknownSubcommand { cmd: "SLOTWAY".into(), sub: format!("slowlog {sub}") }.to_reply()
    }
}

/// `SLOTWAY HOTKEYS [count]`.
pub fn hotkeys(args: Args<'_>, observer: &Observer) -> Bytes {
    let count = match args.len() {
        2 => DEFAULT_HOTKEYS_COUNT,
        3 => match parse_int(args.get(2)) {
            Some(n) if n > 0 => usize::try_from(n).unwrap_or(usize::MAX),
            _ => return CommandError::HotkeysCount.to_reply(),
        },
        _ => return CommandError::WrongArity("slotway|hotkeys".into()).to_reply(),
    };
    let top = observer.hotkeys.top(count);
    let mut out = bytes::BytesMut::new();
    encode::put_array_header(&mut out, top.len());
    for (key, requests) in top {
        encode::put_array_header(&mut out, 2);
        encode::put_bulk(&mut out, &key);
        out.extend_from_slice(&encode::integer(i64::try_from(requests).unwrap_or(i64::MAX)));
    }
    out.freeze()
}

/// `SLOTWAY HELP`, as Redis's `... HELP` replies: an array of status lines.
pub fn help() -> Bytes {
    let mut out = bytes::BytesMut::new();
    encode::put_array_header(&mut out, HELP.len());
    for line in HELP {
        out.extend_from_slice(&encode::simple(line));
    }
    out.freeze()
}
