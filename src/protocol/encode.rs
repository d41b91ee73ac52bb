//! Building the few replies slotway answers itself (local commands, errors).

use bytes::{BufMut, Bytes, BytesMut};

pub const OK: &[u8] = b"+OK\r\n";
pub const PONG: &[u8] = b"+PONG\r\n";
pub const NIL: &[u8] = b"$-1\r\n";

pub fn simple(s: &str) -> Bytes {
    Bytes::from(format!("+{s}\r\n"))
}

pub fn integer(n: i64) -> Bytes {
    Bytes::from(format!(":{n}\r\n"))
}

pub fn bulk(data: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(data.len() + 16);
    put_bulk(&mut out, data);
    out.freeze()
}

/// A RESP3 verbatim string of format `txt`.
pub fn verbatim(text: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(text.len() + 20);
    out.put_slice(format!("={}\r\ntxt:", text.len() + 4).as_bytes());
    out.put_slice(text);
    out.put_slice(b"\r\n");
    out.freeze()
}

pub fn put_bulk(out: &mut BytesMut, data: &[u8]) {
    out.put_slice(format!("${}\r\n", data.len()).as_bytes());
    out.put_slice(data);
    out.put_slice(b"\r\n");
}

pub fn put_array_header(out: &mut BytesMut, len: usize) {
    out.put_slice(format!("*{len}\r\n").as_bytes());
}

/// A request as a client would send it: a multibulk of the given arguments.
pub fn command(args: &[&[u8]]) -> Bytes {
    let mut out = BytesMut::new();
    put_array_header(&mut out, args.len());
    for a in args {
        put_bulk(&mut out, a);
    }
    out.freeze()
}
