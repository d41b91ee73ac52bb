//! Every command the connected server knows has a decided behaviour in the table
//! slotway routes by (and docs/commands.md, generated from it): for Redis 7.0 the
//! built-in table itself; for a newer server (Valkey 8.1, Redis 8.0) the table
//! slotway learns from its `COMMAND`, which docs/commands.md renders from a
//! recorded reply of the same version. A server with commands the docs do not list
//! (another version) makes this test fail instead of slotway's behaviour going
//! undescribed.

mod support;

use slotway::command::commands::CommandTable;
use slotway::command::learned::parse_command_reply;
use support::*;

#[test]
fn every_command_of_the_connected_server_has_a_decided_behaviour() {
    let cluster = TestCluster::start();
    let server = cluster.server_version();
    let mut node = connect(&cluster.seed());
    let Value::Array(commands) = node.cmd(&["COMMAND"]) else { panic!("COMMAND did not answer an array") };
    let mut names = Vec::new();
    for command in &commands {
        let Value::Array(fields) = command else { panic!("bad COMMAND entry {command:?}") };
        names.push(fields[0].text().expect("command name").to_lowercase());
        if let Some(Value::Array(subs)) = fields.get(9) {
            for sub in subs {
                let Value::Array(sub_fields) = sub else { continue };
                names.push(sub_fields[0].text().expect("subcommand name").to_lowercase());
            }
        }
    }
    assert!(names.len() > 200, "COMMAND listed only {} commands", names.len());

    // The table slotway builds from this server's own description, as at its start.
    let raw = RawBytesConn::connect(&cluster.seed()).cmd(&["COMMAND"]);
    let (frame, _) = redis_protocol::resp2::decode::decode(&raw[..]).unwrap().expect("a whole COMMAND reply");
    let learned = parse_command_reply(&frame).expect("COMMAND parses");
    let table = CommandTable::learn(&[learned], String::new());

    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/commands.md")).unwrap();
    let undecided: Vec<&String> = names.iter().filter(|n| table.lookup(n.as_bytes()).is_none()).collect();
    assert!(undecided.is_empty(), "commands without a decided behaviour on {server:?}: {undecided:?}");
    if server.is_redis_7_0() {
        // Redis 7.0 is what the built-in table was made from: it knows every command.
        let builtin: Vec<&String> =
            names.iter().filter(|n| slotway::command::table::lookup(n.as_bytes()).is_none()).collect();
        assert!(builtin.is_empty(), "commands the built-in table lacks: {builtin:?}");
    }
    for name in &names {
        let row = format!("| `{}` |", name.replace('|', " "));
        assert!(docs.contains(&row), "docs/commands.md has no row for {name} ({server:?})");
    }
}
