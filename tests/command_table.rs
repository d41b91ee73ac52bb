//! Every command the connected Redis knows has a decided behaviour in slotway's
//! table (and docs/commands.md, generated from it): a newer server with commands the
//! table does not know makes this test fail instead of slotway guessing.

mod support;

use support::*;

#[test]
fn every_command_of_the_connected_server_has_a_decided_behaviour() {
    let cluster = TestCluster::start();
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
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/commands.md")).unwrap();
    let undecided: Vec<&String> =
        names.iter().filter(|n| slotway::command::table::lookup(n.as_bytes()).is_none()).collect();
    assert!(undecided.is_empty(), "commands without a decided behaviour: {undecided:?}");
    for name in &names {
        let row = format!("| `{}` |", name.replace('|', " "));
        assert!(docs.contains(&row), "docs/commands.md has no row for {name}");
    }
}
