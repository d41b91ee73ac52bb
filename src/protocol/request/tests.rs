//! The request framer against redis-server 7.0's `processMultibulkBuffer`,
//! `processInlineBuffer` (networking.c) and `sdssplitargs` (sds.c): same requests,
//! same limits, same error texts, whatever the read boundaries.

use bytes::BytesMut;
use proptest::prelude::*;
use proptest::sample::Index;
use redis_protocol::resp2::decode::decode;
use redis_protocol::resp2::types::OwnedFrame;

use super::{Args, RequestParser, split_args};
use crate::error::ProtocolError;
use crate::protocol::INLINE_MAX;

mod errors;
mod properties;

/// Redis's default `proto-max-bulk-len`.
const MAX_BULK: usize = 512 * 1024 * 1024;

/// One framed request: the bytes to forward and the arguments routed on.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Req {
    raw: Vec<u8>,
    args: Vec<Vec<u8>>,
}

impl Req {
    /// A multibulk request as its client sent it.
    fn multibulk(args: &[Vec<u8>]) -> Self {
        Req { raw: encode(args), args: args.to_vec() }
    }
}

fn encode<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        let a = a.as_ref();
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn words(ws: &[&str]) -> Vec<Vec<u8>> {
    ws.iter().map(|w| w.as_bytes().to_vec()).collect()
}

/// One call to `next`, with the request's arguments read through `args()`.
fn take(p: &mut RequestParser, buf: &mut BytesMut) -> Result<Option<Req>, ProtocolError> {
    Ok(p.next(buf)?.map(|raw| {
        let args = Args::new(&raw, p.args()).iter().map(<[u8]>::to_vec).collect();
        Req { raw: raw.to_vec(), args }
    }))
}

/// What a session sees when `input` arrives in reads cut at `cuts`: after each read,
/// `next` until it returns `None` or fails. Returns the requests, the error that
/// stopped parsing (if any) and what is left in the buffer.
fn feed(input: &[u8], cuts: &[usize], max_bulk: usize) -> (Vec<Req>, Option<ProtocolError>, BytesMut) {
    let mut cuts: Vec<usize> = cuts.iter().map(|&c| c.min(input.len())).collect();
    cuts.push(input.len());
    cuts.sort_unstable();
    cuts.dedup();
    let mut p = RequestParser::new(max_bulk);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut start = 0;
    for end in cuts {
        buf.extend_from_slice(&input[start..end]);
        start = end;
        loop {
            match take(&mut p, &mut buf) {
                Ok(Some(req)) => out.push(req),
                Ok(None) => break,
                Err(e) => return (out, Some(e), buf),
            }
        }
    }
    (out, None, buf)
}

/// All requests in `input`, which must parse cleanly and completely.
fn parse_ok(input: &[u8]) -> Vec<Req> {
    let (reqs, err, rest) = feed(input, &[], MAX_BULK);
    assert_eq!(err, None, "input {:?}", String::from_utf8_lossy(input));
    assert!(rest.is_empty(), "left over: {rest:?}");
    reqs
}

/// The error `input` fails with (after any requests before it).
fn parse_err(input: &[u8], max_bulk: usize) -> ProtocolError {
    match feed(input, &[], max_bulk) {
        (_, Some(e), _) => e,
        (reqs, None, rest) => panic!("{:?}: no error; got {reqs:?}, left {rest:?}", String::from_utf8_lossy(input)),
    }
}

/// `next` on `input` alone: `Ok(None)`, and nothing consumed.
fn assert_waits(input: &[u8]) {
    let mut p = RequestParser::new(MAX_BULK);
    let mut buf = BytesMut::from(input);
    assert_eq!(take(&mut p, &mut buf), Ok(None), "{:?}", String::from_utf8_lossy(input));
    assert_eq!(&buf[..], input, "bytes of an incomplete request must stay in the buffer");
}

// ---------------------------------------------------------------- multibulk

#[test]
fn multibulk_single_request() {
    let input = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n";
    let mut p = RequestParser::new(MAX_BULK);
    let mut buf = BytesMut::from(&input[..]);
    let raw = p.next(&mut buf).unwrap().unwrap();
    assert_eq!(&raw[..], &input[..], "raw bytes are the request exactly as sent");
    assert!(buf.is_empty());
    // Ranges into `raw`: "*3\r\n$3\r\n" is 8 bytes, then SET, then "\r\n$1\r\n" (6), ...
    assert_eq!(p.args(), &[8..11, 17..18, 24..29]);
    let args = Args::new(&raw, p.args());
    assert_eq!(args.len(), 3);
    assert!(!args.is_empty());
    assert_eq!(args.get(0), b"SET");
    assert_eq!(args.get(1), b"k");
    assert_eq!(args.get(2), b"hello");
    assert_eq!(args.get(3), b"", "out of range is empty");
    assert_eq!(args.iter().collect::<Vec<_>>(), vec![&b"SET"[..], b"k", b"hello"]);
    assert_eq!(p.next(&mut buf), Ok(None));
}

#[test]
fn multibulk_pipelined_requests_come_out_in_order_with_their_own_bytes() {
    let reqs = [words(&["GET", "a"]), words(&["SET", "b", "1"]), words(&["PING"])];
    let input: Vec<u8> = reqs.iter().flat_map(|r| encode(r)).collect();
    let got = parse_ok(&input);
    assert_eq!(got, reqs.iter().map(|r| Req::multibulk(r)).collect::<Vec<_>>());
}

#[test]
fn multibulk_args_are_those_of_the_last_request() {
    let input = [encode(&["SET", "key", "value"]), encode(&["GET", "x"])].concat();
    let mut p = RequestParser::new(MAX_BULK);
    let mut buf = BytesMut::from(&input[..]);
    let first = p.next(&mut buf).unwrap().unwrap();
    assert_eq!(Args::new(&first, p.args()).len(), 3);
    let second = p.next(&mut buf).unwrap().unwrap();
    assert_eq!(&second[..], &encode(&["GET", "x"])[..]);
    assert_eq!(p.args(), &[8..11, 17..18]);
    assert_eq!(Args::new(&second, p.args()).get(1), b"x");
}

#[test]
fn multibulk_partial_request_waits_and_resumes() {
    let full = encode(&["SET", "k", "v"]);
    let input = [encode(&["PING"]), full[..10].to_vec()].concat();
    let mut p = RequestParser::new(MAX_BULK);
    let mut buf = BytesMut::from(&input[..]);
    assert_eq!(take(&mut p, &mut buf).unwrap().unwrap().args, words(&["PING"]));
    assert_eq!(take(&mut p, &mut buf), Ok(None));
    assert_eq!(&buf[..], &full[..10], "the partial request stays in the buffer");
    assert_eq!(take(&mut p, &mut buf), Ok(None), "asking again changes nothing");
    buf.extend_from_slice(&full[10..]);
    assert_eq!(take(&mut p, &mut buf), Ok(Some(Req::multibulk(&words(&["SET", "k", "v"])))));
    assert!(buf.is_empty());
}

#[test]
fn multibulk_byte_by_byte() {
    let input = [encode(&["SET", "k", "v"]), encode(&["GET", "k"]), b"PING\r\n".to_vec()].concat();
    let cuts: Vec<usize> = (0..input.len()).collect();
    let (got, err, rest) = feed(&input, &cuts, MAX_BULK);
    assert_eq!((err, rest.len()), (None, 0));
    assert_eq!(got, feed(&input, &[], MAX_BULK).0);
    assert_eq!(got.len(), 3);
}

#[test]
fn empty_and_null_multibulk_are_skipped() {
    // processMultibulkBuffer: `if (ll <= 0) return C_OK;` with argc 0, and
    // processInputBuffer resets the client without running anything.
    for skipped in [&b"*0\r\n"[..], b"*-1\r\n", b"*-10\r\n", b"*-9223372036854775808\r\n"] {
        let (reqs, err, rest) = feed(skipped, &[], MAX_BULK);
        assert_eq!((reqs, err), (vec![], None), "{:?}", String::from_utf8_lossy(skipped));
        assert!(rest.is_empty(), "the skipped header is consumed");
    }
    let ping = encode(&["PING"]);
    let input = [&b"*0\r\n*-1\r\n"[..], &ping, b"*0\r\n", &ping].concat();
    let got = parse_ok(&input);
    assert_eq!(got, vec![Req::multibulk(&words(&["PING"])); 2], "raw excludes skipped headers");
}

#[test]
fn multibulk_is_binary_safe() {
    let args: Vec<Vec<u8>> = vec![
        b"SET".to_vec(),
        b"k\r\n$3\r\n*1\r\n".to_vec(),
        vec![0, 0, b'\r', 0, b'\n', 0xff, 0x80],
        Vec::new(),
        b"\r\n".to_vec(),
    ];
    assert_eq!(parse_ok(&encode(&args)), vec![Req::multibulk(&args)]);
}

#[test]
fn multibulk_count_up_to_int_max_is_accepted() {
    // `ll > INT_MAX` is the limit: 2147483647 arguments is a (pending) request.
    assert_waits(b"*2147483647\r\n");
    assert_waits(b"*2147483647\r\n$1\r\na\r\n");
}

#[test]
fn header_line_needs_the_byte_after_cr() {
    // "Buffer should also contain \n": a `\r` that is the last byte waits.
    assert_waits(b"*");
    assert_waits(b"*1");
    assert_waits(b"*1\r");
    assert_waits(b"*1\r\n$");
    assert_waits(b"*1\r\n$4\r");
    assert_waits(b"*1\r\n$4\r\nPING");
    assert_waits(b"*1\r\n$4\r\nPING\r");
}

#[test]
fn bytes_after_a_header_cr_or_a_bulk_body_are_not_checked() {
    // Redis skips two bytes after the `\r` of a header and after a bulk body without
    // looking at them; the node that receives the forwarded bytes does the same.
    let input = b"*1\rX$4\rYPINGab";
    assert_eq!(parse_ok(input), vec![Req { raw: input.to_vec(), args: words(&["PING"]) }]);
}

#[test]
fn bulk_length_limit_is_the_configured_max() {
    let mut buf = BytesMut::from(&b"*1\r\n$10\r\n0123456789\r\n"[..]);
    assert!(RequestParser::new(10).next(&mut buf).unwrap().is_some());
    assert_eq!(parse_err(b"*1\r\n$11\r\n", 10), ProtocolError::InvalidBulkLength);
    assert_eq!(parse_err(b"*1\r\n$536870913\r\n", MAX_BULK), ProtocolError::InvalidBulkLength);
    assert_waits(b"*1\r\n$536870912\r\n");
}

#[test]
fn large_argument_in_many_reads() {
    // Bigger than 64 KiB and without any `\r`: while the body is awaited, no header
    // line is being searched, so no "too big" limit applies.
    let big = vec![b'a'; 200_000];
    let args = vec![b"SET".to_vec(), b"k".to_vec(), big];
    let input = encode(&args);
    let cuts: Vec<usize> = (0..input.len()).step_by(16 * 1024).collect();
    let (got, err, rest) = feed(&input, &cuts, MAX_BULK);
    assert_eq!((err, rest.len()), (None, 0));
    assert_eq!(got, vec![Req::multibulk(&args)]);
}

#[test]
fn too_big_bulk_count_is_measured_from_the_header_not_the_request() {
    // A 70 KB argument, then the next header still incomplete: only the bytes from
    // that header on count (`sdslen(querybuf) - qb_pos`).
    let input = encode(&[vec![b'x'; 70_000], b"y".to_vec()]);
    let cut = input.len() - b"1\r\ny\r\n".len(); // ends with "...\r\n$"
    assert_waits(&input[..cut]);
}

// ---------------------------------------------------------------- inline

#[test]
fn inline_ping_with_crlf_or_lf() {
    let want = vec![Req { raw: b"*1\r\n$4\r\nPING\r\n".to_vec(), args: words(&["PING"]) }];
    assert_eq!(parse_ok(b"PING\r\n"), want);
    assert_eq!(parse_ok(b"PING\n"), want);
}

#[test]
fn inline_is_reencoded_as_multibulk() {
    let mut p = RequestParser::new(MAX_BULK);
    let mut buf = BytesMut::from(&b"set k \"a b\\x41\\n\"\r\n"[..]);
    let raw = p.next(&mut buf).unwrap().unwrap();
    assert_eq!(&raw[..], &encode(&["set", "k", "a bA\n"])[..]);
    assert_eq!(p.args(), &[8..11, 17..18, 24..29]);
    assert!(buf.is_empty());
}

#[test]
fn inline_quotes_and_escapes() {
    let cases: &[(&[u8], &[&[u8]])] = &[
        (b"set k \"a b\\x41\\n\"\r\n", &[b"set", b"k", b"a bA\n"]),
        (b"set k 'it\\'s'\r\n", &[b"set", b"k", b"it's"]),
        (b"set k 'a\\nb'\r\n", &[b"set", b"k", b"a\\nb"]),
        (b"set k \"\"\r\n", &[b"set", b"k", b""]),
        (b"  get\t  k  \r\n", &[b"get", b"k"]),
        (b"echo \"\\x00\\xff\"\n", &[b"echo", b"\x00\xff"]),
        (b"echo a\rb\n", &[b"echo", b"a", b"b"]),
    ];
    for (line, want) in cases {
        let args: Vec<Vec<u8>> = want.iter().map(|w| w.to_vec()).collect();
        let got = parse_ok(line);
        assert_eq!(got, vec![Req { raw: encode(&args), args }], "{:?}", String::from_utf8_lossy(line));
    }
}

#[test]
fn inline_blank_lines_are_skipped() {
    let (reqs, err, rest) = feed(b"\r\n\n   \r\n\t\n", &[], MAX_BULK);
    assert_eq!((reqs, err, rest.len()), (vec![], None, 0));
    let got = parse_ok(b"\r\n\n  \r\nPING\r\n\r\n");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].args, words(&["PING"]));
}

#[test]
fn inline_incomplete_line_waits() {
    assert_waits(b"PIN");
    assert_waits(b"PING\r");
    assert_waits(b"set k \"unterminated");
    let (got, err, _) = feed(b"PING\r\n", &[2, 4, 5], MAX_BULK);
    assert_eq!((got.len(), err), (1, None));
}

#[test]
fn inline_and_multibulk_mixed_in_one_pipeline() {
    let input = [&b"PING\r\n"[..], &encode(&["GET", "a"]), b"get b\n", &encode(&["DEL", "c"])].concat();
    let got: Vec<_> = parse_ok(&input).into_iter().map(|r| r.args).collect();
    assert_eq!(got, vec![words(&["PING"]), words(&["GET", "a"]), words(&["get", "b"]), words(&["DEL", "c"])]);
}

#[test]
fn inline_unbalanced_quotes() {
    for line in [
        &b"set k \"abc\r\n"[..],
        b"set k 'abc\r\n",
        b"set k \"abc\\\"\r\n",
        b"set k \"a\"b\r\n",
        b"set k 'a'b\r\n",
        b"set k \"a\"\"b\"\r\n",
    ] {
        assert_eq!(parse_err(line, MAX_BULK), ProtocolError::UnbalancedQuotes, "{:?}", String::from_utf8_lossy(line));
    }
    assert_eq!(ProtocolError::UnbalancedQuotes.to_string(), "Protocol error: unbalanced quotes in request");
}

#[test]
fn inline_nul_hides_the_newline_as_in_redis() {
    // processInlineBuffer finds the line with `strchr(querybuf+qb_pos, '\n')`, which
    // stops at a NUL: `PING\0\r\n` is never a complete line (and never runs as PING);
    // only the 64 KiB limit ends it.
    assert_waits(b"PING\0\r\n");
    assert_waits(b"\0\r\n");
    let mut input = b"SET k v\0junk\r\n".to_vec();
    input.resize(INLINE_MAX, b'x');
    assert_waits(&input);
    input.push(b'\n');
    assert_eq!(parse_err(&input, MAX_BULK), ProtocolError::TooBigInline);
    // A NUL after the newline belongs to the next request.
    let (got, err, rest) = feed(b"PING\r\n\0", &[], MAX_BULK);
    assert_eq!((got.len(), err, &rest[..]), (1, None, &b"\0"[..]));
}
