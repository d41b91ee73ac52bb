//! Malformed and hostile input: each gets the error text redis-server gives for the
//! same bytes, then the connection is closed, and nobody else notices anything.

mod support;

use std::net::TcpStream;
use std::time::Duration;

use support::{TestCluster, Value, connect, expect_error_then_eof, start_slotway, vm_rss_kib, vm_size_kib};

/// Longest inline request or header line Redis accepts (`PROTO_INLINE_MAX_SIZE`).
const INLINE_MAX: usize = 64 * 1024;

#[test]
fn protocol_errors_get_redis_error_text_then_the_connection_closes() {
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());
    let node = cluster.seed();

    // Exactly one byte over the limit, so the server has read everything we sent when
    // it closes: a close with unread input would be a reset, not a clean EOF.
    let mut long_inline = vec![b'a'; INLINE_MAX + 1];
    long_inline[1] = b' ';
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("bad multibulk count", b"*abc\r\n".to_vec(), "ERR Protocol error: invalid multibulk length"),
        ("multibulk count over INT_MAX", b"*2147483648\r\n".to_vec(), "ERR Protocol error: invalid multibulk length"),
        ("no '$' before a bulk", b"*1\r\nx3\r\n".to_vec(), "ERR Protocol error: expected '$', got 'x'"),
        ("negative bulk length", b"*1\r\n$-5\r\n".to_vec(), "ERR Protocol error: invalid bulk length"),
        ("bulk length not a number", b"*1\r\n$1x\r\n".to_vec(), "ERR Protocol error: invalid bulk length"),
        ("bulk over 512 MB", b"*1\r\n$536870913\r\n".to_vec(), "ERR Protocol error: invalid bulk length"),
        ("inline line over 64 KiB", long_inline, "ERR Protocol error: too big inline request"),
        ("unbalanced double quote", b"set \"a b\r\n".to_vec(), "ERR Protocol error: unbalanced quotes in request"),
        ("unbalanced single quote", b"set 'a b\r\n".to_vec(), "ERR Protocol error: unbalanced quotes in request"),
        (
            "closing quote glued to a word",
            b"set \"a\"b c\r\n".to_vec(),
            "ERR Protocol error: unbalanced quotes in request",
        ),
        (
            "good commands, then garbage",
            b"*1\r\n$4\r\nPING\r\n*1\r\ny\r\n".to_vec(),
            "ERR Protocol error: expected '$', got 'y'",
        ),
    ];
    for (what, bytes, want) in &cases {
        let from_node = expect_error_then_eof_skipping_pongs(&node, bytes, what);
        assert_eq!(from_node, *want, "{what}: redis-server's own answer (is the expectation right?)");
        let from_slotway = expect_error_then_eof_skipping_pongs(&proxy.addr, bytes, what);
        assert_eq!(from_slotway, from_node, "{what}: slotway vs redis-server");
    }

    // None of that disturbed slotway for anyone else.
    let mut client = connect(&proxy.addr);
    assert_eq!(client.cmd(&["PING"]), Value::Simple("PONG".into()));
    assert_eq!(client.cmd(&["SET", "still", "working"]), Value::ok());
    assert_eq!(client.cmd(&["GET", "still"]), Value::bulk("working"));
}

/// Like [`expect_error_then_eof`], but first reads the `+PONG` replies owed to any
/// `PING`s that precede the garbage.
fn expect_error_then_eof_skipping_pongs(addr: &str, bytes: &[u8], what: &str) -> String {
    let pings = bytes.windows(4).filter(|w| w == b"PING").count();
    if pings == 0 {
        return expect_error_then_eof(addr, bytes, what);
    }
    let mut conn = connect(addr);
    conn.send(bytes);
    for _ in 0..pings {
        assert_eq!(conn.read_reply(), Value::Simple("PONG".into()), "{what} on {addr}: the good command first");
    }
    let Value::Error(text) = conn.read_reply() else { panic!("{what} on {addr}: expected an error") };
    support::expect_eof(&mut conn, &format!("{what} on {addr}"));
    text
}

#[test]
fn clients_announcing_huge_bulks_do_not_block_others_or_eat_memory() {
    const STALLED: usize = 20;
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());

    // Warm up: connections to every node exist, buffers are allocated.
    let mut client = connect(&proxy.addr);
    for i in 0..300 {
        assert_eq!(client.cmd(&["SET", &format!("warm:{i}"), "x"]), Value::ok());
    }
    let (before, virt_before) = (vm_rss_kib(), vm_size_kib());

    // Each announces a 512 MB argument (the largest allowed) and then sends nothing.
    let mut stalled: Vec<TcpStream> = Vec::new();
    for _ in 0..STALLED {
        let mut s = TcpStream::connect(&proxy.addr).unwrap();
        std::io::Write::write_all(&mut s, b"*1\r\n$536870912\r\n").unwrap();
        stalled.push(s);
    }
    // Give slotway time to read every header (nothing below depends on how long).
    std::thread::sleep(Duration::from_millis(500));

    // Everyone else keeps working, on new and old connections.
    for i in 0..300 {
        assert_eq!(client.cmd(&["SET", &format!("after:{i}"), "y"]), Value::ok());
    }
    let mut fresh = connect(&proxy.addr);
    assert_eq!(fresh.cmd(&["PING"]), Value::Simple("PONG".into()));
    assert_eq!(fresh.cmd(&["GET", "after:299"]), Value::bulk("y"));

    let (after, virt_after) = (vm_rss_kib(), vm_size_kib());
    eprintln!("VmRSS {before} -> {after} KiB, VmSize {virt_before} -> {virt_after} KiB with {STALLED} stalled clients");
    let growth_mib = after.saturating_sub(before) / 1024;
    assert!(
        growth_mib < 64,
        "{STALLED} clients each announcing a 512 MB bulk grew resident memory by {growth_mib} MiB ({before} -> {after} KiB)"
    );
    // Reserving each announced bulk up front would add 10 GiB of address space, even
    // if untouched; thread stacks or a new malloc arena stay far below the bound.
    let virt_growth_mib = virt_after.saturating_sub(virt_before) / 1024;
    assert!(
        virt_growth_mib < 2048,
        "{STALLED} clients each announcing a 512 MB bulk grew virtual memory by {virt_growth_mib} MiB"
    );

    // The stalled clients are still connected (a partial request is not an error),
    // and slotway still serves everyone once they give up.
    for s in &stalled {
        s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let mut buf = [0u8; 1];
        let r = std::io::Read::read(&mut &*s, &mut buf);
        assert!(
            matches!(&r, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut),
            "a stalled client got {r:?}"
        );
    }
    drop(stalled);
    assert_eq!(fresh.cmd(&["GET", "warm:0"]), Value::bulk("x"));
}
