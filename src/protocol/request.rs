//! Request framing: RESP multibulk and inline commands, parsed the way redis-server
//! parses them (`processMultibulkBuffer` / `processInlineBuffer`), with its limits
//! and its error texts.
//!
//! The parser is resumable: a request that arrives in pieces is not re-scanned from
//! its start on every read, so a huge pipelined command costs linear time.

use std::ops::Range;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::{INLINE_MAX, parse_int};
use crate::error::ProtocolError;

/// Frames requests out of a client's read buffer.
#[derive(Debug)]
pub struct RequestParser {
    max_bulk_len: usize,
    /// Bytes of the current (incomplete) multibulk request already parsed.
    pos: usize,
    /// Arguments still to come in the current multibulk request (0 = between requests).
    remaining: usize,
    /// Length of the bulk string whose header was read but whose body has not arrived.
    bulk_len: Option<usize>,
    /// Byte ranges of the arguments, relative to the start of the request.
    args: Vec<Range<usize>>,
}

/// The arguments of one request, borrowed from its bytes.
#[derive(Debug, Clone, Copy)]
pub struct Args<'a> {
    raw: &'a [u8],
    ranges: &'a [Range<usize>],
}

impl<'a> Args<'a> {
    pub fn new(raw: &'a [u8], ranges: &'a [Range<usize>]) -> Self {
        Args { raw, ranges }
    }

    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Argument `i` (0 is the command name); empty if out of range.
    pub fn get(&self, i: usize) -> &'a [u8] {
        self.ranges.get(i).and_then(|r| self.raw.get(r.clone())).unwrap_or_default()
    }

    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        // Ranges come from the parser that framed `raw`, so `get` always finds them.
        self.ranges.iter().map(|r| self.raw.get(r.clone()).unwrap_or_default())
    }
}

impl RequestParser {
    pub fn new(max_bulk_len: usize) -> Self {
        RequestParser { max_bulk_len, pos: 0, remaining: 0, bulk_len: None, args: Vec::new() }
    }

    /// Arguments of the request last returned by [`RequestParser::next`], as ranges of its bytes.
    pub fn args(&self) -> &[Range<usize>] {
        &self.args
    }

    /// Takes the next complete request off the front of `buf`.
    /// `Ok(None)`: more bytes are needed. Empty requests (`*0`, blank lines) are skipped,
    /// as Redis skips them.
    pub fn next(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, ProtocolError> {
        loop {
            if self.remaining == 0 {
                let Some(&first) = buf.first() else { return Ok(None) };
                if first != b'*' {
                    match self.inline(buf)? {
                        Some(Some(raw)) => return Ok(Some(raw)),
                        Some(None) => continue, // blank line
                        None => return Ok(None),
                    }
                }
                let Some(nl) = header_line(buf, 0, ProtocolError::TooBigMbulkCount)? else {
                    return Ok(None);
                };
                let count = buf.get(1..nl).and_then(parse_int).filter(|&n| n <= i32::MAX as i64);
                let count = count.ok_or(ProtocolError::InvalidMultibulkLength)?;
                if count <= 0 {
                    buf.advance(nl + 2);
                    continue;
                }
                self.args.clear();
                self.args.reserve((count as usize).min(1024));
                self.remaining = count as usize;
                self.pos = nl + 2;
            }
            while self.remaining > 0 {
                let len = match self.bulk_len {
                    Some(len) => len,
                    None => {
                        let Some(nl) = header_line(buf, self.pos, ProtocolError::TooBigBulkCount)? else {
                            return Ok(None);
                        };
                        let digits = match buf.get(self.pos..nl) {
                            Some([b'$', digits @ ..]) => digits,
                            Some([other, ..]) => return Err(ProtocolError::ExpectedDollar(*other)),
                            // An empty line: its first byte is the `\r` at `nl`.
                            _ => return Err(ProtocolError::ExpectedDollar(b'\r')),
                        };
                        let len = parse_int(digits)
                            .filter(|&n| n >= 0 && n as u64 <= self.max_bulk_len as u64)
                            .ok_or(ProtocolError::InvalidBulkLength)? as usize;
                        self.pos = nl + 2;
                        self.bulk_len = Some(len);
                        len
                    }
                };
                if buf.len() < self.pos + len + 2 {
                    // Grow toward the whole body at once, but only by what the client has
                    // proven it sends: a header alone does not reserve 512 MB.
                    buf.reserve((self.pos + len + 2 - buf.len()).min(INLINE_MAX));
                    return Ok(None);
                }
                self.args.push(self.pos..self.pos + len);
                // Like Redis, the two bytes after a bulk body are skipped, not checked:
                // the node parses the forwarded bytes the same way.
                self.pos += len + 2;
                self.bulk_len = None;
                self.remaining -= 1;
            }
            let raw = buf.split_to(self.pos).freeze();
            self.pos = 0;
            return Ok(Some(raw));
        }
    }

    /// An inline command: one line split like `sdssplitargs`, re-encoded as multibulk
    /// (nodes then see exactly the arguments slotway routed on).
    /// `Some(None)` is a blank line (skipped), `None` an incomplete line.
    fn inline(&mut self, buf: &mut BytesMut) -> Result<Option<Option<Bytes>>, ProtocolError> {
        // `strchr`, as Redis: a NUL byte before the newline means "no line yet", so
        // `PING\0\r\n` waits (then fails past 64 KiB) instead of running `PING`.
        let Some(nl) = strchr(buf, b'\n') else {
            if buf.len() > INLINE_MAX {
                return Err(ProtocolError::TooBigInline);
            }
            return Ok(None);
        };
        let line = buf.get(..nl).unwrap_or_default();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let words = split_args(line).ok_or(ProtocolError::UnbalancedQuotes)?;
        buf.advance(nl + 1);
        if words.is_empty() {
            return Ok(Some(None));
        }
        let mut raw = BytesMut::with_capacity(16 + words.iter().map(|w| w.len() + 16).sum::<usize>());
        raw.put_slice(format!("*{}\r\n", words.len()).as_bytes());
        self.args.clear();
        for w in &words {
            raw.put_slice(format!("${}\r\n", w.len()).as_bytes());
            self.args.push(raw.len()..raw.len() + w.len());
            raw.put_slice(w);
            raw.put_slice(b"\r\n");
        }
        Ok(Some(Some(raw.freeze())))
    }
}

/// Index of the `\r` ending the header line that starts at `from`, once the byte after
/// it has arrived too (Redis needs both before it parses the line). As in Redis, the
/// 64 KiB limit (`too_big`) applies only while no `\r` has been found: a `\r` that is
/// the last byte so far just waits for one more byte.
fn header_line(buf: &[u8], from: usize, too_big: ProtocolError) -> Result<Option<usize>, ProtocolError> {
    // `from` is never past the end (it is where the parser stopped in this buffer);
    // if it were, nothing there has arrived yet.
    let Some(rest) = buf.get(from..) else { return Ok(None) };
    match strchr(rest, b'\r') {
        None if rest.len() > INLINE_MAX => Err(too_big),
        None => Ok(None),
        Some(cr) => Ok((from + cr + 1 < buf.len()).then_some(from + cr)),
    }
}

/// C's `strchr` on Redis's NUL-terminated query buffer: the search stops at the first
/// NUL byte. Redis finds header lines and inline lines this way, so a NUL before the
/// line end hides it for good (the request then only ever ends by the 64 KiB error).
fn strchr(haystack: &[u8], needle: u8) -> Option<usize> {
    let i = haystack.iter().position(|&b| b == needle || b == 0)?;
    (haystack.get(i) == Some(&needle)).then_some(i)
}

fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == needle)
}

/// `sdssplitargs` from Redis: whitespace-separated words, with "double quotes"
/// (and `\n \r \t \b \a \\ \xHH` escapes) and 'single quotes' (only `\'`).
/// `None` for unbalanced quotes or a closing quote not followed by a space.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    // Redis splits a C string: a NUL byte ends the line.
    let line = memchr(0, line).and_then(|nul| line.get(..nul)).unwrap_or(line);
    let mut words = Vec::new();
    let mut i = 0;
    loop {
        while line.get(i).is_some_and(|&b| is_space(b)) {
            i += 1;
        }
        if i >= line.len() {
            return Some(words);
        }
        let mut word = Vec::new();
        let (mut in_dq, mut in_sq) = (false, false);
        loop {
            // The rest of the line from `i`: `[]` once it is used up.
            let rest = line.get(i..).unwrap_or_default();
            // A closing quote must end the word: followed by a space or the line end.
            let closes_word = |rest: &[u8]| rest.get(1).is_none_or(|&b| is_space(b));
            if in_dq {
                match rest {
                    [] => return None,
                    [b'\\', b'x', hi, lo, ..] if hi.is_ascii_hexdigit() && lo.is_ascii_hexdigit() => {
                        word.push(hex(*hi) * 16 + hex(*lo));
                        i += 3;
                    }
                    [b'\\', escaped, ..] => {
                        i += 1;
                        word.push(match escaped {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 8,
                            b'a' => 7,
                            &other => other,
                        });
                    }
                    [b'"', ..] => {
                        if !closes_word(rest) {
                            return None;
                        }
                        i += 1;
                        break;
                    }
                    [other, ..] => word.push(*other),
                }
            } else if in_sq {
                match rest {
                    [] => return None,
                    [b'\\', b'\'', ..] => {
                        i += 1;
                        word.push(b'\'');
                    }
                    [b'\'', ..] => {
                        if !closes_word(rest) {
                            return None;
                        }
                        i += 1;
                        break;
                    }
                    [other, ..] => word.push(*other),
                }
            } else {
                match rest {
                    [] | [b' ' | b'\n' | b'\r' | b'\t', ..] => break,
                    [b'"', ..] => in_dq = true,
                    [b'\'', ..] => in_sq = true,
                    [other, ..] => word.push(*other),
                }
            }
            i += 1;
        }
        words.push(word);
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn hex(c: u8) -> u8 {
    (c as char).to_digit(16).unwrap_or(0) as u8
}

#[cfg(test)]
mod tests;
