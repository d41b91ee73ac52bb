//! Reply framing: finds where each complete reply ends in a node's byte stream,
//! without building it. RESP2 and RESP3 types are understood. The scan resumes where
//! it stopped, so a large reply arriving in many reads is scanned once.

use super::parse_int;

/// The node sent bytes that are not RESP; the connection cannot be trusted any more.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("node sent an invalid reply at byte {0}")]
pub struct BadReply(pub usize);

#[derive(Debug, Default)]
pub struct ReplyScanner {
    /// Bytes of the current reply already scanned.
    pos: usize,
    /// Values still needed to complete the current reply (0 = at a reply boundary).
    pending: usize,
}

impl ReplyScanner {
    /// Length of the complete reply at the front of `buf`, or `None` if it has not
    /// fully arrived. After `Some(n)` the caller removes `n` bytes from `buf`.
    pub fn next_len(&mut self, buf: &[u8]) -> Result<Option<usize>, BadReply> {
        if self.pending == 0 {
            self.pos = 0;
            self.pending = 1;
        }
        while self.pending > 0 {
            let start = self.pos;
            let Some(&kind) = buf.get(start) else { return Ok(None) };
            let Some(cr) = find_crlf(buf, start + 1) else { return Ok(None) };
            let after = cr + 2;
            match kind {
                b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => {
                    self.pos = after;
                    self.pending -= 1;
                }
                b'$' | b'!' | b'=' => {
                    let n = buf.get(start + 1..cr).and_then(parse_int).ok_or(BadReply(start))?;
                    if n < 0 {
                        if kind != b'$' || n != -1 {
                            return Err(BadReply(start));
                        }
                        self.pos = after;
                    } else {
                        // Checked: a length near i64::MAX from a broken node must be an
                        // error, not a wrapped sum that frames a fragment as a reply.
                        let end = usize::try_from(n)
                            .ok()
                            .and_then(|n| after.checked_add(n)?.checked_add(2))
                            .ok_or(BadReply(start))?;
                        if buf.len() < end {
                            return Ok(None);
                        }
                        self.pos = end;
                    }
                    self.pending -= 1;
                }
                b'*' | b'~' | b'>' | b'%' | b'|' => {
                    let n = buf.get(start + 1..cr).and_then(parse_int).ok_or(BadReply(start))?;
                    self.pos = after;
                    if n < 0 {
                        if kind != b'*' || n != -1 {
                            return Err(BadReply(start));
                        }
                        self.pending -= 1;
                        continue;
                    }
                    let items = usize::try_from(n)
                        .ok()
                        .and_then(|n| if matches!(kind, b'%' | b'|') { n.checked_mul(2) } else { Some(n) });
                    // An attribute (`|`) annotates the value after it: that value is still pending.
                    self.pending = items
                        .and_then(|items| (self.pending - usize::from(kind != b'|')).checked_add(items))
                        .ok_or(BadReply(start))?;
                }
                _ => return Err(BadReply(start)),
            }
        }
        Ok(Some(self.pos))
    }
}

/// Index of the `\r` of the first `\r\n` at or after `from`.
fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    loop {
        let rest = buf.get(i..)?;
        let off = rest.iter().position(|&b| b == b'\r')?;
        match rest.get(off + 1)? {
            b'\n' => return Some(i + off),
            _ => i += off + 1,
        }
    }
}

/// What a reply asks slotway to do instead of passing it on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redirect {
    /// The slot lives at `addr` now: update the map and resend there.
    Moved { slot: u16, addr: String },
    /// The key is being imported by `addr`: send `ASKING` and the command there, once.
    Ask { slot: u16, addr: String },
    /// A multi-key command hit a slot in migration: retry after a short pause.
    TryAgain,
}

impl Redirect {
    /// Reads `-MOVED 3999 127.0.0.1:6381`, `-ASK ...` or `-TRYAGAIN ...` replies.
    pub fn parse(reply: &[u8]) -> Option<Redirect> {
        if reply.first() != Some(&b'-') {
            return None;
        }
        let line = reply.get(1..reply.len().checked_sub(2)?)?;
        if line.starts_with(b"TRYAGAIN") {
            return Some(Redirect::TryAgain);
        }
        let (is_moved, rest) = if let Some(rest) = line.strip_prefix(b"MOVED ") {
            (true, rest)
        } else {
            (false, line.strip_prefix(b"ASK ")?)
        };
        let rest = std::str::from_utf8(rest).ok()?;
        let (slot, addr) = rest.split_once(' ')?;
        let slot: u16 = slot.parse().ok()?;
        let addr = addr.trim().to_string();
        // Redis 7 may send `:port` when it does not know its own address: the
        // node that replied is at that host, which the caller fills in.
        Some(if is_moved { Redirect::Moved { slot, addr } } else { Redirect::Ask { slot, addr } })
    }
}

/// The body of a bulk string reply (RESP3 verbatim strings lose their format prefix).
pub fn bulk_body(reply: &[u8]) -> Option<&[u8]> {
    let cr = reply.iter().position(|&b| b == b'\r')?;
    let body = reply.get(cr + 2..reply.len().checked_sub(2)?)?;
    match reply.first()? {
        b'$' => Some(body),
        b'=' => body.get(4..),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_all(buf: &[u8]) -> Vec<usize> {
        let mut s = ReplyScanner::default();
        let mut out = vec![];
        let mut off = 0;
        while let Some(n) = s.next_len(&buf[off..]).unwrap() {
            out.push(n);
            off += n;
        }
        out
    }

    #[test]
    fn frames_resp2_and_resp3() {
        let buf = b"+OK\r\n-ERR x\r\n:12\r\n$3\r\nfoo\r\n$-1\r\n*2\r\n$1\r\na\r\n*-1\r\n*0\r\n_\r\n%1\r\n+a\r\n:1\r\n>2\r\n+m\r\n+n\r\n|1\r\n+k\r\n+v\r\n:5\r\n";
        assert_eq!(scan_all(buf), vec![5, 8, 5, 9, 5, 16, 4, 3, 12, 12, 16]);
    }

    #[test]
    fn resumes_across_reads() {
        let full = b"*3\r\n$3\r\nfoo\r\n:1\r\n*1\r\n+x\r\n";
        for split in 0..full.len() {
            let mut s = ReplyScanner::default();
            assert_eq!(s.next_len(&full[..split]).unwrap(), None, "split {split}");
            assert_eq!(s.next_len(full).unwrap(), Some(full.len()));
        }
    }

    #[test]
    fn huge_counts_are_errors_not_overflows() {
        assert!(ReplyScanner::default().next_len(b"%9223372036854775807\r\n*3\r\n").is_err());
    }

    #[test]
    fn bad_type_is_an_error() {
        assert!(ReplyScanner::default().next_len(b"?x\r\n").is_err());
        assert!(ReplyScanner::default().next_len(b"$-2\r\n").is_err());
    }

    #[test]
    fn redirects() {
        assert_eq!(
            Redirect::parse(b"-MOVED 3999 127.0.0.1:6381\r\n"),
            Some(Redirect::Moved { slot: 3999, addr: "127.0.0.1:6381".into() })
        );
        assert_eq!(
            Redirect::parse(b"-ASK 1 10.0.0.1:7000\r\n"),
            Some(Redirect::Ask { slot: 1, addr: "10.0.0.1:7000".into() })
        );
        assert_eq!(
            Redirect::parse(b"-TRYAGAIN Multiple keys request during rehashing of slot\r\n"),
            Some(Redirect::TryAgain)
        );
        assert_eq!(Redirect::parse(b"-ERR MOVED\r\n"), None);
        assert_eq!(Redirect::parse(b"+MOVED 1 a:1\r\n"), None);
    }
}
