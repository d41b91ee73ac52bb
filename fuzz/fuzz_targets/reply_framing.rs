//! Reply framing: arbitrary node bytes through `ReplyScanner::next_len`, arriving in
//! two reads cut at a fuzzer-chosen point, and `Redirect::parse`.
//!
//! Input layout: bytes 0..2 pick the cut, the rest is what the node sends.
//!
//! Checked: no panic; every length is non-zero and within the buffer; the scanner
//! resumes correctly (the cut does not change the replies found or whether the
//! stream fails); `Redirect::parse` never panics on a framed reply or on raw bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use slotway::protocol::reply::{Redirect, ReplyScanner};

/// Reply lengths found when `reads` arrive one after another (a consumer that drops
/// each reply from the front of its buffer), and whether the stream failed.
fn run(reads: &[&[u8]]) -> (Vec<usize>, bool) {
    let mut scanner = ReplyScanner::default();
    let mut buf: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    for read in reads {
        buf.extend_from_slice(read);
        loop {
            match scanner.next_len(&buf) {
                Ok(Some(n)) => {
                    assert!(
                        n > 0 && n <= buf.len(),
                        "reply length {n} with {} bytes buffered",
                        buf.len()
                    );
                    let _ = Redirect::parse(&buf[..n]);
                    out.push(n);
                    buf.drain(..n);
                }
                Ok(None) => break,
                Err(bad) => {
                    assert!(bad.0 <= buf.len(), "error offset {} past {} bytes", bad.0, buf.len());
                    return (out, true);
                }
            }
        }
    }
    (out, false)
}

fuzz_target!(|data: &[u8]| {
    let _ = Redirect::parse(data);
    if data.len() < 2 {
        return;
    }
    let input = &data[2..];
    let _ = Redirect::parse(input);
    let cut = usize::from(u16::from_le_bytes([data[0], data[1]])) % (input.len() + 1);

    // The resumable contract itself: a prefix, then the whole buffer.
    let mut scanner = ReplyScanner::default();
    if let Ok(prefix) = scanner.next_len(&input[..cut]) {
        if let Some(n) = prefix {
            assert!(n > 0 && n <= cut);
        } else if let Ok(Some(n)) = scanner.next_len(input) {
            assert!(n > 0 && n <= input.len());
            let mut fresh = ReplyScanner::default();
            assert_eq!(
                fresh.next_len(input),
                Ok(Some(n)),
                "resumed scan disagrees with a fresh one"
            );
        }
    }

    let split = run(&[&input[..cut], &input[cut..]]);
    let whole = run(&[input]);
    assert_eq!(split, whole, "replies depend on where the reads were cut");
});
