//! Replies as the exact bytes a server sent, RESP2 or RESP3, and a typed view of
//! them that keeps every distinction the bytes make (`$-1` vs `*-1` vs `_`, a map vs
//! an array, a double vs a bulk string). Independent of slotway's own framing.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::resp::encode;

/// One RESP2 or RESP3 reply, typed as sent.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    /// RESP2 `$-1`.
    NilBulk,
    /// RESP2 `*-1`.
    NilArray,
    /// RESP3 `_`.
    Null,
    /// RESP3 `,` as written (Redis's own formatting is part of the reply).
    Double(String),
    Bool(bool),
    BigNumber(String),
    /// RESP3 `=`: the format (`txt`) and the text.
    Verbatim(String, Vec<u8>),
    Array(Vec<Reply>),
    Set(Vec<Reply>),
    Map(Vec<(Reply, Reply)>),
    Push(Vec<Reply>),
    /// RESP3 `|`: the attributes, then the value they annotate.
    Attribute(Vec<(Reply, Reply)>, Box<Reply>),
}

/// The complete reply at the front of `buf` and its length in bytes, or `None`
/// while it is not all there. Panics on bytes that are not RESP.
pub fn decode(buf: &[u8]) -> Option<(Reply, usize)> {
    let mut pos = 0;
    let reply = decode_at(buf, &mut pos)?;
    Some((reply, pos))
}

/// Length of the complete RESP2/RESP3 reply at the front of `buf`, if it is all there.
pub fn frame_len(buf: &[u8]) -> Option<usize> {
    decode(buf).map(|(_, n)| n)
}

fn decode_at(buf: &[u8], pos: &mut usize) -> Option<Reply> {
    let kind = *buf.get(*pos)?;
    let cr = *pos + 1 + buf.get(*pos + 1..)?.windows(2).position(|w| w == b"\r\n")?;
    let line = std::str::from_utf8(&buf[*pos + 1..cr]).expect("header line is text").to_string();
    *pos = cr + 2;
    let num = |what: &str| -> i64 { line.parse().unwrap_or_else(|_| panic!("{what} {line:?}")) };
    let many = |n: i64, pos: &mut usize| -> Option<Vec<Reply>> { (0..n).map(|_| decode_at(buf, pos)).collect() };
    let pairs = |n: i64, pos: &mut usize| -> Option<Vec<(Reply, Reply)>> {
        (0..n).map(|_| Some((decode_at(buf, pos)?, decode_at(buf, pos)?))).collect()
    };
    Some(match kind {
        b'+' => Reply::Simple(line),
        b'-' => Reply::Error(line),
        b':' => Reply::Int(num("integer")),
        b'_' => Reply::Null,
        b',' => Reply::Double(line),
        b'#' => Reply::Bool(line == "t"),
        b'(' => Reply::BigNumber(line),
        b'$' | b'!' | b'=' => {
            let n = num("bulk length");
            if n < 0 {
                return Some(Reply::NilBulk);
            }
            let body = buf.get(*pos..*pos + n as usize)?.to_vec();
            if buf.len() < *pos + n as usize + 2 {
                return None;
            }
            *pos += n as usize + 2;
            match kind {
                b'$' => Reply::Bulk(body),
                b'!' => Reply::Error(String::from_utf8_lossy(&body).into_owned()),
                _ => Reply::Verbatim(String::from_utf8_lossy(&body[..3]).into_owned(), body[4..].to_vec()),
            }
        }
        b'*' if num("array length") < 0 => Reply::NilArray,
        b'*' => Reply::Array(many(num("array length"), pos)?),
        b'~' => Reply::Set(many(num("set length"), pos)?),
        b'>' => Reply::Push(many(num("push length"), pos)?),
        b'%' => Reply::Map(pairs(num("map length"), pos)?),
        b'|' => {
            let attrs = pairs(num("attribute length"), pos)?;
            Reply::Attribute(attrs, Box::new(decode_at(buf, pos)?))
        }
        other => panic!("not a RESP type byte: {:?} in {:?}", other as char, String::from_utf8_lossy(buf)),
    })
}

/// A connection that returns each reply as the exact bytes received.
pub struct RawBytesConn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl RawBytesConn {
    pub fn connect(addr: &str) -> Self {
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream.set_nodelay(true).unwrap();
        RawBytesConn { stream, buf: Vec::new() }
    }

    /// The next whole reply's bytes.
    pub fn reply(&mut self) -> Vec<u8> {
        self.try_reply().expect("read reply")
    }

    /// Like [`reply`](Self::reply), with the error (a timeout, the connection closed).
    pub fn try_reply(&mut self) -> std::io::Result<Vec<u8>> {
        loop {
            if let Some(n) = frame_len(&self.buf) {
                return Ok(self.buf.drain(..n).collect());
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                let partial = String::from_utf8_lossy(&self.buf);
                return Err(std::io::Error::other(format!("connection closed mid-reply: {partial:?}")));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    pub fn cmd(&mut self, args: &[&str]) -> Vec<u8> {
        self.cmd_bytes(args)
    }

    /// For binary-safe arguments: anything byte-like.
    pub fn cmd_bytes<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Vec<u8> {
        self.stream.write_all(&encode(args)).expect("write");
        self.reply()
    }

    /// Writes every command at once (one pipeline), then reads their replies.
    pub fn pipeline<A: AsRef<[u8]>>(&mut self, cmds: &[Vec<A>]) -> Vec<Vec<u8>> {
        self.send(cmds);
        cmds.iter().map(|_| self.reply()).collect()
    }

    /// Writes every command at once, reading nothing: [`reply`](Self::reply) for each.
    pub fn send<A: AsRef<[u8]>>(&mut self, cmds: &[Vec<A>]) {
        let wire: Vec<u8> = cmds.iter().flat_map(|c| encode(c)).collect();
        self.send_raw(&wire);
    }

    /// Writes `bytes` as they are (an inline request, a broken one ...).
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }
}
