//! Differential test: random command sequences sent to slotway (in front of a real
//! cluster) and to a standalone redis-server (the same binary), reply for reply.
//! A plain client must not be able to tell them apart, in RESP2 or RESP3.
//!
//! Three clients (two RESP2, one after `HELLO 3`) share the data; each step goes to
//! one of them: a single command, a pipeline, a transaction (with WATCH), a session
//! whose commands answer more or less than once each (CLIENT REPLY, subscribed
//! mode, HELLO, RESET), or a command in the inline form. The commands
//! (`differential/`) cover every data type's common commands with their options,
//! wrong types, arities and numbers, scripts, blocking commands with short
//! timeouts, the multi-key commands slotway splits, and keyless commands it sends
//! to every node. At the end every key is read back and SCAN lists them.
//!
//! Replies are compared as typed RESP trees (`support::Reply`, which keeps every
//! distinction the bytes make), after normalising only what may legitimately differ:
//! - element order where Redis itself promises none: `SMEMBERS`, `SINTER`, `SUNION`,
//!   `SDIFF`, `HKEYS`, `HVALS`, `KEYS`, `HGETALL` and `CONFIG GET` (pairs), and every
//!   RESP3 map and set (a hash table's iteration order depends on each server's
//!   random hash seed);
//! - the channels an UNSUBSCRIBE without arguments names (in its hash table's order);
//! - remaining time to live (`TTL`, `PTTL`, `EXPIRETIME`, `PEXPIRETIME`): only
//!   -2, -1 or "positive" is compared, since the servers' clocks run apart;
//! - HELLO's `id` and `mode` (slotway says `cluster`, for cluster clients);
//!   `RANDOMKEY`'s key (only whether there is one).
//!
//! Left out on purpose, and why:
//! - what a cluster answers differently by nature: keys in several slots for
//!   commands that need one (CROSSSLOT; `tests/commands.rs` checks slotway answers
//!   those exactly as a cluster node does), `SELECT` of another database, `SORT`'s
//!   BY and GET patterns, `MEMORY USAGE` (a cluster node's keys carry 16 bytes
//!   more: their links in the slot's key list);
//! - what differs between any two servers: SPOP, SRANDMEMBER, HRANDFIELD, XADD *,
//!   single SCAN calls (slotway walks the nodes in turn; whole scans are compared),
//!   keys that expire by the clock (a key set with a past EXAT stays in DBSIZE
//!   until each server's own expiry cycle);
//! - known differences slotway keeps: a command it answers itself (CLIENT SETNAME
//!   ...) inside MULTI is refused rather than queued; an EVALSHA is healed by the
//!   body of an EVAL or SCRIPT LOAD sent after it in the same pipeline; PUBSUB
//!   NUMPAT and CHANNELS come from the nodes, which hold slotway's shared
//!   subscriptions (one per channel or pattern, however many clients) and drop them
//!   a moment after the last UNSUBSCRIBE; NUMSUB counts slotway's clients
//!   (`tests/pubsub.rs`) but can be off by one while the node drops one.
//!
//! A second test sends a fixed sequence of the connection and server commands a
//! client library uses (PING, ECHO, HELLO, AUTH, CLIENT, COMMAND, TIME, OBJECT,
//! RESET, QUIT ..., and their misuse) in RESP2 and RESP3, comparing only the shape
//! of what differs by nature (ids, addresses, clocks); `differential/connection.rs`
//! lists what it leaves out (CLIENT KILL and UNBLOCK, client-side caching, Redis
//! 7.2's CLIENT NO-TOUCH and SETINFO, which slotway answers on purpose).
//!
//! The seed is printed; `SLOTWAY_DIFF_SEED=<n>` replays a run, `SLOTWAY_DIFF_STEPS`
//! sets its length. A mismatch reports the command, both replies, the commands just
//! before it, and the seed.

#[path = "differential/compare.rs"]
mod compare;
#[path = "differential/connection.rs"]
mod connection;
#[path = "differential/data_types.rs"]
mod data_types;
#[path = "differential/more_types.rs"]
mod more_types;
#[path = "differential/sessions.rs"]
mod sessions;
mod support;
#[path = "differential/workload.rs"]
mod workload;

use std::collections::VecDeque;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use compare::{Pair, show_cmd};
use support::{RawBytesConn, Reply, Standalone, TestCluster, Value, connect, decode, start_slotway};
use workload::Workload;

/// How many mismatches one run lists before it stops.
const MAX_REPORTED: usize = 10;

fn seed() -> u64 {
    let seed = std::env::var("SLOTWAY_DIFF_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    eprintln!("differential: SLOTWAY_DIFF_SEED={seed}");
    seed
}

fn steps() -> usize {
    std::env::var("SLOTWAY_DIFF_STEPS").ok().and_then(|s| s.parse().ok()).unwrap_or(15_000)
}

/// Runs `steps` random steps, each on one of `pairs` picked at random, and then
/// compares every key's contents (on fresh connections); panics listing the
/// mismatches.
fn run(pairs: &mut [Pair], (proxy, redis): (&str, &str), seed: u64, steps: usize) {
    let mut work = Workload::new(seed);
    let mut recent: VecDeque<String> = VecDeque::new();
    let mut mismatches = Vec::new();
    let mut choose = StdRng::seed_from_u64(seed);
    for n in 0..steps {
        let step = work.next();
        let pair = &mut pairs[choose.random_range(0..pairs.len())];
        for diff in pair.compare(&step) {
            let before: Vec<String> = recent.iter().cloned().collect();
            mismatches.push(format!("step {n}: {diff}\n    after: {}", before.join(" | ")));
        }
        if pair.broken {
            mismatches.push(format!("step {n}: a reply never came; the run ends here"));
            break;
        }
        pair.restore_protocol();
        if mismatches.len() >= MAX_REPORTED {
            break;
        }
        recent.extend(step.cmds.iter().map(|c| show_cmd(c)));
        while recent.len() > 6 {
            recent.pop_front();
        }
    }
    // The data itself, read back key by key, and listed by SCAN.
    let pair = &mut Pair::open(proxy, redis, false);
    for key in Workload::all_keys() {
        for read in final_reads(&key) {
            mismatches.extend(pair.compare_one(read).into_iter().map(|d| format!("final state: {d}")));
        }
    }
    mismatches.extend(pair.compare_one(vec!["DBSIZE".into()]).into_iter().map(|d| format!("final state: {d}")));
    for (filter, value) in [("MATCH", "*"), ("MATCH", "{d}*"), ("TYPE", "zset"), ("COUNT", "3")] {
        let (p, r) = (scan_all(&mut pair.proxy, filter, value), scan_all(&mut pair.redis, filter, value));
        if p != r {
            mismatches.push(format!("final SCAN {filter} {value}:\n    slotway: {p:?}\n    redis:   {r:?}"));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches between slotway and a standalone redis-server (SLOTWAY_DIFF_SEED={seed}):\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

/// Every key a whole SCAN returns (sorted: the order is the server's business).
fn scan_all(conn: &mut RawBytesConn, filter: &str, value: &str) -> Vec<Reply> {
    let (mut cursor, mut keys) = (b"0".to_vec(), Vec::new());
    loop {
        let reply = decode(&conn.cmd_bytes(&[&b"SCAN"[..], &cursor, filter.as_bytes(), value.as_bytes()])).unwrap().0;
        let Reply::Array(parts) = reply else { panic!("SCAN answered {reply:?}") };
        let [Reply::Bulk(next), Reply::Array(batch)] = &parts[..] else { panic!("SCAN answered {parts:?}") };
        keys.extend(batch.iter().cloned());
        if next == b"0" {
            keys.sort();
            return keys;
        }
        cursor = next.clone();
    }
}

/// Commands that read all of `key`, whatever its type.
fn final_reads(key: &str) -> Vec<Vec<String>> {
    let reads: [&[&str]; 9] = [
        &["TYPE"],
        &["PTTL"],
        &["OBJECT", "ENCODING"],
        &["GET"],
        &["LRANGE", "0", "-1"],
        &["HGETALL"],
        &["SMEMBERS"],
        &["ZRANGE", "0", "-1", "WITHSCORES"],
        &["XRANGE", "-", "+"],
    ];
    reads
        .iter()
        .map(|r| {
            let mut c: Vec<String> = r.iter().map(|w| w.to_string()).collect();
            c.insert(if r[0] == "OBJECT" { 2 } else { 1 }, key.to_string());
            c
        })
        .collect()
}

#[test]
fn random_commands_answer_as_one_redis_server() {
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());
    // A blocked client's timeout is noticed when the server's event loop wakes: at
    // the default 10 Hz an idle server sleeps up to 100 ms. At 100 Hz the blocking
    // commands (timeouts of a millisecond or so) cost the test seconds less.
    let redis = Standalone::start_with(&["--hz", "100"]);
    let hz = connect(&proxy.addr).cmd(&["CONFIG", "SET", "hz", "100"]);
    assert_eq!(hz, Value::ok(), "CONFIG SET hz on every node through slotway");
    let seed = seed();
    // Two RESP2 clients and one RESP3 client on the same data.
    let mut pairs: Vec<Pair> =
        [false, false, true].iter().map(|&r3| Pair::open(&proxy.addr, &redis.addr, r3)).collect();
    run(&mut pairs, (&proxy.addr, &redis.addr), seed, steps());
}

/// The connection and server commands a client library sends, and their misuse, in
/// a fixed order (`differential/connection.rs`), in RESP2 and in RESP3.
#[test]
fn connection_commands_answer_as_one_redis_server() {
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());
    let redis = Standalone::start();
    let mut diffs = Vec::new();
    for resp3 in [false, true] {
        let mut pair = Pair::open(&proxy.addr, &redis.addr, resp3);
        let proto = if resp3 { "RESP3" } else { "RESP2" };
        diffs.extend(connection::run(&mut pair).into_iter().map(|d| format!("{proto} {d}")));
    }
    assert!(diffs.is_empty(), "{} differences from a standalone redis-server:\n{}", diffs.len(), diffs.join("\n"));
}
