//! Commands that touch several nodes: multi-key commands split by slot (`MGET`,
//! `MSET`, `DEL`, ...) and keyless commands sent to every primary (`DBSIZE`, `KEYS`,
//! `SCRIPT LOAD`, ...). Each part is an ordinary request; when all parts have
//! answered, their replies are merged into the one reply a single Redis would give.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::oneshot;

use super::dispatch::{Outgoing, Router, Target};
pub use super::merge::{Merge, merge};
use crate::backend::pool::Node;
use crate::backend::request::{ClientTag, ReplyResult};
use crate::cluster::slot::hash_slot;
use crate::cluster::topology::Topology;
use crate::command::combine::Combine;
use crate::protocol::encode;
use crate::protocol::request::Args;

/// One part of a fanned-out command: its reply, or the wait for it.
pub enum Part {
    Done(ReplyResult),
    Waiting(oneshot::Receiver<ReplyResult>),
}

impl Part {
    /// The part for a request that was sent (its reply to wait for) or not (why).
    pub fn of(sent: Result<oneshot::Receiver<ReplyResult>, crate::error::CommandError>) -> Part {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::request::RequestParser;
    use bytes::BytesMut;

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
