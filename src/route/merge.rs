//! How the replies of a fanned-out command become the one reply a single Redis
//! would give: per the command table's [`Combine`] policy, or a merge built for the
//! request (`MGET`'s key positions, `SCAN`'s cursor, `CONFIG GET`'s nodes, ...).

use bytes::{BufMut, Bytes, BytesMut};

use crate::backend::request::ReplyResult;
use crate::command::combine::Combine;
use crate::error::CommandError;
use crate::protocol::encode;
use crate::protocol::reply::{ReplyScanner, bulk_body};
use crate::protocol::request::Args;

/// How the parts' replies become one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Merge {
    /// `MGET` split by slot: for each part, the client's position of each of its keys.
    Mget(Vec<Vec<usize>>),
    Combine(Combine),
    /// `CLUSTER SLOT-STATS`, in this order.
    SlotStats(SlotStatsOrder),
    /// `CONFIG GET` from these nodes (in part order).
    ConfigGet {
        addrs: Vec<String>,
        /// Parameters that are slotway's own (`requirepass`, ...): their values
        /// replace the nodes'.
        own: Vec<(&'static str, String)>,
    },
    /// `SLOWLOG GET`: at most this many entries (all when `None`).
    Slowlog(Option<usize>),
    /// One step of `SCAN`: the node's cursor becomes slotway's.
    Scan(super::scan::ScanStep),
    /// `PUBLISH`: the node's count of receivers plus this (`Hub::publish_adjustment`).
    Publish(i64),
    /// `PUBSUB NUMSUB` / `SHARDNUMSUB`: the nodes' counts added up per argument, plus
    /// these (`Hub::numsub_adjustment`, one per channel argument).
    NumSub(Vec<i64>),
}

/// The reply to give the client once every part has answered (in part order).
pub fn merge(merge: &Merge, parts: Vec<ReplyResult>) -> Bytes {
    if *merge == Merge::Combine(Combine::Killed) {
        return killed(parts);
    }
    let mut replies = Vec::with_capacity(parts.len());
    for part in parts {
        match part {
            Err(e) => return e.to_reply(),
            // A part's error is the command's error: a partial failure is never hidden.
            Ok(reply) if reply.first() == Some(&b'-') => return reply,
            Ok(reply) => replies.push(reply),
        }
    }
    let merged = match merge {
        Merge::Combine(combine) => combined(*combine, &replies),
        Merge::NumSub(adjust) => Some(pair_sum(&replies, adjust)),
        Merge::ConfigGet { addrs, own } => Some(config_get(&replies, addrs, own)),
        Merge::Slowlog(count) => newest_first(&replies, *count),
        Merge::Publish(adjust) => replies.first().and_then(|r| integer(r)).map(|n| encode::integer(n + adjust)),
        Merge::Scan(step) => replies.first().map(|reply| super::scan::reply(step, reply)),
        Merge::Mget(positions) => mget(&replies, positions),
        Merge::SlotStats(order) => slot_stats(&replies, order),
    };
    merged.unwrap_or_else(|| unexpected(&replies))
}

/// The merges that need only the replies; `None` when a reply is not of the shape
/// the policy expects.
fn combined(combine: Combine, replies: &[Bytes]) -> Option<Bytes> {
    match combine {
        Combine::AllOk => replies.iter().all(|r| &r[..] == encode::OK).then(|| Bytes::from_static(encode::OK)),
        Combine::Sum => replies.iter().map(|r| integer(r)).sum::<Option<i64>>().map(encode::integer),
        Combine::Same => match replies.split_first() {
            Some((first, rest)) if rest.iter().all(|r| r == first) => Some(first.clone()),
            Some(_) => Some(CommandError::NodesDisagree.to_reply()),
            None => None,
        },
        Combine::FirstNonNil => Some(
            replies
                .iter()
                .find(|r| &r[..] != encode::NIL && &r[..] != b"_\r\n")
                .or(replies.first())
                .cloned()
                .unwrap_or_else(|| Bytes::from_static(encode::NIL)),
        ),
        Combine::Concat => concat(replies, false),
        Combine::ConcatUnique => concat(replies, true),
        Combine::PairSum => Some(pair_sum(replies, &[])),
        Combine::AnyOfArrays => any_of_arrays(replies),
        // Built as their own merges (`Merge::ConfigGet`, `Merge::Slowlog`), or
        // merged from errors too (`killed`).
        Combine::ConfigGet | Combine::NewestFirst | Combine::Killed | Combine::SlotStats => None,
    }
}

/// `SCRIPT KILL` / `FUNCTION KILL` from every primary, as one server answers: `OK`
/// when one killed a script; else a node's `UNKILLABLE` (the script wrote); else
/// `NOTBUSY` (none was running), or the first failure.
fn killed(parts: Vec<ReplyResult>) -> Bytes {
    let replies: Vec<Bytes> = parts.into_iter().map(|p| p.unwrap_or_else(|e| e.to_reply())).collect();
    let find = |prefix: &[u8]| replies.iter().find(|r| r.starts_with(prefix)).cloned();
    find(encode::OK)
        .or_else(|| find(b"-UNKILLABLE"))
        .or_else(|| find(b"-NOTBUSY"))
        .or_else(|| replies.first().cloned())
        .unwrap_or_else(|| CommandError::NoTopology.to_reply())
}

/// How `CLUSTER SLOT-STATS` orders its entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotStatsOrder {
    /// `SLOTSRANGE start end`: by slot.
    BySlot,
    /// `ORDERBY metric [LIMIT n] [ASC|DESC]`: by the metric (descending unless
    /// `ASC`), ties by slot, at most `limit`.
    By { metric: String, ascending: bool, limit: usize },
}

impl SlotStatsOrder {
    /// From the request; what the nodes refuse (a bad metric or limit) they answer.
    pub fn of(args: Args<'_>) -> SlotStatsOrder {
        if !args.get(2).eq_ignore_ascii_case(b"orderby") {
            return SlotStatsOrder::BySlot;
        }
        let metric = String::from_utf8_lossy(args.get(3)).to_ascii_lowercase();
        let (mut limit, mut ascending, mut i) = (16384, false, 4);
        while i < args.len() {
            if args.get(i).eq_ignore_ascii_case(b"limit") {
                limit = crate::protocol::parse_int(args.get(i + 1)).map_or(16384, |n| n.max(0) as usize);
                i += 2;
            } else {
                ascending = args.get(i).eq_ignore_ascii_case(b"asc");
                i += 1;
            }
        }
        SlotStatsOrder::By { metric, ascending, limit }
    }
}

/// Every primary's `[slot, {metric: value, ...}]` entries, as one node owning
/// every slot lists them.
fn slot_stats(replies: &[Bytes], order: &SlotStatsOrder) -> Option<Bytes> {
    let mut entries: Vec<(i64, i64, &[u8])> = Vec::new();
    for reply in replies {
        for entry in elements(reply)? {
            let fields = elements(entry)?;
            let slot = integer(fields.first()?)?;
            let value = match order {
                SlotStatsOrder::By { metric, .. } => fields.get(1).and_then(|s| stat(s, metric)).unwrap_or(0),
                SlotStatsOrder::BySlot => 0,
            };
            entries.push((slot, value, entry));
        }
    }
    match order {
        SlotStatsOrder::BySlot => entries.sort_by_key(|e| e.0),
        SlotStatsOrder::By { ascending, limit, .. } => {
            entries.sort_by(|a, b| if *ascending { a.1.cmp(&b.1) } else { b.1.cmp(&a.1) }.then(a.0.cmp(&b.0)));
            entries.truncate(*limit);
        }
    }
    Some(array(&entries.iter().map(|e| e.2).collect::<Vec<_>>()))
}

/// The value of `name` in a slot's statistics (a flat array, or a RESP3 map).
fn stat(stats: &[u8], name: &str) -> Option<i64> {
    let items = elements(stats).or_else(|| map_elements(stats))?;
    let pair = items.chunks(2).find(|p| p.first().and_then(|n| bulk_body(n)) == Some(name.as_bytes()))?;
    integer(pair.get(1)?)
}

/// Arrays joined (`KEYS`), without repeats when `unique` (`PUBSUB CHANNELS`).
fn concat(replies: &[Bytes], unique: bool) -> Option<Bytes> {
    let mut all: Vec<&[u8]> = Vec::new();
    for r in replies {
        for x in elements(r)? {
            if !unique || !all.contains(&x) {
                all.push(x);
            }
        }
    }
    Some(array(&all))
}

/// Arrays of 0/1 of one length, combined element-wise with OR (`SCRIPT EXISTS`).
fn any_of_arrays(replies: &[Bytes]) -> Option<Bytes> {
    let lists = replies.iter().map(|r| elements(r)).collect::<Option<Vec<_>>>()?;
    let len = lists.first().map_or(0, Vec::len);
    if lists.iter().any(|l| l.len() != len) {
        return None;
    }
    let mut out = BytesMut::new();
    encode::put_array_header(&mut out, len);
    for i in 0..len {
        let any = lists.iter().any(|l| l.get(i).and_then(|e| integer(e)) == Some(1));
        out.put_slice(if any { b":1\r\n" } else { b":0\r\n" });
    }
    Some(out.freeze())
}

/// `SLOWLOG GET`: every node's entries, newest (timestamp, then id) first, at most
/// `count` of them (all when `None`).
fn newest_first(replies: &[Bytes], count: Option<usize>) -> Option<Bytes> {
    let mut entries: Vec<(i64, i64, &[u8])> = Vec::new();
    for r in replies {
        for entry in elements(r)? {
            let fields = elements(entry).unwrap_or_default();
            let num = |i: usize| fields.get(i).and_then(|f| integer(f)).unwrap_or(0);
            entries.push((num(1), num(0), entry));
        }
    }
    entries.sort_by(|a, b| b.cmp(a));
    let keep = count.unwrap_or(entries.len()).min(entries.len());
    Some(array(&entries.iter().take(keep).map(|e| e.2).collect::<Vec<_>>()))
}

/// `MGET` split by slot: each part's values put back at their keys' positions.
fn mget(replies: &[Bytes], positions: &[Vec<usize>]) -> Option<Bytes> {
    let total = positions.iter().map(Vec::len).sum();
    let mut slots: Vec<&[u8]> = vec![&[][..]; total];
    for (reply, pos) in replies.iter().zip(positions) {
        let values = elements(reply).filter(|e| e.len() == pos.len())?;
        for (value, &p) in values.into_iter().zip(pos) {
            // Positions are 0..total by construction (`split`).
            *slots.get_mut(p)? = value;
        }
    }
    Some(array(&slots))
}

/// A parameter name and each node's value for it (value, node address).
type ParamValues<'a> = (&'a [u8], Vec<(&'a [u8], &'a str)>);

/// Merges `CONFIG GET` replies (flat arrays or RESP3 maps of name, value).
fn config_get(replies: &[Bytes], addrs: &[String], own: &[(&'static str, String)]) -> Bytes {
    let mut params: Vec<ParamValues<'_>> = Vec::new();
    for (reply, addr) in replies.iter().zip(addrs) {
        let Some(items) = elements(reply).or_else(|| map_elements(reply)) else { return unexpected(replies) };
        for pair in items.chunks(2) {
            let Some((&name, value)) = pair.split_first() else { continue }; // chunks are never empty
            let value = value.first().copied().unwrap_or(b"$0\r\n\r\n");
            match params.iter_mut().find(|(n, _)| *n == name) {
                Some((_, values)) => values.push((value, addr)),
                None => params.push((name, vec![(value, addr)])),
            }
        }
    }
    let resp3 = replies.first().is_some_and(|r| r.first() == Some(&b'%'));
    let mut out = BytesMut::new();
    if resp3 {
        out.put_slice(format!("%{}\r\n", params.len()).as_bytes());
    } else {
        encode::put_array_header(&mut out, params.len() * 2);
    }
    for (name, values) in params {
        out.put_slice(name);
        let body = bulk_body(name).unwrap_or(name);
        if let Some((_, value)) = own.iter().find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(body)) {
            encode::put_bulk(&mut out, value.as_bytes());
            continue;
        }
        // Each name is pushed with a value, so `first` is always there.
        let first = values.first().map_or(&b"$0\r\n\r\n"[..], |&(v, _)| v);
        if values.iter().all(|(v, _)| *v == first) {
            out.put_slice(first);
        } else {
            // The nodes disagree: say so, naming each node's value.
            let text: Vec<String> = values
                .iter()
                .map(|(v, addr)| format!("{} ({addr})", String::from_utf8_lossy(bulk_body(v).unwrap_or(v))))
                .collect();
            encode::put_bulk(&mut out, text.join("; ").as_bytes());
        }
    }
    out.freeze()
}

/// The raw keys and values of a top-level RESP3 map, in order.
fn map_elements(reply: &[u8]) -> Option<Vec<&[u8]>> {
    let rest = reply.strip_prefix(b"%")?;
    let cr = rest.iter().position(|&b| b == b'\r')?;
    let n = crate::protocol::parse_int(rest.get(..cr)?)?;
    let mut body = rest.get(cr + 2..)?;
    let mut out = Vec::new();
    for _ in 0..2 * n.max(0) {
        let len = ReplyScanner::default().next_len(body).ok()??;
        let (item, tail) = body.split_at_checked(len)?;
        out.push(item);
        body = tail;
    }
    Some(out)
}

fn unexpected(replies: &[Bytes]) -> Bytes {
    tracing::warn!(?replies, "cannot merge the nodes' replies");
    CommandError::MergeFailed.to_reply()
}

/// `:n\r\n` as a number.
fn integer(reply: &[u8]) -> Option<i64> {
    let body = reply.strip_prefix(b":")?.strip_suffix(b"\r\n")?;
    crate::protocol::parse_int(body)
}

/// The raw elements of a top-level array reply (RESP2 `*` or RESP3 `~`).
fn elements(reply: &[u8]) -> Option<Vec<&[u8]>> {
    if !matches!(reply.first(), Some(b'*' | b'~')) {
        return None;
    }
    let cr = reply.iter().position(|&b| b == b'\r')?;
    let n = crate::protocol::parse_int(reply.get(1..cr)?)?;
    let mut rest = reply.get(cr + 2..)?;
    let mut out = Vec::with_capacity(n.max(0) as usize);
    for _ in 0..n.max(0) {
        let len = ReplyScanner::default().next_len(rest).ok()??;
        let (item, tail) = rest.split_at_checked(len)?;
        out.push(item);
        rest = tail;
    }
    Some(out)
}

fn array(items: &[&[u8]]) -> Bytes {
    let mut out = BytesMut::with_capacity(16 + items.iter().map(|i| i.len()).sum::<usize>());
    encode::put_array_header(&mut out, items.len());
    for i in items {
        out.put_slice(i);
    }
    out.freeze()
}

/// `[name, count, ...]` arrays from every node, in argument order: each pair's
/// counts added up (by position, so a name asked twice is answered twice, as Redis
/// does), plus `adjust[i]` for the i-th pair.
fn pair_sum(replies: &[Bytes], adjust: &[i64]) -> Bytes {
    let mut pairs: Vec<(&[u8], i64)> = Vec::new();
    for r in replies {
        let Some(e) = elements(r) else { return unexpected(replies) };
        for (i, pair) in e.chunks(2).enumerate() {
            let Some((&name, n)) = pair.split_first() else { continue }; // chunks are never empty
            let n = n.first().and_then(|n| integer(n)).unwrap_or(0);
            match pairs.get_mut(i) {
                Some(entry) if entry.0 == name => entry.1 += n,
                Some(_) => return unexpected(replies),
                None => pairs.push((name, n)),
            }
        }
    }
    let mut out = BytesMut::new();
    encode::put_array_header(&mut out, pairs.len() * 2);
    for (i, (name, n)) in pairs.into_iter().enumerate() {
        out.put_slice(name);
        out.put_slice(&encode::integer(n + adjust.get(i).copied().unwrap_or(0)));
    }
    out.freeze()
}
