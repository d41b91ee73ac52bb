//! Micro-benchmarks of the per-command hot path, in the order a request meets it:
//! request framing -> classification (which computes the hash slot) -> reply framing.
//!
//! Run with `cargo bench --bench hot_path` (add `-- --quick` for a fast pass).
//! Pipeline benchmarks report throughput in commands (elements) per second.

use std::hint::black_box;
use std::ops::Range;

use bytes::{Bytes, BytesMut};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

use slotway::cluster::slot::hash_slot;
use slotway::command::classify::{Action, classify};
use slotway::protocol::reply::ReplyScanner;
use slotway::protocol::request::{Args, RequestParser};

/// Redis's default `proto-max-bulk-len` (512 MB).
const MAX_BULK_LEN: usize = 512 * 1024 * 1024;
/// Commands (or replies) per pipeline.
const PIPELINE: usize = 1_000;
const VALUE_LEN: usize = 64;

/// One request in RESP multibulk form, as a client library sends it.
fn resp(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// `PIPELINE` requests built by `make(i)`, concatenated as one read buffer.
fn pipeline(make: impl Fn(usize) -> Vec<u8>) -> BytesMut {
    let mut buf = BytesMut::new();
    for i in 0..PIPELINE {
        buf.extend_from_slice(&make(i));
    }
    buf
}

/// One framed request: its raw bytes and the byte ranges of its arguments.
type Framed = (Bytes, Vec<Range<usize>>);

/// `args` as one request, framed by the real parser.
fn framed(args: &[&[u8]]) -> Framed {
    let mut parser = RequestParser::new(MAX_BULK_LEN);
    let mut buf = BytesMut::from(&resp(args)[..]);
    let raw = parser.next(&mut buf).expect("valid request").expect("complete request");
    (raw, parser.args().to_vec())
}

fn bench_hash_slot(c: &mut Criterion) {
    let mut g = c.benchmark_group("hash_slot");
    let long_key = vec![b'k'; 100];
    let cases: [(&str, &[u8]); 4] = [
        ("short", b"key:000042"),
        ("hash_tag", b"{user1000}.followers"),
        ("hash_tag_long_key", b"{user1000}.followers.of.followers.with.a.longer.suffix.after.the.tag.to.skip"),
        ("100_bytes", &long_key),
    ];
    for (name, key) in cases {
        g.throughput(Throughput::Bytes(key.len() as u64));
        g.bench_function(name, |b| b.iter(|| hash_slot(black_box(key))));
    }
    g.finish();
}

fn bench_request_framing(c: &mut Criterion) {
    let value = [b'x'; VALUE_LEN];
    let get = pipeline(|i| resp(&[b"GET", format!("key:{i:06}").as_bytes()]));
    let set = pipeline(|i| resp(&[b"SET", format!("key:{i:06}").as_bytes(), &value]));

    let mut g = c.benchmark_group("request_framing");
    g.throughput(Throughput::Elements(PIPELINE as u64));
    for (name, input) in [("get_x1000", &get), ("set64_x1000", &set)] {
        g.bench_function(name, |b| {
            b.iter_batched(
                // The copy of the read buffer is setup, not measured.
                || input.clone(),
                |mut buf| {
                    let mut parser = RequestParser::new(MAX_BULK_LEN);
                    let mut n = 0usize;
                    while let Some(raw) = parser.next(&mut buf).expect("valid pipeline") {
                        // Touch what the session touches: the bytes and the arg ranges.
                        black_box((&raw, parser.args()));
                        n += 1;
                    }
                    assert_eq!(n, PIPELINE);
                    buf
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

fn bench_classify(c: &mut Criterion) {
    let value = [b'x'; VALUE_LEN];
    let cases: Vec<(&str, Framed)> = vec![
        ("get", framed(&[b"GET", b"key:000042"])),
        ("set64", framed(&[b"SET", b"key:000042", &value])),
        (
            "mset_same_slot_x4",
            framed(&[
                b"MSET",
                b"{user1000}:a",
                b"1",
                b"{user1000}:b",
                b"2",
                b"{user1000}:c",
                b"3",
                b"{user1000}:d",
                b"4",
            ]),
        ),
        ("eval_1key", framed(&[b"EVAL", b"return redis.call('GET', KEYS[1])", b"1", b"key:000042"])),
    ];
    let mut g = c.benchmark_group("classify");
    for (name, (raw, ranges)) in &cases {
        // A benchmark of the reject path would be meaningless: check each case routes.
        let (action, _) = classify(Args::new(raw, ranges));
        assert!(matches!(action, Action::Forward { slot: Some(_) } | Action::Read { .. }), "{name}: {action:?}");
        g.bench_function(*name, |b| b.iter(|| classify(black_box(Args::new(raw, ranges)))));
    }
    g.finish();
}

fn bench_reply_framing(c: &mut Criterion) {
    let mut bulk = Vec::new();
    let mut ok = Vec::new();
    let mut mixed = Vec::new();
    let bulk_reply = [format!("${VALUE_LEN}\r\n").as_bytes(), &[b'v'; VALUE_LEN][..], b"\r\n"].concat();
    for i in 0..PIPELINE {
        bulk.extend_from_slice(&bulk_reply);
        ok.extend_from_slice(b"+OK\r\n");
        mixed.extend_from_slice(if i % 2 == 0 { &bulk_reply } else { b"+OK\r\n" });
    }

    let mut g = c.benchmark_group("reply_framing");
    g.throughput(Throughput::Elements(PIPELINE as u64));
    for (name, input) in [("bulk64_x1000", &bulk), ("ok_x1000", &ok), ("mixed_x1000", &mixed)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let buf = black_box(&input[..]);
                let mut scanner = ReplyScanner::default();
                let (mut off, mut n) = (0, 0usize);
                while let Some(len) = scanner.next_len(&buf[off..]).expect("valid replies") {
                    off += len;
                    n += 1;
                    if off == buf.len() {
                        break;
                    }
                }
                assert_eq!(n, PIPELINE);
                off
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_hash_slot, bench_request_framing, bench_classify, bench_reply_framing);
criterion_main!(benches);
