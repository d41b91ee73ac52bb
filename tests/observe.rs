//! slotway's own slow log and hot keys against a real cluster: `SLOTWAY SLOWLOG`
//! in Redis's `SLOWLOG` format (entries with arguments, client address and name;
//! `LEN`, `RESET`), `SLOTWAY HOTKEYS`, and both in `/metrics`.

mod support;

use support::{TestCluster, Value, array, bulk, cmd, connect, int, pipeline, sample, scrape, start_with_admin_and};

/// One slow log entry's fields: (id, duration µs, arguments, client address, client name).
fn entry(v: &Value) -> (i64, i64, Vec<String>, String, String) {
    let fields = array(v);
    assert_eq!(fields.len(), 6, "{v:?}");
    let text = |v: &Value| String::from_utf8(bulk(v)).unwrap();
    assert!(int(&fields[1]) > 1_600_000_000, "a unix time: {v:?}");
    (int(&fields[0]), int(&fields[2]), array(&fields[3]).iter().map(text).collect(), text(&fields[4]), text(&fields[5]))
}

#[test]
fn slowlog_with_threshold_zero_logs_every_command_with_its_client() {
    let cluster = TestCluster::start();
    let (proxy, admin) = start_with_admin_and(&cluster, |c| c.slowlog_log_slower_than = 0);
    let mut client = connect(&proxy.addr);
    let me = client.local_addr();
    assert_eq!(client.cmd(&["CLIENT", "SETNAME", "slow-test"]), Value::ok());
    let long = "x".repeat(200);
    assert_eq!(client.cmd(&["SET", "slow:k", &long]), Value::ok());
    assert_eq!(client.cmd(&["GET", "slow:k"]), Value::bulk(&long));
    // An unknown command and a refused one are not executed: not logged, as in Redis.
    assert!(client.cmd(&["NOSUCHCOMMAND"]).is_error());

    let entries = array(&client.cmd(&["SLOTWAY", "SLOWLOG", "GET"]));
    assert_eq!(entries.len(), 3, "{entries:?}");
    let (get_id, get_us, get_args, addr, name) = entry(&entries[0]);
    assert_eq!(get_args, ["GET", "slow:k"]);
    assert_eq!(addr, me.to_string(), "the client's own address");
    assert_eq!(name, "slow-test");
    assert!(get_us >= 0);
    let (set_id, _, set_args, ..) = entry(&entries[1]);
    assert_eq!(set_id + 1, get_id, "newest first, consecutive ids");
    assert_eq!(set_args[2], format!("{}... (72 more bytes)", "x".repeat(128)), "cut as Redis cuts");
    assert_eq!(entry(&entries[2]).2, ["CLIENT", "SETNAME", "slow-test"]);
    assert_eq!(array(&client.cmd(&["SLOTWAY", "SLOWLOG", "GET", "1"])).len(), 1);
    assert!(client.cmd(&["SLOTWAY", "SLOWLOG", "GET", "-2"]).is_error());

    // The three SLOTWAY SLOWLOG GETs above were logged too (the failed one as
    // well: it ran), each once its reply left.
    assert_eq!(client.cmd(&["SLOTWAY", "SLOWLOG", "LEN"]), Value::Int(6));
    let metrics = scrape(&admin);
    assert_eq!(sample(&metrics, "slotway_slowlog_entries_total", &[]), 7.0, "the LEN too");
    assert_eq!(sample(&metrics, "slotway_slowlog_length", &[]), 7.0);
    assert_eq!(client.cmd(&["SLOTWAY", "SLOWLOG", "RESET"]), Value::ok());
    // RESET itself is logged after it ran, as Redis logs SLOWLOG RESET.
    assert_eq!(client.cmd(&["SLOTWAY", "SLOWLOG", "LEN"]), Value::Int(1));
    // The nodes' own slow logs are still what plain SLOWLOG shows.
    assert!(matches!(client.cmd(&["SLOWLOG", "LEN"]), Value::Int(_)));
    assert!(client.cmd(&["SLOTWAY", "SLOWLOG", "NOPE"]).is_error());
}

#[test]
fn slowlog_is_off_at_minus_one_and_skips_fast_commands_by_default() {
    let cluster = TestCluster::start();
    let (proxy, _admin) = start_with_admin_and(&cluster, |c| c.slowlog_log_slower_than = -1);
    let mut client = connect(&proxy.addr);
    assert_eq!(client.cmd(&["SET", "slow:off", "v"]), Value::ok());
    assert_eq!(client.cmd(&["SLOTWAY", "SLOWLOG", "LEN"]), Value::Int(0));
    drop(client);
    drop(proxy);
    // The default (10 ms): a plain GET on a local cluster is far below it.
    let (proxy, _admin) = start_with_admin_and(&cluster, |_| {});
    let mut client = connect(&proxy.addr);
    for _ in 0..20 {
        client.cmd(&["GET", "slow:off"]);
    }
    assert!(int(&client.cmd(&["SLOTWAY", "SLOWLOG", "LEN"])) < 5, "GETs over 10 ms on localhost");
}

#[test]
fn hot_keys_find_the_hammered_key_first() {
    let cluster = TestCluster::start();
    let (proxy, admin) = start_with_admin_and(&cluster, |c| c.hotkeys_sample_rate = 1);
    // One key asked for 1,000 times among 100 others asked for 3 times each.
    let mut cmds = Vec::new();
    for i in 0..1000 {
        cmds.push(cmd(["GET", "hot:key"]));
        if i % 10 == 0 {
            for j in 0..3 {
                cmds.push(cmd(["GET".to_string(), format!("cold:{}", (i / 10 + j * 37) % 100)]));
            }
        }
    }
    assert_eq!(pipeline(&proxy.addr, &cmds).len(), 1300);

    let mut client = connect(&proxy.addr);
    let top = array(&client.cmd(&["SLOTWAY", "HOTKEYS", "3"]));
    assert_eq!(top.len(), 3, "{top:?}");
    let first = array(&top[0]);
    assert_eq!(bulk(&first[0]), b"hot:key");
    // Space-Saving never underestimates; it overestimates by at most the smallest
    // counter when a key enters a full sketch (here the hot key entered first).
    assert_eq!(int(&first[1]), 1000, "{top:?}");
    assert!(int(&array(&top[1])[1]) < 50, "{top:?}");
    assert!(client.cmd(&["SLOTWAY", "HOTKEYS", "0"]).is_error());

    let metrics = scrape(&admin);
    assert_eq!(sample(&metrics, "slotway_hot_key_requests", &[("key", "hot:key")]), 1000.0);
    let series = metrics.samples.iter().filter(|s| s.metric == "slotway_hot_key_requests").count();
    assert_eq!(series, 10, "the ten hottest keys, no more");
    let info = client.cmd(&["INFO", "slotway"]).text().unwrap();
    assert!(info.contains("hotkey0:key=hot:key,requests=1000\r\n"), "{info}");
}
