//! Nodes that die under slotway, against a real cluster (cluster-node-timeout 2 s):
//!
//! - a primary killed with `kill -9` while clients write: its replica is promoted, and
//!   slotway's first successful write to the dead primary's slots comes within 2 s of
//!   the promotion, while the other shards keep serving;
//! - seeds that are down at start: a dead seed is skipped, and with only dead seeds
//!   `slotway::serve` returns an error naming each of them;
//! - a primary that dies with no replica to replace it: its commands fail quickly with
//!   a clear error, and the other commands of the same pipeline succeed, in order.
//!
//! The measured figures are printed (`--no-capture` shows them).

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use support::{
    Cmd, TestCluster, Value, cluster_nodes, cmd, connect, keyslots, kill9, pipeline, slot_owners, start_slotway,
};

/// The `--node-timeout` `TestCluster::start` gives the cluster.
const NODE_TIMEOUT: Duration = Duration::from_millis(2000);
/// How long slotway may take to follow a promotion the cluster has made.
const FOLLOW_LIMIT: Duration = Duration::from_secs(2);
/// Upper bound on any wait for the cluster to do something.
const CLUSTER_WAIT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------
// Cluster helpers

/// The replica of the primary with id `primary_id`, as a live node sees it.
fn replica_of(cluster: &TestCluster, primary_id: &str) -> String {
    let nodes = cluster_nodes(&cluster.seed()).expect("seed answers CLUSTER NODES");
    nodes
        .into_iter()
        .find(|n| n.master_id.as_deref() == Some(primary_id) && n.has_flag("slave"))
        .map(|n| n.addr)
        .unwrap_or_else(|| panic!("no replica of {primary_id}"))
}

/// Does `observer` see the node `id` with flag `flag` (e.g. "master", "fail")?
fn sees_flag(observer: &str, id: &str, flag: &str) -> bool {
    cluster_nodes(observer).is_some_and(|nodes| nodes.iter().any(|n| n.id == id && n.has_flag(flag)))
}

/// `per_owner` keys `<prefix>:<n>` on each primary, in distinct slots, keyed by owner.
fn keys_by_owner(node: &str, prefix: &str, per_owner: usize) -> HashMap<String, Vec<String>> {
    let owners = slot_owners(node);
    let candidates: Vec<String> = (0..3000).map(|i| format!("{prefix}:{i}")).collect();
    let bytes: Vec<Vec<u8>> = candidates.iter().map(|k| k.as_bytes().to_vec()).collect();
    let slots = keyslots(node, &bytes);
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    let mut used = std::collections::HashSet::new();
    for (key, slot) in candidates.into_iter().zip(slots) {
        let list = out.entry(owners[slot as usize].clone()).or_default();
        if list.len() < per_owner && used.insert(slot) {
            list.push(key);
        }
    }
    assert!(out.values().all(|l| l.len() == per_owner), "not enough keys per primary");
    out
}

/// Is `text` one of the errors a client may see while a node is dead: Redis's own
/// CLUSTERDOWN, or slotway's "unreachable" / "lost the connection" / timeout.
fn is_clear_failover_error(text: &str) -> bool {
    text.starts_with("CLUSTERDOWN ")
        || text.starts_with("TRYAGAIN ")
        || (text.starts_with("ERR slotway lost the connection to node ") && text.ends_with("may or may not have run"))
        || (text.starts_with("ERR node ")
            && text.ends_with("did not reply in time; the command may or may not have run"))
}

// ---------------------------------------------------------------------------------
// 1. A primary killed while clients write

/// One command a writer sent, and what came back.
#[derive(Debug, Clone)]
struct Op {
    sent: Instant,
    done: Instant,
    /// `Err(text)` for an error reply.
    result: Result<(), String>,
}

/// Writes through slotway to `keys` (all on one shard) until `stop`: `SET` of unique
/// values and `INCR` of a counter, each reply checked against its request. Pushes
/// every outcome to `log`; returns the acknowledged SET values and the last INCR.
fn shard_writer(
    proxy: String,
    keys: Vec<String>,
    counter: String,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Op>>>,
) -> (HashMap<String, String>, i64) {
    let mut conn = connect(&proxy);
    let mut acked: HashMap<String, String> = HashMap::new();
    let mut last_incr = 0i64;
    let hard_deadline = Instant::now() + Duration::from_secs(90);
    for n in 0..200_000u64 {
        if stop.load(Ordering::Relaxed) || Instant::now() > hard_deadline {
            break;
        }
        let sent = Instant::now();
        let result = if n % 2 == 0 {
            let key = &keys[(n as usize / 2) % keys.len()];
            let value = format!("{key}:value:{n}");
            match conn.cmd(&["SET", key, &value]) {
                v if v == Value::ok() => {
                    acked.insert(key.clone(), value);
                    Ok(())
                }
                Value::Error(e) => Err(e),
                other => panic!("SET {key} answered {other:?}: a reply to another request"),
            }
        } else {
            match conn.cmd(&["INCR", &counter]) {
                Value::Int(v) => {
                    // An INCR whose reply was lost may have run: more than +1 is fine,
                    // going back or standing still is not.
                    assert!(v > last_incr, "INCR {counter} answered {v} after {last_incr}");
                    last_incr = v;
                    Ok(())
                }
                Value::Error(e) => Err(e),
                other => panic!("INCR {counter} answered {other:?}: a reply to another request"),
            }
        };
        log.lock().unwrap().push(Op { sent, done: Instant::now(), result });
        thread::sleep(Duration::from_millis(3));
    }
    (acked, last_incr)
}

#[test]
fn a_killed_primary_is_replaced_and_slotway_follows_the_promotion_within_two_seconds() {
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());
    let primaries = cluster.primaries();
    let victim = primaries[0].clone();
    let victim_id = cluster.node_id(&victim);
    let replica = replica_of(&cluster, &victim_id);
    let replica_id = cluster.node_id(&replica);
    let observer = primaries[1].clone(); // a primary that survives
    let keys = keys_by_owner(&cluster.seed(), "failover", 6);

    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for primary in &primaries {
        let mut shard_keys = keys[primary].clone();
        let counter = shard_keys.pop().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (p, s, l) = (proxy.addr.clone(), stop.clone(), log.clone());
        let handle = thread::spawn(move || shard_writer(p, shard_keys, counter, s, l));
        writers.push((primary.clone(), log, handle));
    }

    // Every shard works before the kill.
    thread::sleep(Duration::from_secs(1));
    for (primary, log, _) in &writers {
        let log = log.lock().unwrap();
        assert!(
            !log.is_empty() && log.iter().all(|op| op.result.is_ok()),
            "writes to {primary} before the kill: {log:?}"
        );
    }

    kill9(&victim);
    let killed_at = Instant::now();

    // Watch the promotion: the replica's own view and a surviving primary's.
    let mut promoted_self = None;
    let mut promoted_seen = None;
    let mut failed_seen = None;
    while promoted_seen.is_none() || promoted_self.is_none() {
        assert!(killed_at.elapsed() < CLUSTER_WAIT, "no promotion of {replica} within {CLUSTER_WAIT:?}");
        if failed_seen.is_none() && sees_flag(&observer, &victim_id, "fail") {
            failed_seen = Some(Instant::now());
        }
        if promoted_self.is_none()
            && let Value::Array(role) = connect(&replica).cmd(&["ROLE"])
            && role.first() == Some(&Value::bulk("master"))
        {
            promoted_self = Some(Instant::now());
        }
        if promoted_seen.is_none() && sees_flag(&observer, &replica_id, "master") {
            promoted_seen = Some(Instant::now());
        }
        thread::sleep(Duration::from_millis(10));
    }
    let (promoted_self, promoted_seen) = (promoted_self.unwrap(), promoted_seen.unwrap());

    // Wait (bounded) for slotway's first success on the dead shard, then a little more.
    let victim_log = writers.iter().find(|(p, _, _)| *p == victim).unwrap().1.clone();
    let first_success = |log: &[Op]| log.iter().find(|op| op.sent >= killed_at && op.result.is_ok()).map(|op| op.done);
    let deadline = killed_at + CLUSTER_WAIT;
    let recovered = loop {
        if let Some(t) = first_success(&victim_log.lock().unwrap()) {
            break t;
        }
        assert!(
            Instant::now() < deadline,
            "no write to {victim}'s slots succeeded within {CLUSTER_WAIT:?} of the kill"
        );
        thread::sleep(Duration::from_millis(10));
    };
    thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);

    let mut results = Vec::new();
    for (primary, log, handle) in writers {
        let (acked, last_incr) = handle.join().expect("writer thread");
        let log = std::mem::take(&mut *log.lock().unwrap());
        results.push((primary, log, acked, last_incr));
    }

    let secs = |d: Duration| d.as_secs_f64();
    let victim_ops = &results.iter().find(|r| r.0 == victim).unwrap().1;
    let victim_errors: Vec<&Op> = victim_ops.iter().filter(|op| op.sent >= killed_at && op.result.is_err()).collect();
    let first_error = victim_errors.first().map(|op| op.done).expect("writes to the dead primary failed for a while");
    eprintln!(
        "failover: kill -> FAIL flag {:.3}s, kill -> promotion {:.3}s (replica's own view {:.3}s), \
         promotion -> first slotway success {:.3}s, kill -> first slotway success {:.3}s, \
         {} errors on the dead shard during the failover",
        failed_seen.map_or(f64::NAN, |t| secs(t - killed_at)),
        secs(promoted_seen - killed_at),
        secs(promoted_self - killed_at),
        secs(recovered.saturating_duration_since(promoted_seen)),
        secs(recovered - killed_at),
        victim_errors.len(),
    );
    let mut kinds: HashMap<String, usize> = HashMap::new();
    for op in &victim_errors {
        let e = op.result.as_ref().unwrap_err();
        assert!(is_clear_failover_error(e), "unclear error on the dead shard: {e:?}");
        *kinds.entry(e.split(" 127.0.0.1").next().unwrap().to_string()).or_default() += 1;
    }
    eprintln!("failover: dead-shard errors by kind: {kinds:?}");

    assert!(
        recovered <= promoted_seen + FOLLOW_LIMIT,
        "slotway's first success on the dead shard came {:.3}s after the promotion (limit {FOLLOW_LIMIT:?})",
        secs(recovered.saturating_duration_since(promoted_seen))
    );
    let cluster_failover = promoted_seen - killed_at;
    assert!(recovered - killed_at < NODE_TIMEOUT + FOLLOW_LIMIT + cluster_failover);

    // The other shards kept working while the dead one failed; their only errors can
    // be the cluster's own CLUSTERDOWN while it had a slot without a live primary.
    for (primary, ops, _, _) in results.iter().filter(|r| r.0 != victim) {
        let during = ops.iter().filter(|op| op.sent >= first_error && op.done <= recovered);
        let ok = during.clone().filter(|op| op.result.is_ok()).count();
        let errors: Vec<&String> = ops.iter().filter_map(|op| op.result.as_ref().err()).collect();
        eprintln!(
            "failover: shard {primary}: {ok} successful writes while the dead shard failed, {} errors",
            errors.len()
        );
        assert!(ok > 0, "no write to {primary} succeeded while {victim}'s slots failed");
        for e in errors {
            assert_eq!(e, "CLUSTERDOWN The cluster is down", "error on the live shard {primary}");
        }
    }

    // Acknowledged data is there, read through slotway and on the new owner.
    for (primary, _, acked, last_incr) in &results {
        let mut conn = connect(&proxy.addr);
        for (key, value) in acked {
            assert_eq!(conn.cmd(&["GET", key]), Value::bulk(value), "acknowledged SET {key} (shard of {primary})");
        }
        let counter = keys[primary].last().unwrap();
        let now = match conn.cmd(&["GET", counter]) {
            Value::Bulk(b) => String::from_utf8(b).unwrap().parse::<i64>().unwrap(),
            other => panic!("GET {counter}: {other:?}"),
        };
        assert!(now >= *last_incr, "counter {counter} is {now}, an INCR acknowledged {last_incr}");
    }
    let new_owner = slot_owners(&observer);
    let slots = keyslots(&observer, &[keys[&victim][0].as_bytes().to_vec()]);
    assert_eq!(new_owner[slots[0] as usize], replica, "the replica owns the dead primary's slots");
}

// ---------------------------------------------------------------------------------
// 2. Seeds that are down at start

/// A port nothing listens on (bound, then released).
fn dead_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);
    addr
}

#[test]
fn slotway_starts_when_the_first_seed_is_down() {
    let cluster = TestCluster::start();
    let dead = dead_addr();
    let started = Instant::now();
    let proxy = start_slotway(vec![dead.clone(), cluster.seed()]);
    let keys = keys_by_owner(&cluster.seed(), "seed", 5);
    let all: Vec<&String> = keys.values().flatten().collect();
    let sets: Vec<Cmd> = all.iter().map(|k| cmd(["SET", k.as_str(), &format!("v-{k}")])).collect();
    let gets: Vec<Cmd> = all.iter().map(|k| cmd(["GET", k.as_str()])).collect();
    for (k, r) in all.iter().zip(pipeline(&proxy.addr, &sets)) {
        assert_eq!(r, Value::ok(), "SET {k} with {dead} as the first seed");
    }
    eprintln!("seeds: serving {} keys on all shards {:.3}s after start", all.len(), started.elapsed().as_secs_f64());
    for (k, r) in all.iter().zip(pipeline(&proxy.addr, &gets)) {
        assert_eq!(r, Value::bulk(&format!("v-{k}")), "GET {k}");
    }
}

#[test]
fn serve_fails_naming_every_seed_when_none_answers() {
    let refused = dead_addr();
    // Accepts connections (the kernel's backlog) but never answers: a hung node.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap().to_string();
    let mut config = slotway::Config::with_seeds([refused.clone(), silent_addr.clone()]);
    config.connect_timeout_ms = 300;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let started = Instant::now();
    let result = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        tokio::time::timeout(Duration::from_secs(20), slotway::serve(listener, config, std::future::pending())).await
    });
    let elapsed = started.elapsed();
    let err = match result {
        Err(_) => panic!("serve with only dead seeds did not return within 20 s"),
        Ok(Ok(())) => panic!("serve with only dead seeds returned Ok"),
        Ok(Err(e)) => e.to_string(),
    };
    eprintln!("seeds: serve returned after {:.3}s: {err}", elapsed.as_secs_f64());
    assert!(err.contains(&refused), "the error names the refusing seed {refused}: {err}");
    assert!(err.contains(&silent_addr), "the error names the silent seed {silent_addr}: {err}");
    assert!(elapsed < Duration::from_secs(5), "serve took {elapsed:?} to give up");
    drop(silent);
}

// ---------------------------------------------------------------------------------
// 3. A primary that is gone and not replaced

/// Sends one pipeline mixing live-shard commands and dead-shard commands and checks
/// each reply against its own request. Returns the pipeline's round-trip time.
fn mixed_pipeline_round(
    proxy: &str,
    live: &[String],
    dead: &str,
    counter: &str,
    round: usize,
    incr: &mut i64,
) -> Duration {
    let v = |k: &str| format!("{k}:round:{round}");
    let mut cmds: Vec<Cmd> = Vec::new();
    #[derive(Debug)]
    enum Want {
        Ok,
        Bulk(String),
        Int(i64),
        DeadError,
    }
    let mut want = Vec::new();
    for k in live {
        cmds.push(cmd(["SET", k, &v(k)]));
        want.push(Want::Ok);
        cmds.push(cmd(["SET", dead, "never stored"]));
        want.push(Want::DeadError);
        cmds.push(cmd(["GET", k]));
        want.push(Want::Bulk(v(k)));
        cmds.push(cmd(["INCR", counter]));
        *incr += 1;
        want.push(Want::Int(*incr));
        cmds.push(cmd(["GET", dead]));
        want.push(Want::DeadError);
    }
    let started = Instant::now();
    let replies = pipeline(proxy, &cmds);
    let took = started.elapsed();
    for (i, (got, want)) in replies.iter().zip(&want).enumerate() {
        let what = format!("round {round}, reply {i} to {:?}", String::from_utf8_lossy(&cmds[i].join(&b' ')));
        match (want, got) {
            (Want::Ok, got) => assert_eq!(got, &Value::ok(), "{what}"),
            (Want::Bulk(s), got) => assert_eq!(got, &Value::bulk(s), "{what}"),
            (Want::Int(n), got) => assert_eq!(got, &Value::Int(*n), "{what}"),
            (Want::DeadError, Value::Error(e)) => assert!(is_clear_failover_error(e), "{what}: unclear error {e:?}"),
            (Want::DeadError, got) => panic!("{what}: expected an error from the dead shard, got {got:?}"),
        }
    }
    took
}

#[test]
fn an_unreplaced_dead_primary_fails_fast_while_other_shards_serve_the_same_pipeline() {
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());
    let primaries = cluster.primaries();
    let victim = primaries[2].clone();
    let victim_id = cluster.node_id(&victim);
    let replica = replica_of(&cluster, &victim_id);
    let keys = keys_by_owner(&cluster.seed(), "orphan", 3);
    let dead_key = keys[&victim][0].clone();
    let live: Vec<String> = primaries.iter().filter(|p| **p != victim).flat_map(|p| keys[p][..2].to_vec()).collect();
    let counter = keys[&primaries[0]][2].clone();
    let observer = primaries[0].clone();

    // The rest of the cluster keeps serving when some slots have no live primary.
    for node in cluster.addrs() {
        let reply = connect(&node).cmd(&["CONFIG", "SET", "cluster-require-full-coverage", "no"]);
        assert_eq!(reply, Value::ok(), "CONFIG SET on {node}");
    }
    let mut incr = 0i64;
    mixed_pipeline_round_all_ok(&proxy.addr, &live, &dead_key);

    kill9(&replica);
    kill9(&victim);
    let killed_at = Instant::now();

    // Right after the kill (before the cluster notices) and after the cluster has
    // marked the primary as failed, until a few seconds later: slotway must answer
    // the dead slots fast, and everything else in order.
    let mut rounds = 0;
    let mut slowest = Duration::ZERO;
    let mut marked_failed_at = None;
    let mut single_slowest = Duration::ZERO;
    let deadline = killed_at + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "the cluster did not mark {victim} as failed within 30 s");
        let took = mixed_pipeline_round(&proxy.addr, &live, &dead_key, &counter, rounds, &mut incr);
        slowest = slowest.max(took);
        assert!(took < Duration::from_secs(2), "round {rounds}: the mixed pipeline took {took:?}");
        let started = Instant::now();
        let single = connect(&proxy.addr).cmd(&["SET", &dead_key, "x"]);
        let single_took = started.elapsed();
        single_slowest = single_slowest.max(single_took);
        assert!(
            single.is_error() && is_clear_failover_error(&single.text().unwrap()),
            "SET on the dead shard: {single:?}"
        );
        assert!(single_took < Duration::from_secs(2), "SET on the dead shard took {single_took:?}");
        rounds += 1;
        if marked_failed_at.is_none() && sees_flag(&observer, &victim_id, "fail") {
            marked_failed_at = Some(Instant::now());
        }
        if marked_failed_at.is_some_and(|t| t.elapsed() > Duration::from_secs(4)) {
            break;
        }
        thread::sleep(Duration::from_millis(100));
    }
    let last_error = connect(&proxy.addr).cmd(&["GET", &dead_key]);
    eprintln!(
        "orphan: {rounds} mixed pipelines over {:.1}s (FAIL flag after {:.3}s); slowest pipeline {:.3}s, \
         slowest single dead-shard command {:.3}s; the dead shard answers: {last_error:?}",
        killed_at.elapsed().as_secs_f64(),
        (marked_failed_at.unwrap() - killed_at).as_secs_f64(),
        slowest.as_secs_f64(),
        single_slowest.as_secs_f64(),
    );
}

/// Before the kill: every command of the mixed pipeline succeeds, the dead-to-be key too.
fn mixed_pipeline_round_all_ok(proxy: &str, live: &[String], dead: &str) {
    let mut cmds: Vec<Cmd> = live.iter().map(|k| cmd(["SET", k, "before"])).collect();
    cmds.push(cmd(["SET", dead, "before"]));
    for r in pipeline(proxy, &cmds) {
        assert_eq!(r, Value::ok());
    }
}
