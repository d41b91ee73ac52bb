//! Property tests: any stream of requests, cut into reads anywhere, frames the same.

use super::*;

// ---------------------------------------------------------------- properties

/// A piece of a client's byte stream and what the parser must make of it.
#[derive(Debug, Clone)]
enum Piece {
    Multibulk(Vec<Vec<u8>>),
    /// Plain words, sent as one inline line.
    Inline(Vec<Vec<u8>>),
    /// Any bytes, sent inline in double quotes with `\xHH` escapes.
    InlineQuoted(Vec<Vec<u8>>),
    /// Bytes Redis consumes without running anything.
    Skipped(&'static [u8]),
}

impl Piece {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Piece::Multibulk(args) => encode(args),
            Piece::Inline(args) => [args.join(&b' '), b"\r\n".to_vec()].concat(),
            Piece::InlineQuoted(args) => {
                let mut line = Vec::new();
                for a in args {
                    line.extend_from_slice(b" \"");
                    for &b in a {
                        if b.is_ascii_alphanumeric() {
                            line.push(b);
                        } else {
                            line.extend_from_slice(format!("\\x{b:02x}").as_bytes());
                        }
                    }
                    line.push(b'"');
                }
                line.push(b'\n');
                line
            }
            Piece::Skipped(b) => b.to_vec(),
        }
    }

    fn expected(&self) -> Option<Req> {
        match self {
            Piece::Multibulk(args) | Piece::Inline(args) | Piece::InlineQuoted(args) => Some(Req::multibulk(args)),
            Piece::Skipped(_) => None,
        }
    }
}

fn arg() -> impl Strategy<Value = Vec<u8>> {
    let tricky = prop::sample::select(vec![b'\r', b'\n', b'$', b'*', b'"', 0u8, b'0']);
    prop_oneof![
        8 => prop::collection::vec(any::<u8>(), 0..24),
        2 => prop::collection::vec(tricky, 0..8),
        1 => prop::collection::vec(any::<u8>(), 100..3000),
    ]
}

fn request_args() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(arg(), 1..6)
}

fn piece() -> impl Strategy<Value = Piece> {
    let word = "[a-zA-Z0-9_:{}.-]{1,12}".prop_map(String::into_bytes);
    let skipped: [&'static [u8]; 6] = [b"*0\r\n", b"*-1\r\n", b"\r\n", b"\n", b"  \t \r\n", b"*-42\r\n"];
    prop_oneof![
        6 => request_args().prop_map(Piece::Multibulk),
        2 => prop::collection::vec(word, 1..5).prop_map(Piece::Inline),
        1 => prop::collection::vec(prop::collection::vec(any::<u8>(), 0..12), 1..4)
            .prop_map(Piece::InlineQuoted),
        1 => prop::sample::select(skipped.to_vec()).prop_map(Piece::Skipped),
    ]
}

/// Bytes that look like RESP often enough to reach deep into the parser.
fn protocolish() -> impl Strategy<Value = Vec<u8>> {
    let alphabet = b"*$\r\n0123456789-+ \t\"'\\xaZ\0".to_vec();
    prop::collection::vec(prop_oneof![1 => any::<u8>(), 4 => prop::sample::select(alphabet)], 0..200)
}

fn cuts(len: usize, idx: &[Index]) -> Vec<usize> {
    idx.iter().map(|i| i.index(len + 1)).collect()
}

fn bulk_strings(frame: OwnedFrame) -> Vec<Vec<u8>> {
    match frame {
        OwnedFrame::Array(items) => items
            .into_iter()
            .map(|f| match f {
                OwnedFrame::BulkString(b) => b,
                other => panic!("not a bulk string: {other:?}"),
            })
            .collect(),
        other => panic!("not an array: {other:?}"),
    }
}

/// Invariants of every outcome: each request re-parses, alone, to itself.
fn check_requests_reparse(reqs: &[Req]) -> Result<(), TestCaseError> {
    for r in reqs {
        prop_assert!(r.raw.first() == Some(&b'*'));
        let (again, err, rest) = feed(&r.raw, &[], MAX_BULK);
        prop_assert_eq!(err, None);
        prop_assert!(rest.is_empty());
        prop_assert_eq!(&again, &vec![r.clone()]);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Read boundaries never change what is framed.
    #[test]
    fn any_read_split_frames_the_same(
        pieces in prop::collection::vec(piece(), 0..12),
        idx in prop::collection::vec(any::<Index>(), 0..10),
    ) {
        let input: Vec<u8> = pieces.iter().flat_map(Piece::bytes).collect();
        let want: Vec<Req> = pieces.iter().filter_map(Piece::expected).collect();
        let (whole, err, rest) = feed(&input, &[], MAX_BULK);
        prop_assert_eq!(err, None);
        prop_assert!(rest.is_empty());
        prop_assert_eq!(&whole, &want);
        let (split, err, rest) = feed(&input, &cuts(input.len(), &idx), MAX_BULK);
        prop_assert_eq!(err, None);
        prop_assert!(rest.is_empty());
        prop_assert_eq!(&split, &want);
    }

    /// Multibulk requests frame exactly as `redis-protocol` decodes them.
    #[test]
    fn agrees_with_redis_protocol(
        reqs in prop::collection::vec(request_args(), 1..4),
        tail in prop::collection::vec(any::<u8>(), 0..16),
        cut in any::<Index>(),
    ) {
        let mut input: Vec<u8> = reqs.iter().flat_map(|r| encode(r)).collect();
        input.extend_from_slice(&tail);
        let mut p = RequestParser::new(MAX_BULK);
        let mut buf = BytesMut::from(&input[..]);
        let mut offset = 0;
        for _ in &reqs {
            let (frame, used) = decode(&input[offset..]).unwrap().expect("complete frame");
            let raw = p.next(&mut buf).unwrap().expect("complete request");
            prop_assert_eq!(raw.len(), used);
            prop_assert_eq!(&raw[..], &input[offset..offset + used]);
            let ours: Vec<Vec<u8>> = Args::new(&raw, p.args()).iter().map(<[u8]>::to_vec).collect();
            prop_assert_eq!(ours, bulk_strings(frame));
            offset += used;
        }
        // Any proper prefix of a request is incomplete for both.
        let first = encode(&reqs[0]);
        let prefix = &first[..cut.index(first.len())];
        prop_assert!(decode(prefix).unwrap().is_none());
        let mut buf = BytesMut::from(prefix);
        prop_assert_eq!(RequestParser::new(MAX_BULK).next(&mut buf), Ok(None));
    }

    /// Arbitrary bytes never panic; whatever comes out is well formed and does not
    /// depend on read boundaries (inputs stay under the 64 KiB limits).
    #[test]
    fn arbitrary_bytes_are_safe(
        input in prop_oneof![prop::collection::vec(any::<u8>(), 0..300), protocolish()],
        idx in prop::collection::vec(any::<Index>(), 0..10),
        small_max in any::<bool>(),
    ) {
        let max = if small_max { 16 } else { MAX_BULK };
        let (whole, err_whole, _) = feed(&input, &[], max);
        let (split, err_split, _) = feed(&input, &cuts(input.len(), &idx), max);
        prop_assert_eq!(&whole, &split);
        prop_assert_eq!(err_whole, err_split);
        check_requests_reparse(&whole)?;
    }

    /// Random bytes after valid requests (or inside a partial one): the valid
    /// requests come out first, then anything but a panic.
    #[test]
    fn garbage_after_valid_requests(
        reqs in prop::collection::vec(request_args(), 0..3),
        partial in prop::sample::select(vec![&b""[..], b"*3\r\n$3\r\nSET\r\n", b"*2\r\n", b"*1\r\n$5\r\nab"]),
        garbage in prop_oneof![prop::collection::vec(any::<u8>(), 0..100), protocolish()],
        idx in prop::collection::vec(any::<Index>(), 0..6),
    ) {
        let valid: Vec<u8> = reqs.iter().flat_map(|r| encode(r)).collect();
        let input = [&valid[..], partial, &garbage].concat();
        let (got, err, _) = feed(&input, &cuts(input.len(), &idx), MAX_BULK);
        let want: Vec<Req> = reqs.iter().map(|r| Req::multibulk(r)).collect();
        prop_assert!(got.len() >= want.len(), "lost valid requests: {:?} {:?}", got, err);
        prop_assert_eq!(&got[..want.len()], &want[..]);
        check_requests_reparse(&got)?;
    }
}
