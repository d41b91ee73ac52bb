//! Request framing: arbitrary client bytes, arriving in two reads cut at a
//! fuzzer-chosen point, through `RequestParser` and then `classify`.
//!
//! Input layout: byte 0 picks `proto-max-bulk-len`, bytes 1..3 the cut, the rest is
//! what the client sends.
//!
//! Checked: no panic; every argument range lies inside its request's bytes; a
//! multibulk request starts with `*`; and the same stream read in one piece yields
//! the same requests (one run may stop at a length-limit error earlier than the
//! other, since those depend on how much has arrived, so there one list must be a
//! prefix of the other).
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use slotway::command::classify::classify;
use slotway::error::ProtocolError;
use slotway::protocol::request::{Args, RequestParser};

type Req = (Bytes, Vec<std::ops::Range<usize>>);

/// Feeds `reads` one after another, calling `next` after each until it wants more
/// bytes; stops at the first error.
fn run(max_bulk: usize, reads: &[&[u8]]) -> (Vec<Req>, Option<ProtocolError>, BytesMut) {
    let mut parser = RequestParser::new(max_bulk);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for read in reads {
        buf.extend_from_slice(read);
        loop {
            match parser.next(&mut buf) {
                Ok(Some(raw)) => {
                    let args = parser.args();
                    assert!(!args.is_empty(), "empty requests are skipped, never returned");
                    assert_eq!(raw.first(), Some(&b'*'), "requests are (re-encoded as) multibulk");
                    for r in args {
                        assert!(
                            r.start <= r.end && r.end <= raw.len(),
                            "arg {r:?} outside {} bytes",
                            raw.len()
                        );
                    }
                    // Must not panic, whatever it decides.
                    let _ = classify(Args::new(&raw, args));
                    out.push((raw, args.to_vec()));
                }
                Ok(None) => break,
                Err(e) => return (out, Some(e), buf),
            }
        }
    }
    (out, None, buf)
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let max_bulk = match data[0] % 4 {
        0 => 0,
        1 => 8,
        2 => 1 << 16,
        _ => 512 * 1024 * 1024, // the default
    };
    let input = &data[3..];
    let cut = usize::from(u16::from_le_bytes([data[1], data[2]])) % (input.len() + 1);

    let (split, split_err, split_rest) = run(max_bulk, &[&input[..cut], &input[cut..]]);
    let (whole, whole_err, whole_rest) = run(max_bulk, &[input]);

    if split_err.is_none() && whole_err.is_none() {
        assert_eq!(split, whole, "requests depend on where the reads were cut");
        assert_eq!(
            split_rest, whole_rest,
            "leftover bytes depend on where the reads were cut"
        );
    } else {
        let n = split.len().min(whole.len());
        assert_eq!(split[..n], whole[..n], "requests before an error differ");
        if split_err.is_none() {
            // Reading in pieces can only fail earlier (a length limit seen before the
            // line end arrived), never later than reading it all at once.
            assert!(split.len() >= whole.len());
        }
    }
});
