//! A bounded chaos run against a real cluster (cluster-node-timeout 2 s): four client
//! threads write through slotway and record every acknowledged write, while the
//! harness, one step at a time, moves 500 slots between primaries, kills a primary
//! with `kill -9` and waits for its replica's promotion, restarts the killed node (it
//! rejoins as a replica) and moves 500 slots again. At the end every acknowledged
//! write is read back through slotway and straight from the node that owns its slot.
//!
//! Errors are allowed only inside the windows where the harness is changing the
//! cluster (a reshard, a failover and the 2 s slotway may take to follow it, a node's
//! restart); outside them there must be none.

mod support;

use std::collections::HashMap;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use support::{
    RawConn, TestCluster, Value, cluster_nodes, cmd, connect, encode, get_from_owners, pipeline, port_of, process_id,
    send_kill9, start_slotway,
};

const THREADS: usize = 4;
const COUNTERS_PER_THREAD: usize = 16;
/// Operations per thread at most (the run is bounded by time long before).
const MAX_OPS: u64 = 200_000;
/// Pause between two operations of one thread: keeps the write count verifiable.
const PACE: Duration = Duration::from_millis(2);
/// Undisturbed time before, between and after the harness's steps.
const QUIET: Duration = Duration::from_secs(6);
/// After a promotion, the time slotway may take to follow it.
const FOLLOW: Duration = Duration::from_secs(2);
/// Bound on any wait for the cluster.
const CLUSTER_WAIT: Duration = Duration::from_secs(30);
const RESHARD_SLOTS: &str = "500";

// ---------------------------------------------------------------------------------
// The workload

/// What one client thread saw.
#[derive(Default)]
struct WorkerLog {
    /// SETs answered `+OK`: key -> value (each key is written once).
    sets: Vec<(String, String)>,
    /// The last value an INCR of each counter answered.
    counters: HashMap<String, i64>,
    /// Operations answered with success.
    acknowledged: u64,
    /// Error replies: (sent, answered, text).
    errors: Vec<(Instant, Instant, String)>,
    /// Replies that cannot belong to their request, and lost client connections.
    broken: Vec<String>,
}

/// Alternates `INCR ctr:<t>:<j>` (16 counters, spread over slots) and `SET` of a new
/// key `set:<t>:<n>` to a unique value, one request at a time, until `stop`.
fn worker(proxy: String, t: usize, stop: Arc<AtomicBool>) -> WorkerLog {
    let mut log = WorkerLog::default();
    let mut conn: RawConn = connect(&proxy);
    let hard_deadline = Instant::now() + Duration::from_secs(100);
    for n in 0..MAX_OPS {
        if stop.load(Ordering::Relaxed) || Instant::now() > hard_deadline {
            break;
        }
        let sent = Instant::now();
        if n % 2 == 0 {
            let key = format!("ctr:{t}:{}", (n / 2) % COUNTERS_PER_THREAD as u64);
            conn.send(&encode(&cmd(["INCR", &key])));
            match conn.try_read_reply() {
                Ok(Value::Int(v)) => {
                    let last = log.counters.entry(key.clone()).or_insert(0);
                    // A lost reply may hide an INCR that ran: jumps are fine, going back is not.
                    if v <= *last {
                        log.broken.push(format!("INCR {key} answered {v} after {last}"));
                    }
                    *last = v;
                    log.acknowledged += 1;
                }
                Ok(Value::Error(e)) => log.errors.push((sent, Instant::now(), e)),
                Ok(other) => log.broken.push(format!("INCR {key} answered {other:?}")),
                Err(e) => {
                    log.broken.push(format!("INCR {key}: no reply: {e}"));
                    conn = connect(&proxy);
                }
            }
        } else {
            let key = format!("set:{t}:{n}");
            let value = format!("value of {key}");
            conn.send(&encode(&cmd(["SET", &key, &value])));
            match conn.try_read_reply() {
                Ok(v) if v == Value::ok() => {
                    log.sets.push((key, value));
                    log.acknowledged += 1;
                }
                Ok(Value::Error(e)) => log.errors.push((sent, Instant::now(), e)),
                Ok(other) => log.broken.push(format!("SET {key} answered {other:?}")),
                Err(e) => {
                    log.broken.push(format!("SET {key}: no reply: {e}"));
                    conn = connect(&proxy);
                }
            }
        }
        thread::sleep(PACE);
    }
    log
}

// ---------------------------------------------------------------------------------
// The harness's steps

/// A time span in which the harness was changing the cluster.
struct Window {
    what: String,
    start: Instant,
    end: Instant,
}

fn redis_cli(args: &[&str]) -> Output {
    Command::new("redis-cli").args(args).stdin(std::process::Stdio::null()).output().expect("run redis-cli")
}

/// Waits until `redis-cli --cluster check` finds all nodes agreeing and every slot covered.
fn wait_cluster_agrees(node: &str) {
    let deadline = Instant::now() + CLUSTER_WAIT;
    loop {
        let out = redis_cli(&["--cluster", "check", node]);
        let text = String::from_utf8_lossy(&out.stdout);
        if out.status.success()
            && text.contains("[OK] All nodes agree about slots configuration.")
            && text.contains("[OK] All 16384 slots covered.")
            && !text.contains("[ERR]")
            && !text.contains("[WARNING]")
        {
            return;
        }
        assert!(Instant::now() < deadline, "the cluster did not settle within {CLUSTER_WAIT:?}:\n{text}");
        thread::sleep(Duration::from_millis(200));
    }
}

/// Moves 500 slots from `from` to `to` with `redis-cli --cluster reshard`.
fn reshard(cluster: &TestCluster, from: &str, to: &str) -> Window {
    wait_cluster_agrees(from);
    let (from_id, to_id) = (cluster.node_id(from), cluster.node_id(to));
    let start = Instant::now();
    let out = redis_cli(&[
        "--cluster",
        "reshard",
        from,
        "--cluster-from",
        &from_id,
        "--cluster-to",
        &to_id,
        "--cluster-slots",
        RESHARD_SLOTS,
        "--cluster-yes",
    ]);
    let end = Instant::now();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && !text.contains("[ERR]"),
        "reshard {from} -> {to} failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let moved = text.lines().filter(|l| l.starts_with("Moving slot ")).count();
    eprintln!("chaos: moved {moved} slots {from} -> {to} in {:.3}s", (end - start).as_secs_f64());
    Window { what: format!("reshard {from} -> {to}"), start, end }
}

/// Kills `victim` with `kill -9` and waits until `observer` (a surviving primary)
/// reports its replica as a master. Returns the window and the promoted replica.
fn kill_and_fail_over(observer: &str, victim: &str) -> (Window, String) {
    let victim_id = connect(victim).cmd(&["CLUSTER", "MYID"]).text().unwrap();
    let (replica_id, replica) = cluster_nodes(observer)
        .expect("CLUSTER NODES text")
        .into_iter()
        .find(|n| n.master_id.as_deref() == Some(victim_id.as_str()) && n.has_flag("slave"))
        .map(|n| (n.id, n.addr))
        .unwrap_or_else(|| panic!("no replica of {victim}"));
    let pid = process_id(victim);
    let start = Instant::now();
    send_kill9(pid, victim);
    let promoted = loop {
        let promoted = cluster_nodes(observer)
            .expect("CLUSTER NODES text")
            .iter()
            .any(|n| n.id == replica_id && n.has_flag("master"));
        if promoted {
            break Instant::now();
        }
        assert!(
            start.elapsed() < CLUSTER_WAIT,
            "{replica} was not promoted within {CLUSTER_WAIT:?} of killing {victim}"
        );
        thread::sleep(Duration::from_millis(20));
    };
    eprintln!("chaos: killed {victim} (pid {pid}); {replica} promoted after {:.3}s", (promoted - start).as_secs_f64());
    (Window { what: format!("failover of {victim} to {replica}"), start, end: promoted + FOLLOW }, replica)
}

/// Starts the killed node again from its own folder and config; waits until it is a
/// replica whose link to its primary is up (it has synced).
fn restart(cluster: &TestCluster, addr: &str) -> Window {
    let conf = cluster.dir().join(port_of(addr)).join("redis.conf");
    let start = Instant::now();
    let status = Command::new(cluster.server()).arg(&conf).status().expect("run the server");
    assert!(status.success(), "{} {}", cluster.server().display(), conf.display());
    let end = loop {
        let synced = std::net::TcpStream::connect(addr).is_ok() && {
            let info = connect(addr).cmd(&["INFO", "replication"]).text().unwrap_or_default();
            info.contains("role:slave") && info.contains("master_link_status:up")
        };
        if synced {
            break Instant::now();
        }
        assert!(start.elapsed() < CLUSTER_WAIT, "{addr} did not rejoin as a synced replica within {CLUSTER_WAIT:?}");
        thread::sleep(Duration::from_millis(50));
    };
    eprintln!("chaos: restarted {addr}; a synced replica after {:.3}s", (end - start).as_secs_f64());
    Window { what: format!("restart of {addr}"), start, end }
}

// ---------------------------------------------------------------------------------

#[test]
fn acknowledged_writes_survive_reshards_a_failover_and_a_rejoin() {
    let run_started = Instant::now();
    let cluster = TestCluster::start();
    let proxy = start_slotway(cluster.addrs());

    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (p, s) = (proxy.addr.clone(), stop.clone());
            thread::spawn(move || worker(p, t, s))
        })
        .collect();
    let started = Instant::now();
    let mut windows = Vec::new();

    thread::sleep(QUIET);
    let primaries = cluster.primaries();
    let (a, b) = (primaries[0].clone(), primaries[1].clone());
    windows.push(reshard(&cluster, &a, &b));

    thread::sleep(QUIET);
    // Only kill once every node, the victim's replica included, knows the new slot
    // owners: a replica that missed the last slot's update would leave it uncovered
    // after the failover (a Redis Cluster race, seen once here), not a slotway fault.
    wait_cluster_agrees(&a);
    // The primary that just received slots dies; `a` survives and watches.
    let (window, promoted) = kill_and_fail_over(&a, &b);
    windows.push(window);

    thread::sleep(QUIET);
    windows.push(restart(&cluster, &b));

    thread::sleep(QUIET);
    windows.push(reshard(&cluster, &promoted, &a));

    thread::sleep(QUIET);
    stop.store(true, Ordering::Relaxed);
    let logs: Vec<WorkerLog> = workers.into_iter().map(|w| w.join().expect("worker thread")).collect();
    let workload_time = started.elapsed();

    // What the clients saw.
    let acknowledged: u64 = logs.iter().map(|l| l.acknowledged).sum();
    let broken: Vec<&String> = logs.iter().flat_map(|l| &l.broken).collect();
    let errors: Vec<&(Instant, Instant, String)> = logs.iter().flat_map(|l| &l.errors).collect();
    let in_window = |sent: Instant, answered: Instant| windows.iter().any(|w| sent <= w.end && answered >= w.start);
    let outside: Vec<&&(Instant, Instant, String)> = errors.iter().filter(|(s, a, _)| !in_window(*s, *a)).collect();
    for w in &windows {
        let during: Vec<_> = errors.iter().filter(|(s, a, _)| *s <= w.end && *a >= w.start).collect();
        let last = during.iter().map(|(_, a, _)| *a).max();
        eprintln!(
            "chaos: window {:.1}s..{:.1}s {}: {} errors{}",
            (w.start - started).as_secs_f64(),
            (w.end - started).as_secs_f64(),
            w.what,
            during.len(),
            last.map_or(String::new(), |t| format!(
                ", the last {:.3}s after the window opened",
                (t - w.start).as_secs_f64()
            )),
        );
    }
    let mut kinds: HashMap<String, usize> = HashMap::new();
    for (_, _, e) in &errors {
        *kinds.entry(e.split(" 127.0.0.1").next().unwrap().to_string()).or_default() += 1;
    }
    eprintln!("chaos: errors by kind: {kinds:?}");
    for (s, a, e) in outside.iter().take(10) {
        eprintln!(
            "chaos: error outside the windows, sent at {:.3}s, answered at {:.3}s: {e}",
            (*s - started).as_secs_f64(),
            (*a - started).as_secs_f64()
        );
    }

    // Every acknowledged write, read back through slotway and from the owning node.
    wait_cluster_agrees(&a);
    let node = cluster.primaries()[0].clone();
    let sets: Vec<&(String, String)> = logs.iter().flat_map(|l| &l.sets).collect();
    let set_keys: Vec<Vec<u8>> = sets.iter().map(|(k, _)| k.as_bytes().to_vec()).collect();
    let via_slotway = pipeline(&proxy.addr, &sets.iter().map(|(k, _)| cmd(["GET", k])).collect::<Vec<_>>());
    let direct = get_from_owners(&node, &set_keys);
    let mut lost = Vec::new();
    for (((key, value), got), (owner, on_node)) in sets.iter().zip(&via_slotway).zip(&direct) {
        if *got != Value::bulk(value) || *on_node != Value::bulk(value) {
            lost.push(format!("SET {key}: slotway has {got:?}, {owner} has {on_node:?}, acknowledged {value:?}"));
        }
    }
    let counters: Vec<(&String, i64)> = logs.iter().flat_map(|l| l.counters.iter().map(|(k, v)| (k, *v))).collect();
    let counter_keys: Vec<Vec<u8>> = counters.iter().map(|(k, _)| k.as_bytes().to_vec()).collect();
    let via_slotway = pipeline(&proxy.addr, &counters.iter().map(|(k, _)| cmd(["GET", k])).collect::<Vec<_>>());
    let direct = get_from_owners(&node, &counter_keys);
    let as_int = |v: &Value| v.text().and_then(|t| t.parse::<i64>().ok());
    for (((key, last), got), (owner, on_node)) in counters.iter().zip(&via_slotway).zip(&direct) {
        let ok = |v: &Value| as_int(v).is_some_and(|n| n >= *last);
        if !ok(got) || !ok(on_node) {
            lost.push(format!(
                "counter {key}: slotway has {got:?}, {owner} has {on_node:?}, an INCR acknowledged {last}"
            ));
        }
    }
    for l in lost.iter().take(10) {
        eprintln!("chaos: LOST {l}");
    }

    let windows_note = if outside.is_empty() {
        "all during failover windows".to_string()
    } else {
        format!("{} outside failover windows", outside.len())
    };
    eprintln!(
        "chaos: {} sets and {} counters verified; workload ran {:.1}s, whole test {:.1}s",
        sets.len(),
        counters.len(),
        workload_time.as_secs_f64(),
        run_started.elapsed().as_secs_f64()
    );
    eprintln!("acknowledged {acknowledged} writes, lost {}, errors {} ({windows_note})", lost.len(), errors.len());

    assert!(broken.is_empty(), "replies that do not fit their request: {broken:?}");
    assert_eq!(lost.len(), 0, "acknowledged writes lost: {lost:?}");
    assert!(outside.is_empty(), "{} errors while the harness was not changing the cluster", outside.len());
    assert!(acknowledged > 1000, "the workload barely ran: {acknowledged} acknowledged writes");
    for e in &errors {
        let e = &e.2;
        assert!(
            e.starts_with("CLUSTERDOWN ")
                || e.starts_with("TRYAGAIN ")
                || e.starts_with("ERR slotway lost the connection to node ")
                || e.contains("did not reply in time"),
            "an error that does not say what happened: {e:?}"
        );
    }
}
