//! Commands that touch several nodes: multi-key commands split by slot (`MGET`,
//! `MSET`, `DEL`, ...) and keyless commands sent to every primary (`DBSIZE`, `KEYS`,
//! `SCRIPT LOAD`, ...). Each part is an ordinary request; when all parts have
//! answered, their replies are merged into the one reply a single Redis would give.

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use tokio::sync::oneshot;

use super::dispatch::{Outgoing, Router, Target};
use crate::backend::pool::Node;
use crate::backend::request::{ClientTag, ReplyResult};
use crate::cluster::slot::hash_slot;
use crate::cluster::topology::Topology;
use crate::command::combine::Combine;
use crate::error::error_reply;
use crate::protocol::encode;
use crate::protocol::reply::{ReplyScanner, bulk_body};
use crate::protocol::request::Args;

/// How the parts' replies become one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Merge {
    /// `MGET` split by slot: for each part, the client's position of each of its keys.
    Mget(Vec<Vec<usize>>),
    Combine(Combine),
    /// `CONFIG GET` from these nodes (in part order).
    ConfigGet(Vec<String>),
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

/// One part of a fanned-out command: its reply, or the wait for it.
pub enum Part {
    Done(ReplyResult),
    Waiting(oneshot::Receiver<ReplyResult>),
}

impl Part {
    fn of(sent: Result<oneshot::Receiver<ReplyResult>, crate::error::CommandError>) -> Part {
        match sent {
            Ok(rx) => Part::Waiting(rx),
            Err(e) => Part::Done(Err(e)),
        }
    }
}

/// Sends each `(slot, request)` part to its slot's primary in `view`.
pub async fn send_split(router: &Router, view: &Topology, parts: Vec<(u16, Bytes)>, client: ClientTag) -> Vec<Part> {
    let mut sent = Vec::with_capacity(parts.len());
    for (slot, bytes) in parts {
        let target = Target::Primary { slot: Some(slot), view };
        sent.push(Part::of(router.send(target, Outgoing::one(bytes, Some(slot), client)).await));
    }
    sent
}

/// Sends `request` to each of `nodes`, in order.
pub async fn send_each(router: &Router, nodes: &[Arc<Node>], request: &Bytes, client: ClientTag) -> Vec<Part> {
    let mut sent = Vec::with_capacity(nodes.len());
    for node in nodes {
        sent.push(Part::of(router.send(Target::Node(node), Outgoing::one(request.clone(), None, client)).await));
    }
    sent
}

/// The nodes' addresses, in the order their replies come.
pub fn addrs(nodes: &[Arc<Node>]) -> Vec<String> {
    nodes.iter().map(|n| n.addr.to_string()).collect()
}

/// A multi-key command split into one request per slot.
#[derive(Debug)]
pub struct Split {
    pub parts: Vec<(u16, Bytes)>,
    pub merge: Merge,
}

/// Splits `MGET`/`DEL`/`UNLINK`/`EXISTS`/`TOUCH` (keys from argument 1) and `MSET`
/// (key/value pairs) by slot; keys of one slot travel together, in the client's order.
pub fn split(name: &'static str, args: Args<'_>) -> Split {
    let step = if name == "mset" { 2 } else { 1 };
    let mut keys: Vec<(u16, usize)> = (1..args.len()).step_by(step).map(|i| (hash_slot(args.get(i)), i)).collect();
    keys.sort_by_key(|&(slot, _)| slot); // stable: the client's order within a slot
    let command = args.get(0);
    let mut parts = Vec::new();
    let mut positions = Vec::new();
    for group in keys.chunk_by(|a, b| a.0 == b.0) {
        let Some(&(slot, _)) = group.first() else { continue }; // `chunk_by` yields no empty group
        let mut part: Vec<&[u8]> = vec![command];
        for &(_, i) in group {
            part.push(args.get(i));
            if step == 2 {
                part.push(args.get(i + 1));
            }
        }
        positions.push(group.iter().map(|&(_, i)| (i - 1) / step).collect());
        parts.push((slot, encode::command(&part)));
    }
    let merge = match name {
        "mget" => Merge::Mget(positions),
        "mset" => Merge::Combine(Combine::AllOk),
        _ => Merge::Combine(Combine::Sum),
    };
    Split { parts, merge }
}

/// The reply to give the client once every part has answered (in part order).
pub fn merge(merge: &Merge, parts: Vec<ReplyResult>) -> Bytes {
    let mut replies = Vec::with_capacity(parts.len());
    for part in parts {
        match part {
            Err(e) => return e.to_reply(),
            // A part's error is the command's error: a partial failure is never hidden.
            Ok(reply) if reply.first() == Some(&b'-') => return reply,
            Ok(reply) => replies.push(reply),
        }
    }
    match merge {
        Merge::Combine(Combine::AllOk) => {
            if replies.iter().all(|r| &r[..] == encode::OK) {
                Bytes::from_static(encode::OK)
            } else {
                unexpected(&replies)
            }
        }
        Merge::Combine(Combine::Sum) => {
            let mut sum = 0i64;
            for r in &replies {
                match integer(r) {
                    Some(n) => sum += n,
                    None => return unexpected(&replies),
                }
            }
            encode::integer(sum)
        }
        Merge::Combine(Combine::Same) => match replies.split_first() {
            Some((first, rest)) if rest.iter().all(|r| r == first) => first.clone(),
            Some(_) => error_reply("ERR the cluster's nodes gave different replies"),
            None => unexpected(&replies),
        },
        Merge::Combine(Combine::FirstNonNil) => replies
            .iter()
            .find(|r| &r[..] != encode::NIL && &r[..] != b"_\r\n")
            .or(replies.first())
            .cloned()
            .unwrap_or_else(|| Bytes::from_static(encode::NIL)),
        Merge::Combine(Combine::Concat) => {
            let mut all = Vec::new();
            for r in &replies {
                match elements(r) {
                    Some(e) => all.extend(e),
                    None => return unexpected(&replies),
                }
            }
            array(&all)
        }
        Merge::Combine(Combine::ConcatUnique) => {
            let mut all: Vec<&[u8]> = Vec::new();
            for r in &replies {
                match elements(r) {
                    Some(e) => e.into_iter().for_each(|x| {
                        if !all.contains(&x) {
                            all.push(x)
                        }
                    }),
                    None => return unexpected(&replies),
                }
            }
            array(&all)
        }
        Merge::Combine(Combine::PairSum) => pair_sum(&replies, &[]),
        Merge::NumSub(adjust) => pair_sum(&replies, adjust),
        Merge::Combine(Combine::AnyOfArrays) => {
            let mut lists = Vec::new();
            for r in &replies {
                match elements(r) {
                    Some(e) => lists.push(e),
                    None => return unexpected(&replies),
                }
            }
            let len = lists.first().map_or(0, Vec::len);
            if lists.iter().any(|l| l.len() != len) {
                return unexpected(&replies);
            }
            let mut out = BytesMut::new();
            encode::put_array_header(&mut out, len);
            for i in 0..len {
                let any = lists.iter().any(|l| l.get(i).and_then(|e| integer(e)) == Some(1));
                out.put_slice(if any { b":1\r\n" } else { b":0\r\n" });
            }
            out.freeze()
        }
        Merge::ConfigGet(addrs) => config_get(&replies, addrs),
        Merge::Slowlog(count) => {
            let mut entries: Vec<(i64, i64, &[u8])> = Vec::new();
            for r in &replies {
                let Some(list) = elements(r) else { return unexpected(&replies) };
                for entry in list {
                    let fields = elements(entry).unwrap_or_default();
                    let num = |i: usize| fields.get(i).and_then(|f| integer(f)).unwrap_or(0);
                    entries.push((num(1), num(0), entry));
                }
            }
            entries.sort_by(|a, b| b.cmp(a)); // newest (timestamp, then id) first
            let keep = count.unwrap_or(entries.len()).min(entries.len());
            array(&entries.iter().take(keep).map(|e| e.2).collect::<Vec<_>>())
        }
        Merge::Combine(Combine::ConfigGet | Combine::NewestFirst) => unexpected(&replies),
        Merge::Publish(adjust) => match replies.first().and_then(|r| integer(r)) {
            Some(n) => encode::integer(n + adjust),
            None => unexpected(&replies),
        },
        Merge::Scan(step) => match replies.first() {
            Some(reply) => super::scan::reply(step, reply),
            None => unexpected(&replies),
        },
        Merge::Mget(positions) => {
            let total = positions.iter().map(Vec::len).sum();
            let mut slots: Vec<&[u8]> = vec![&[][..]; total];
            for (reply, pos) in replies.iter().zip(positions) {
                match elements(reply) {
                    Some(e) if e.len() == pos.len() => {
                        for (value, &p) in e.into_iter().zip(pos) {
                            // Positions are 0..total by construction (`split`).
                            let Some(slot) = slots.get_mut(p) else { return unexpected(&replies) };
                            *slot = value;
                        }
                    }
                    _ => return unexpected(&replies),
                }
            }
            array(&slots)
        }
    }
}

/// A parameter name and each node's value for it (value, node address).
type ParamValues<'a> = (&'a [u8], Vec<(&'a [u8], &'a str)>);

/// Merges `CONFIG GET` replies (flat arrays or RESP3 maps of name, value).
fn config_get(replies: &[Bytes], addrs: &[String]) -> Bytes {
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
    error_reply("ERR slotway could not merge the nodes' replies")
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::request::RequestParser;

    fn split_words(words: &[&str]) -> Split {
        let raw = encode::command(&words.iter().map(|w| w.as_bytes()).collect::<Vec<_>>());
        let mut p = RequestParser::new(1 << 20);
        let mut buf = BytesMut::from(&raw[..]);
        let raw = p.next(&mut buf).unwrap().unwrap();
        let name: &'static str = Box::leak(words[0].to_lowercase().into_boxed_str());
        split(name, Args::new(&raw, p.args()))
    }

    #[test]
    fn mget_groups_by_slot_and_restores_order() {
        let s = split_words(&["MGET", "a", "{a}x", "b", "{b}y"]);
        assert_eq!(s.parts.len(), 2);
        let part_a = s.parts.iter().find(|(slot, _)| *slot == hash_slot(b"a")).unwrap();
        assert_eq!(&part_a.1[..], &encode::command(&[b"MGET", b"a", b"{a}x"])[..]);
        let replies: Vec<ReplyResult> = s
            .parts
            .iter()
            .map(|(slot, _)| {
                Ok(if *slot == hash_slot(b"a") {
                    Bytes::from_static(b"*2\r\n$2\r\nva\r\n$-1\r\n")
                } else {
                    Bytes::from_static(b"*2\r\n$2\r\nvb\r\n$3\r\nvby\r\n")
                })
            })
            .collect();
        assert_eq!(&merge(&s.merge, replies)[..], b"*4\r\n$2\r\nva\r\n$-1\r\n$2\r\nvb\r\n$3\r\nvby\r\n");
    }

    #[test]
    fn mset_keeps_pairs() {
        let s = split_words(&["MSET", "a", "1", "b", "2", "{a}c", "3"]);
        let part_a = s.parts.iter().find(|(slot, _)| *slot == hash_slot(b"a")).unwrap();
        assert_eq!(&part_a.1[..], &encode::command(&[b"MSET", b"a", b"1", b"{a}c", b"3"])[..]);
        assert_eq!(s.merge, Merge::Combine(Combine::AllOk));
    }

    #[test]
    fn merges() {
        let ok = || Ok(Bytes::from_static(b"+OK\r\n"));
        assert_eq!(&merge(&Merge::Combine(Combine::AllOk), vec![ok(), ok()])[..], b"+OK\r\n");
        let err = Ok(Bytes::from_static(b"-OOM no\r\n"));
        assert_eq!(&merge(&Merge::Combine(Combine::AllOk), vec![ok(), err])[..], b"-OOM no\r\n");
        let n = |v: &'static [u8]| Ok(Bytes::from_static(v));
        assert_eq!(&merge(&Merge::Combine(Combine::Sum), vec![n(b":2\r\n"), n(b":3\r\n")])[..], b":5\r\n");
        assert_eq!(
            &merge(
                &Merge::Combine(Combine::Concat),
                vec![n(b"*1\r\n$1\r\na\r\n"), n(b"*0\r\n"), n(b"*1\r\n$1\r\nb\r\n")]
            )[..],
            b"*2\r\n$1\r\na\r\n$1\r\nb\r\n"
        );
        assert_eq!(
            &merge(
                &Merge::Combine(Combine::AnyOfArrays),
                vec![n(b"*3\r\n:1\r\n:0\r\n:0\r\n"), n(b"*3\r\n:1\r\n:1\r\n:0\r\n")]
            )[..],
            b"*3\r\n:1\r\n:1\r\n:0\r\n"
        );
        assert_eq!(
            &merge(&Merge::Combine(Combine::FirstNonNil), vec![n(b"$-1\r\n"), n(b"$1\r\nk\r\n")])[..],
            b"$1\r\nk\r\n"
        );
    }
}
