//! One client's pipelined commands on one key keep their order while the key's slot
//! moves: a `GET` sent after a `SET` must see the `SET`, as on a single Redis, even
//! when slotway learns the new owner between the two.
//!
//! Scripted with `DEBUG SLEEP` on the old owner, so the `SET` is still waiting there
//! (to be answered `MOVED`) when slotway's topology refresh completes and the `GET`
//! is routed straight to the new owner.

mod support;

use std::time::{Duration, Instant};

use support::{TestCluster, Value, admin_ok, connect, keyslot, move_slot, slot_owners, start_slotway_with};

/// How many `CLUSTER SLOTS` a node has answered.
fn cluster_slots_calls(node: &str) -> u64 {
    let info = connect(node).cmd(&["INFO", "commandstats"]).text().unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("cmdstat_cluster|slots:calls="))
        .map_or(0, |rest| rest.split(',').next().unwrap().parse().unwrap())
}

#[test]
fn a_get_pipelined_after_a_set_sees_it_while_the_slot_moves() {
    let cluster = TestCluster::start();
    let mut config = slotway::Config::with_seeds(cluster.addrs());
    config.refresh_interval_s = 3600; // only redirects refresh the topology
    let proxy = start_slotway_with(config);

    let key = "{race}key";
    let slot = keyslot(&cluster.seed(), key);
    let owners = slot_owners(&cluster.seed());
    let src = owners[slot as usize].clone();
    let primaries = cluster.primaries();
    let dst = primaries.iter().find(|p| **p != src).unwrap().clone();
    let third = primaries.iter().find(|p| **p != src && **p != dst).unwrap().clone();
    // A second slot, owned by the third primary, whose MOVED will make slotway refresh.
    let trigger =
        (0..).map(|i| format!("{{trigger{i}}}")).find(|k| owners[keyslot(&src, k) as usize] == third).unwrap();
    let trigger_slot = keyslot(&src, &trigger);

    let mut client = connect(&proxy.addr);
    assert_eq!(client.cmd(&["SET", key, "old"]), Value::ok());
    assert_eq!(client.cmd(&["SET", &trigger, "t"]), Value::ok());

    // Both slots move behind slotway's back.
    move_slot(&cluster, slot, &src, &dst, &[key]);
    move_slot(&cluster, trigger_slot, &third, &dst, &[&trigger]);
    let others: Vec<String> = cluster.addrs().into_iter().filter(|a| *a != src).collect();
    let refreshes_before: u64 = others.iter().map(|n| cluster_slots_calls(n)).sum();

    // The old owner stalls; the SET reaches it and waits there. A longer node timeout
    // first, so the cluster does not fail the sleeping node over meanwhile.
    for node in cluster.addrs() {
        admin_ok(&node, &["CONFIG", "SET", "cluster-node-timeout", "30000"]);
    }
    let mut sleeper = connect(&src);
    sleeper.send(b"*3\r\n$5\r\nDEBUG\r\n$5\r\nSLEEP\r\n$1\r\n4\r\n");
    std::thread::sleep(Duration::from_millis(100));
    client.send(b"*3\r\n$3\r\nSET\r\n$9\r\n{race}key\r\n$3\r\nnew\r\n");

    // Another client's command hits a MOVED, and slotway refreshes its topology
    // from a node that is not asleep.
    assert_eq!(connect(&proxy.addr).cmd(&["GET", &trigger]), Value::bulk("t"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while others.iter().map(|n| cluster_slots_calls(n)).sum::<u64>() == refreshes_before {
        assert!(Instant::now() < deadline, "slotway did not refresh its topology");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(100)); // the reply parsed and the snapshot stored

    // Now the GET, pipelined behind the SET that is still waiting on the old owner.
    client.send(b"*2\r\n$3\r\nGET\r\n$9\r\n{race}key\r\n");
    assert_eq!(client.read_reply(), Value::ok(), "SET");
    assert_eq!(client.read_reply(), Value::bulk("new"), "GET after SET on one connection must see the SET");
    assert_eq!(sleeper.read_reply(), Value::ok());
}
