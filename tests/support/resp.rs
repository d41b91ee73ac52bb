//! A deliberately small, blocking RESP2 client. Tests need to see replies exactly as
//! sent (errors included), so this parses frames itself instead of using a client
//! library that would interpret redirects or errors.

use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// One RESP2 reply. RESP2 has a single null; both `$-1` and `*-1` become `Nil`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    Nil,
    Array(Vec<Value>),
}

impl Value {
    pub fn ok() -> Value {
        Value::Simple("OK".into())
    }

    pub fn bulk(s: &str) -> Value {
        Value::Bulk(s.as_bytes().to_vec())
    }

    /// The text of a simple string, bulk string or error, for `contains`-style asserts.
    pub fn text(&self) -> Option<String> {
        match self {
            Value::Simple(s) | Value::Error(s) => Some(s.clone()),
            Value::Bulk(b) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        }
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Value::Error(_))
    }
}

/// A byte stream a [`RawConn`] runs over: TCP, or TLS over TCP (see `tls`).
pub trait Wire: Read + Write + Send {}
impl<T: Read + Write + Send> Wire for T {}

pub struct RawConn {
    /// Writes go to the stream inside (`get_mut`): a TLS stream cannot be cloned.
    reader: BufReader<Box<dyn Wire>>,
    local: std::net::SocketAddr,
}

/// Connect to `addr` ("host:port"). Panics on failure: every caller is a test.
pub fn connect(addr: &str) -> RawConn {
    try_connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"))
}

/// Like [`connect`] but returns the error, for servers that may be down.
pub fn try_connect(addr: &str) -> io::Result<RawConn> {
    let stream = TcpStream::connect(addr)?;
    // A hung server must fail the test, not hang the suite.
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_nodelay(true)?;
    let local = stream.local_addr()?;
    Ok(RawConn::over(Box::new(stream), local))
}

/// Encode a command as a RESP multibulk, the form clients send. Takes arguments of
/// any byte-like type: `&[&str]`, `&[&[u8]]`, `&[Vec<u8>]` (a [`Cmd`](super::Cmd)) ...
pub fn encode<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        let a = a.as_ref();
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

impl RawConn {
    /// A connection over an already connected (and, for TLS, configured) stream;
    /// `local` is its TCP socket's own address.
    pub fn over(stream: Box<dyn Wire>, local: std::net::SocketAddr) -> RawConn {
        RawConn { reader: BufReader::new(stream), local }
    }

    /// This end's address, as the server sees the client.
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.local
    }

    /// Write raw bytes, e.g. several commands at once to test pipelining.
    pub fn send(&mut self, bytes: &[u8]) {
        self.try_send(bytes).expect("write to server");
    }

    /// Like [`send`](Self::send) but returns the I/O error, for servers that may be
    /// going away.
    pub fn try_send(&mut self, bytes: &[u8]) -> io::Result<()> {
        let stream = self.reader.get_mut();
        stream.write_all(bytes)?;
        stream.flush()
    }

    /// Read one whole reply; panics on timeout, EOF or a malformed frame.
    pub fn read_reply(&mut self) -> Value {
        self.try_read_reply().expect("read reply")
    }

    /// Like [`read_reply`](Self::read_reply) but returns the I/O error, for tests
    /// that expect the server to close the connection.
    pub fn try_read_reply(&mut self) -> io::Result<Value> {
        parse_reply(&mut self.reader)
    }

    pub fn cmd(&mut self, args: &[&str]) -> Value {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.cmd_bytes(&args)
    }

    /// For binary-safe arguments.
    pub fn cmd_bytes(&mut self, args: &[&[u8]]) -> Value {
        self.send(&encode(args));
        self.read_reply()
    }
}

/// Asserts the next read on `conn` finds the connection closed cleanly (EOF), not a
/// reply, a reset or a timeout.
pub fn expect_eof(conn: &mut RawConn, what: &str) {
    match conn.try_read_reply() {
        Err(e) if e.kind() == ErrorKind::UnexpectedEof => {}
        Err(e) => panic!("{what}: expected EOF, got error {e} ({:?})", e.kind()),
        Ok(v) => panic!("{what}: expected EOF, got another reply {v:?}"),
    }
}

/// Sends `bytes` on a new connection to `addr`; expects one error reply and then EOF.
/// Returns the error text (without the leading `-`).
pub fn expect_error_then_eof(addr: &str, bytes: &[u8], what: &str) -> String {
    let mut conn = connect(addr);
    conn.send(bytes);
    let reply = conn.try_read_reply().unwrap_or_else(|e| panic!("{what} on {addr}: no reply: {e}"));
    let Value::Error(text) = reply else { panic!("{what} on {addr}: expected an error, got {reply:?}") };
    expect_eof(&mut conn, &format!("{what} on {addr}"));
    text
}

/// Parse one complete RESP2 reply from `r`, recursing into arrays.
pub fn parse_reply(r: &mut impl BufRead) -> io::Result<Value> {
    let line = read_line(r)?;
    let (kind, rest) = line.split_first().ok_or_else(|| bad("empty line"))?;
    let text = || String::from_utf8_lossy(rest).into_owned();
    let int = || text().parse::<i64>().map_err(|_| bad(&format!("bad integer {:?}", text())));
    Ok(match kind {
        b'+' => Value::Simple(text()),
        b'-' => Value::Error(text()),
        b':' => Value::Int(int()?),
        b'$' => match int()? {
            -1 => Value::Nil,
            n if n < 0 => return Err(bad("negative bulk length")),
            n => {
                let mut buf = vec![0; n as usize + 2];
                r.read_exact(&mut buf)?;
                if !buf.ends_with(b"\r\n") {
                    return Err(bad("bulk string not terminated by CRLF"));
                }
                buf.truncate(n as usize);
                Value::Bulk(buf)
            }
        },
        b'*' => match int()? {
            -1 => Value::Nil,
            n if n < 0 => return Err(bad("negative array length")),
            n => (0..n).map(|_| parse_reply(r)).collect::<io::Result<_>>().map(Value::Array)?,
        },
        other => {
            return Err(bad(&format!("unexpected RESP type byte {:?}", *other as char)));
        }
    })
}

/// A line without its CRLF; EOF before a full line is an error.
fn read_line(r: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line)?;
    if !line.ends_with(b"\r\n") {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed mid-reply"));
    }
    line.truncate(line.len() - 2);
    Ok(line)
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}
