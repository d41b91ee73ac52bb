//! RESP on the wire. Requests are framed by [`request::RequestParser`], which keeps
//! the exact bytes the client sent (they are forwarded unchanged) plus the byte
//! ranges of each argument; replies are framed by [`reply::ReplyScanner`], which only
//! finds where each reply ends. Structured decoding (topology, merges) uses the
//! `redis-protocol` crate; the hot path does not need it.
//!
//! Why a hand-written framer for requests: Redis answers malformed input with
//! specific `-ERR Protocol error: ...` texts and limits (64 KiB header lines,
//! `proto-max-bulk-len`), accepts inline commands, and slotway must not allocate a
//! frame tree per command. Its output is checked against `redis-protocol` by proptest.

pub mod encode;
pub mod glob;
pub mod reply;
pub mod request;

/// Longest inline command or header line Redis accepts (`PROTO_INLINE_MAX_SIZE`).
pub const INLINE_MAX: usize = 64 * 1024;

/// Redis's `string2ll`: strict decimal, optional `-`, no `+`, no leading zeros.
pub fn parse_int(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s {
        [] => return None,
        [b'-', digits @ ..] => (true, digits),
        _ => (false, s),
    };
    match digits {
        [] => return None,
        [b'0'] => return if neg { None } else { Some(0) },
        [b'0', ..] => return None,
        _ => {}
    }
    let mut v: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        let digit = (d - b'0') as i64;
        v = if neg { v.checked_mul(10)?.checked_sub(digit)? } else { v.checked_mul(10)?.checked_add(digit)? };
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::parse_int;

    #[test]
    fn strict_integers() {
        assert_eq!(parse_int(b"0"), Some(0));
        assert_eq!(parse_int(b"42"), Some(42));
        assert_eq!(parse_int(b"-1"), Some(-1));
        assert_eq!(parse_int(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_int(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [&b""[..], b"-", b"+1", b"01", b"-0", b"1a", b" 1", b"9223372036854775808"] {
            assert_eq!(parse_int(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
