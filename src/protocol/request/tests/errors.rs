//! Requests Redis refuses, with its error texts; memory bounds; argument splitting.

use super::*;

// ---------------------------------------------------------------- errors

#[test]
fn too_big_inline_request() {
    let mut input = vec![b'a'; INLINE_MAX];
    assert_waits(&input);
    input.push(b'a');
    let e = parse_err(&input, MAX_BULK);
    assert_eq!(e, ProtocolError::TooBigInline);
    assert_eq!(e.to_string(), "Protocol error: too big inline request");
    // A long line is fine once its newline is in the buffer (Redis checks the size
    // only when it finds no newline).
    let mut line = vec![b'a'; INLINE_MAX + 10];
    line.extend_from_slice(b"\r\n");
    assert_eq!(parse_ok(&line)[0].args, vec![vec![b'a'; INLINE_MAX + 10]]);
}

#[test]
fn too_big_mbulk_count_string() {
    let mut input = b"*".to_vec();
    input.resize(INLINE_MAX, b'1');
    assert_waits(&input);
    input.push(b'1');
    let e = parse_err(&input, MAX_BULK);
    assert_eq!(e, ProtocolError::TooBigMbulkCount);
    assert_eq!(e.to_string(), "Protocol error: too big mbulk count string");
}

#[test]
fn long_header_ending_in_cr_waits_for_its_last_byte() {
    // With the `\r` found, Redis only waits for the next byte (no size check), then
    // parses the line: the error is about the number, not the size.
    let mut input = b"*".to_vec();
    input.resize(INLINE_MAX + 100, b'1');
    input.push(b'\r');
    assert_waits(&input);
    input.push(b'\n');
    assert_eq!(parse_err(&input, MAX_BULK), ProtocolError::InvalidMultibulkLength);

    let mut input = b"*1\r\n$".to_vec();
    input.resize(INLINE_MAX + 100, b'1');
    input.push(b'\r');
    assert_waits(&input);
    input.push(b'\n');
    assert_eq!(parse_err(&input, MAX_BULK), ProtocolError::InvalidBulkLength);
}

#[test]
fn invalid_multibulk_length() {
    for input in [
        &b"*abc\r\n"[..],
        b"*01\r\n",
        b"*-0\r\n",
        b"*+1\r\n",
        b"* 1\r\n",
        b"*1 \r\n",
        b"*\r\n",
        b"*2147483648\r\n",
        b"*3000000000\r\n",
        b"*9223372036854775808\r\n",
        b"*1\n$4\r\nPING\r\n",
    ] {
        let e = parse_err(input, MAX_BULK);
        assert_eq!(e, ProtocolError::InvalidMultibulkLength, "{:?}", String::from_utf8_lossy(input));
        assert_eq!(e.to_string(), "Protocol error: invalid multibulk length");
    }
}

#[test]
fn too_big_bulk_count_string() {
    // Measured from the start of the bulk header: "*1\r\n" does not count.
    let mut input = b"*1\r\n$".to_vec();
    input.resize(4 + INLINE_MAX, b'1');
    assert_waits(&input);
    input.push(b'1');
    let e = parse_err(&input, MAX_BULK);
    assert_eq!(e, ProtocolError::TooBigBulkCount);
    assert_eq!(e.to_string(), "Protocol error: too big bulk count string");
}

#[test]
fn expected_dollar() {
    let e = parse_err(b"*1\r\nx\r\n", MAX_BULK);
    assert_eq!(e, ProtocolError::ExpectedDollar(b'x'));
    assert_eq!(e.to_string(), "Protocol error: expected '$', got 'x'");
    // Redis's own test ("Wrong multibulk payload header").
    let e = parse_err(b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n", MAX_BULK);
    assert_eq!(e.to_string(), "Protocol error: expected '$', got 'f'");
    // Checked only once the header line is complete.
    assert_waits(b"*1\r\nxyz");
    // An empty line where a header should be: the byte is the `\r` itself.
    assert_eq!(parse_err(b"*1\r\n\r\n", MAX_BULK), ProtocolError::ExpectedDollar(b'\r'));
    assert_eq!(parse_err(b"*1\r\n\xff\r\n", MAX_BULK), ProtocolError::ExpectedDollar(0xff));
}

#[test]
fn invalid_bulk_length() {
    for input in [
        &b"*1\r\n$-1\r\n"[..],
        b"*1\r\n$abc\r\n",
        b"*1\r\n$01\r\n",
        b"*1\r\n$+1\r\n",
        b"*1\r\n$\r\n",
        b"*1\r\n$1 \r\n",
        b"*1\r\n$101\r\n",
        b"*2\r\n$1\r\na\r\n$-5\r\n",
    ] {
        let e = parse_err(input, 100);
        assert_eq!(e, ProtocolError::InvalidBulkLength, "{:?}", String::from_utf8_lossy(input));
        assert_eq!(e.to_string(), "Protocol error: invalid bulk length");
    }
    assert_waits(b"*1\r\n$100\r\n");
}

#[test]
fn nul_in_a_header_line_hides_its_end_as_in_redis() {
    // Redis finds header lines with `strchr(..., '\r')`, which stops at a NUL: the
    // line never completes and only the 64 KiB limit ends the wait.
    assert_waits(b"*1\0\r\n$4\r\nPING\r\n");
    assert_waits(b"*1\r\n$4\0\r\nPING\r\n");
    assert_waits(b"*1\r\n\0\r\n");
    let mut input = b"*1\0\r\n".to_vec();
    input.resize(INLINE_MAX + 1, b'x');
    assert_eq!(parse_err(&input, MAX_BULK), ProtocolError::TooBigMbulkCount);
    let mut input = b"*1\r\n$4\0\r\n".to_vec();
    input.resize(4 + INLINE_MAX + 1, b'x');
    assert_eq!(parse_err(&input, MAX_BULK), ProtocolError::TooBigBulkCount);
}

#[test]
fn requests_before_an_error_are_returned_first() {
    let input = [&encode(&["PING"])[..], &encode(&["GET", "a"]), b"*1\r\n$x\r\n"].concat();
    let (reqs, err, _) = feed(&input, &[], MAX_BULK);
    assert_eq!(reqs.len(), 2);
    assert_eq!(err, Some(ProtocolError::InvalidBulkLength));
}

// ---------------------------------------------------------------- memory

#[test]
fn huge_bulk_header_does_not_reserve_its_length() {
    let mut p = RequestParser::new(MAX_BULK);
    let mut buf = BytesMut::from(&b"*1\r\n$536870912\r\n"[..]);
    assert_eq!(p.next(&mut buf), Ok(None));
    assert!(buf.capacity() < 1 << 20, "capacity {} after a bare header", buf.capacity());
    // Growth follows what actually arrives.
    for _ in 0..64 {
        buf.extend_from_slice(&[b'z'; 16 * 1024]);
        assert_eq!(p.next(&mut buf), Ok(None));
    }
    assert!(buf.capacity() < 4 << 20, "capacity {} after 1 MiB of body", buf.capacity());
}

#[test]
fn big_bulk_header_reserves_toward_its_body() {
    let mut p = RequestParser::new(MAX_BULK);
    let mut buf = BytesMut::from(&b"*1\r\n$1000\r\n"[..]);
    assert_eq!(p.next(&mut buf), Ok(None));
    assert!(buf.capacity() >= 11 + 1002, "capacity {}", buf.capacity());
}

// ---------------------------------------------------------------- split_args

#[test]
fn split_args_like_sdssplitargs() {
    let ok: &[(&[u8], &[&[u8]])] = &[
        (b"", &[]),
        (b"   \t ", &[]),
        (b"a b  c", &[b"a", b"b", b"c"]),
        (b"\t a\t", &[b"a"]),
        (b"\"a b\"", &[b"a b"]),
        (b"\"\\x41\\x4a\\x4A\\xZZ\"", &[b"AJJxZZ"]),
        (b"\"\\x4\"", &[b"x4"]),
        (b"\"\\n\\r\\t\\b\\a\\\\\\\"\\q\"", &[b"\n\r\t\x08\x07\\\"q"]),
        (b"\"a\" b", &[b"a", b"b"]),
        (b"\"a\"\x0bb", &[b"a", b"b"]),
        (b"'it\\'s'", &[b"it's"]),
        (b"'a\\nb'", &[b"a\\nb"]),
        (b"'a\\\\b'", &[b"a\\\\b"]),
        (b"'a\"b'", &[b"a\"b"]),
        (b"\"a'b\"", &[b"a'b"]),
        (b"a\"b c\"", &[b"ab c"]),
        (b"foo\"bar\"", &[b"foobar"]),
        (b"a'b c'", &[b"ab c"]),
        (b"\"\"", &[b""]),
        (b"'' x", &[b"", b"x"]),
        (b"a\\nb", &[b"a\\nb"]),
        (b"\xff\xfe \x80", &[b"\xff\xfe", b"\x80"]),
        // \v and \f are skipped between words but do not end one (only " \n\r\t" do).
        (b"a\x0bb", &[b"a\x0bb"]),
        (b"\x0ba\x0c", &[b"a\x0c"]),
        (b"a\rb\nc", &[b"a", b"b", b"c"]),
        // A C string: a NUL ends the line.
        (b"a\0b", &[b"a"]),
        (b"a \0\"", &[b"a"]),
    ];
    for (line, want) in ok {
        let want: Vec<Vec<u8>> = want.iter().map(|w| w.to_vec()).collect();
        assert_eq!(split_args(line), Some(want), "{:?}", String::from_utf8_lossy(line));
    }
    let unbalanced: &[&[u8]] = &[
        b"\"abc",
        b"'abc",
        b"\"abc\\",
        b"\"abc\\\"",
        b"'abc\\'",
        b"\"a\"b",
        b"'a'b",
        b"\"a\"'b'",
        b"\"a\0b\"",
        b"x \"",
    ];
    for line in unbalanced {
        assert_eq!(split_args(line), None, "{:?}", String::from_utf8_lossy(line));
    }
}
