//! `SCAN` over the whole cluster: the primaries are walked one after the other, in
//! the order of their lowest slot, each with its own `SCAN`.
//!
//! The cursor slotway returns is one unsigned integer below 2^63 (clients that parse
//! it as a signed or unsigned 64-bit number keep working):
//!
//! ```text
//! bits 0-13   the lowest slot of the shard being scanned (names the shard)
//! bits 14-29  a tag of the topology when the scan got there (see `tag_of`)
//! bits 30-62  that node's own SCAN cursor
//! ```
//!
//! The guarantee is Redis's: every key present for the whole iteration is returned
//! at least once. If slot ownership changed since the cursor was made (a failover,
//! which gives a node with another hash table; or slots moving between nodes,
//! which could carry keys to a shard already walked), the tag no longer
//! matches and the iteration starts again from the first shard. That returns keys
//! again (allowed by SCAN's contract) but never misses one.

use bytes::{BufMut, Bytes, BytesMut};

use crate::cluster::topology::Topology;
use crate::error::CommandError;
use crate::protocol::{encode, request::Args};

const SLOT_BITS: u32 = 14;
const TAG_BITS: u32 = 16;
const NODE_SHIFT: u32 = SLOT_BITS + TAG_BITS;
/// Largest node cursor that fits: 33 bits (a table of 8 billion buckets) keeps the
/// whole cursor below 2^63.
const NODE_MAX: u64 = (1 << (63 - NODE_SHIFT)) - 1;

/// Where one step of a scan goes, and how to turn the node's reply into the client's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanStep {
    /// A slot of the shard to ask (its lowest).
    pub slot: u16,
    /// The `SCAN` request for that node, with the node's cursor and the client's options.
    pub request: Bytes,
    /// The shard after this one, if any.
    pub next_slot: Option<u16>,
    pub tag: u64,
}

/// 8 bits of this process's topology version (every ownership change moves it, so
/// within one slotway a change is always seen unless 256 happen during one scan)
/// and 8 bits of the ownership fingerprint (for cursors from another slotway).
fn tag_of(topology: &Topology) -> u64 {
    (topology.version & 0xff) << 8 | (topology.fingerprint & 0xff)
}

/// Plans the next step of `SCAN cursor [options]`.
pub fn plan(args: Args<'_>, topology: &Topology) -> Result<ScanStep, CommandError> {
    let cursor =
        std::str::from_utf8(args.get(1)).ok().and_then(|c| c.parse::<u64>().ok()).ok_or(CommandError::InvalidCursor)?;
    let tag = tag_of(topology);
    let order = &topology.scan_order;
    let first = *order.first().ok_or(CommandError::NoTopology)?;
    let (slot, node_cursor) = if cursor == 0 {
        (first, 0)
    } else {
        let slot = (cursor & ((1 << SLOT_BITS) - 1)) as u16;
        let cursor_tag = (cursor >> SLOT_BITS) & ((1 << TAG_BITS) - 1);
        if cursor_tag != tag || !order.contains(&slot) {
            (first, 0) // ownership changed: start again, so nothing is missed
        } else {
            (slot, cursor >> NODE_SHIFT)
        }
    };
    let next_slot = order.iter().position(|&s| s == slot).and_then(|i| order.get(i + 1)).copied();
    let node_cursor = node_cursor.to_string();
    let mut parts: Vec<&[u8]> = vec![args.get(0), node_cursor.as_bytes()];
    parts.extend(args.iter().skip(2));
    Ok(ScanStep { slot, request: encode::command(&parts), next_slot, tag })
}

/// The client's reply from the node's `[cursor, [keys...]]`.
pub fn reply(step: &ScanStep, node_reply: &[u8]) -> Bytes {
    let Some((node_cursor, keys)) = split_reply(node_reply) else {
        return CommandError::BadScanReply.to_reply();
    };
    let cursor = match (node_cursor, step.next_slot) {
        (0, None) => 0,
        (0, Some(next)) => next as u64 | step.tag << SLOT_BITS,
        (n, _) if n <= NODE_MAX => step.slot as u64 | step.tag << SLOT_BITS | n << NODE_SHIFT,
        _ => return CommandError::ScanCursorTooLarge.to_reply(),
    };
    let mut out = BytesMut::with_capacity(keys.len() + 32);
    out.put_slice(b"*2\r\n");
    encode::put_bulk(&mut out, cursor.to_string().as_bytes());
    out.put_slice(keys);
    out.freeze()
}

/// The node's cursor, and the raw bytes of its keys array.
fn split_reply(reply: &[u8]) -> Option<(u64, &[u8])> {
    let rest = reply.strip_prefix(b"*2\r\n$")?;
    let cr = rest.iter().position(|&b| b == b'\r')?;
    let len: usize = std::str::from_utf8(rest.get(..cr)?).ok()?.parse().ok()?;
    let body = rest.get(cr + 2..cr + 2 + len)?;
    let cursor = std::str::from_utf8(body).ok()?.parse().ok()?;
    Some((cursor, rest.get(cr + 2 + len + 2..)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_reply_is_split() {
        let (c, keys) = split_reply(b"*2\r\n$2\r\n17\r\n*1\r\n$1\r\na\r\n").unwrap();
        assert_eq!(c, 17);
        assert_eq!(keys, b"*1\r\n$1\r\na\r\n");
    }

    #[test]
    fn cursor_round_trip() {
        let step = ScanStep { slot: 5461, request: Bytes::new(), next_slot: Some(10923), tag: 0x2ab };
        let r = reply(&step, b"*2\r\n$3\r\n123\r\n*0\r\n");
        let (c, _) = split_reply(&r).unwrap();
        assert_eq!(c & 0x3fff, 5461);
        assert_eq!((c >> 14) & 0xffff, 0x2ab);
        assert_eq!(c >> 30, 123);
        assert!(c < 1 << 63);
        // Node finished: the cursor points at the next shard with node cursor 0.
        let r = reply(&step, b"*2\r\n$1\r\n0\r\n*0\r\n");
        assert_eq!(split_reply(&r).unwrap().0, 10923 | 0x2ab << 14);
        // Last shard finished: 0 ends the iteration.
        let last = ScanStep { next_slot: None, ..step };
        assert_eq!(split_reply(&reply(&last, b"*2\r\n$1\r\n0\r\n*0\r\n")).unwrap().0, 0);
    }
}
