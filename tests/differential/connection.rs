//! A fixed sequence of the connection and server commands a client library sends
//! (PING, ECHO, HELLO, AUTH, CLIENT, COMMAND, TIME, OBJECT ..., and their misuse),
//! compared reply for reply in RESP2 and RESP3. Where the reply differs by nature
//! only its shape is compared (see [`shape`]).
//!
//! Left out, and why:
//! - `DEBUG` (but `DEBUG OBJECT <key>`): slotway refuses it, it acts on one node
//!   (`tests/client_commands.rs`); a server runs it.
//! - `SELECT` of another database: a cluster has only database 0 (and slotway
//!   answers `SELECT -1` as a cluster node does: not allowed in cluster mode, where
//!   one server finds the index out of range).
//! - `CLIENT KILL` and `UNBLOCK` (slotway refuses them: they act on one node) and
//!   `CLIENT TRACKING` (client-side caching: not supported yet, refused; `CACHING`,
//!   `GETREDIR` and `TRACKINGINFO` answer as for a client without tracking, and are
//!   compared).
//! - `CLIENT NO-TOUCH` and `SETINFO`: Redis 7.2's, which slotway answers on
//!   purpose (client libraries send them on connect; `command/table.rs`) where a
//!   7.0 server answers an unknown subcommand.

use super::compare::{Pair, show};
use super::support::{Reply, decode};
use super::workload::{Cmd, Send, Step};

/// How a step's replies are compared.
#[derive(Clone, Copy)]
pub enum How {
    /// Reply for reply, as the random steps are (`Pair::compare`).
    Exact,
    /// Up to an ECHO marker (HELLO, CLIENT REPLY, subscribed mode, RESET).
    Session,
    /// Only the reply's shape ([`shape`]).
    Shape,
}

fn c(words: &[&str]) -> Cmd {
    words.iter().map(|w| w.to_string()).collect()
}

/// The steps, in order (one connection each protocol; the connection's state
/// carries over from step to step).
pub fn steps() -> Vec<(How, Vec<Cmd>)> {
    use How::*;
    let long = "x".repeat(300);
    let mut steps = vec![
        // Some data, in several slots.
        (
            Exact,
            vec![c(&["SET", "k1", "v"]), c(&["SET", "k2", "v"]), c(&["SET", "{d}k3", "v"]), c(&["LPUSH", "l1", "a"])],
        ),
        (Exact, vec![c(&["PING"]), c(&["PING", "hi"]), c(&["PING", "a", "b"]), c(&["ping", ""])]),
        (Exact, vec![c(&["ECHO", "x"]), c(&["ECHO"]), c(&["ECHO", "a", "b"]), c(&["ECHO", ""])]),
        // AUTH with no password set (error texts).
        (Exact, vec![c(&["AUTH", "pw"]), c(&["AUTH", "default", "pw"]), c(&["AUTH", "nobody", "pw"]), c(&["AUTH"])]),
        (Exact, vec![c(&["AUTH", "a", "b", "c"])]),
        // HELLO and its errors.
        (Session, vec![c(&["HELLO"])]),
        (Session, vec![c(&["HELLO", "2"])]),
        (Session, vec![c(&["HELLO", "3"]), c(&["PING"]), c(&["HELLO", "2"])]),
        (Session, vec![c(&["HELLO", "4"]), c(&["HELLO", "0"]), c(&["HELLO", "x"]), c(&["HELLO", "2", "x"])]),
        (Session, vec![c(&["HELLO", "3", "SETNAME", "lib"]), c(&["CLIENT", "GETNAME"]), c(&["HELLO", "2"])]),
        (Session, vec![c(&["HELLO", "2", "SETNAME", "bad name"]), c(&["CLIENT", "GETNAME"])]),
        (Session, vec![c(&["HELLO", "2", "AUTH", "default", "pw"]), c(&["HELLO", "2", "AUTH", "default", ""])]),
        (Session, vec![c(&["HELLO", "3", "AUTH", "nobody", "pw", "SETNAME", "n"]), c(&["HELLO", "2", "AUTH"])]),
        (Session, vec![c(&["HELLO", "2", "SETNAME"]), c(&["HELLO", "2", "NOPE", "x"])]),
        // Names.
        (
            Exact,
            vec![
                c(&["CLIENT", "GETNAME"]),
                c(&["CLIENT", "SETNAME", "a b"]),
                c(&["CLIENT", "SETNAME", "a\nb"]),
                c(&["CLIENT", "SETNAME", "ok-name"]),
                c(&["CLIENT", "GETNAME"]),
                c(&["CLIENT", "SETNAME", ""]),
                c(&["CLIENT", "GETNAME"]),
                c(&["CLIENT", "SETNAME"]),
                c(&["CLIENT", "SETNAME", "a", "b"]),
                c(&["CLIENT", "GETNAME", "x"]),
            ],
        ),
        (Shape, vec![c(&["CLIENT", "ID"]), c(&["CLIENT", "INFO"]), c(&["CLIENT", "LIST"]), c(&["TIME"])]),
        (Shape, vec![c(&["CLIENT", "LIST", "TYPE", "normal"]), c(&["COMMAND", "INFO", "client", "config"])]),
        (Shape, vec![c(&["COMMAND", "INFO"])]),
        (Exact, vec![c(&["CLIENT", "ID", "x"]), c(&["CLIENT", "INFO", "x"]), c(&["TIME", "x"])]),
        (
            Exact,
            vec![
                c(&["CLIENT", "NO-EVICT", "on"]),
                c(&["CLIENT", "NO-EVICT", "off"]),
                c(&["CLIENT", "NO-EVICT", "maybe"]),
                c(&["CLIENT", "NO-EVICT"]),
            ],
        ),
        (
            Exact,
            vec![
                c(&["CLIENT", "GETREDIR"]),
                c(&["CLIENT", "GETREDIR", "x"]),
                c(&["CLIENT", "TRACKINGINFO"]),
                c(&["CLIENT", "CACHING", "yes"]),
                c(&["CLIENT", "CACHING", "maybe"]),
                c(&["CLIENT", "CACHING"]),
            ],
        ),
        (
            Session,
            vec![c(&["CLIENT", "REPLY", "OFF"]), c(&["PING"]), c(&["ECHO", "lost"]), c(&["CLIENT", "REPLY", "ON"])],
        ),
        (Session, vec![c(&["CLIENT", "REPLY", "SKIP"]), c(&["PING"]), c(&["PING", "kept"])]),
        (Session, vec![c(&["CLIENT", "REPLY", "MAYBE"]), c(&["CLIENT", "REPLY"])]),
        // Subscribed mode: PING answers as a message in RESP2.
        (
            Session,
            vec![
                c(&["SUBSCRIBE", "conn-c1"]),
                c(&["PING"]),
                c(&["PING", "sub"]),
                c(&["ECHO", "x"]),
                c(&["CLIENT", "GETNAME"]),
                c(&["UNSUBSCRIBE"]),
                c(&["PING"]),
            ],
        ),
        (
            Session,
            vec![c(&["SUBSCRIBE", "conn-c2"]), c(&["HELLO", "2"]), c(&["CLIENT", "SETNAME", "x"]), c(&["RESET"])],
        ),
        (Session, vec![c(&["PSUBSCRIBE", "conn-*"]), c(&["PING", "x", "y"]), c(&["PUNSUBSCRIBE"])]),
        // In a transaction.
        (
            Exact,
            vec![
                c(&["MULTI"]),
                c(&["PING"]),
                c(&["ECHO", "e"]),
                c(&["PING", "a", "b"]),
                c(&["NOSUCH"]),
                c(&["EXEC"]),
                c(&["MULTI"]),
                c(&["PING"]),
                c(&["ECHO", "e"]),
                c(&["EXEC"]),
            ],
        ),
        // COMMAND.
        (
            Exact,
            vec![
                c(&["COMMAND", "COUNT"]),
                c(&["COMMAND", "INFO", "get", "nosuch"]),
                c(&["COMMAND", "INFO", "set"]),
                c(&["COMMAND", "INFO", "eval"]),
                c(&["COMMAND", "INFO", "config|get"]),
                c(&["COMMAND", "GETKEYS", "SET", "a", "b"]),
                c(&["COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2"]),
                c(&["COMMAND", "GETKEYS", "GET"]),
                c(&["COMMAND", "GETKEYS", "PING"]),
                c(&["COMMAND", "GETKEYS", "NOSUCH", "a"]),
                c(&["COMMAND", "GETKEYS"]),
                c(&["COMMAND", "GETKEYSANDFLAGS", "LMOVE", "a", "b", "LEFT", "RIGHT"]),
                c(&["COMMAND", "DOCS", "get"]),
                c(&["COMMAND", "DOCS", "nosuch"]),
                c(&["COMMAND", "COUNT", "x"]),
                c(&["COMMAND", "DOCS", "get", "nosuch", "set"]),
                c(&["COMMAND", "LIST", "FILTERBY", "PATTERN", "nosuch*"]),
                c(&["COMMAND", "LIST", "FILTERBY", "NOPE", "x"]),
                c(&["COMMAND", "GETKEYS", "EVAL", "return 1", "2", "a", "b"]),
                c(&["COMMAND", "GETKEYS", "EVAL", "return 1", "5", "a"]),
                c(&["COMMAND", "GETKEYS", "ZUNIONSTORE", "d", "2", "a", "b", "WEIGHTS", "1", "2"]),
                c(&["COMMAND", "GETKEYS", "XREAD", "STREAMS", "a", "b", "0", "0"]),
            ],
        ),
        // Keys across slots.
        (
            Exact,
            vec![
                c(&["DBSIZE"]),
                c(&["EXISTS", "k1", "k2", "{d}k3", "missing", "k1"]),
                c(&["TOUCH", "k1", "k2", "{d}k3", "missing"]),
                c(&["EXISTS"]),
                c(&["TYPE", "k1"]),
                c(&["TYPE", "l1"]),
                c(&["TYPE", "missing"]),
                c(&["DBSIZE", "x"]),
            ],
        ),
        // OBJECT: the policy is not LFU (FREQ's error); an idle time is a clock's.
        (
            Exact,
            vec![
                c(&["OBJECT", "FREQ", "k1"]),
                c(&["OBJECT", "FREQ", "missing"]),
                c(&["OBJECT", "REFCOUNT", "k1"]),
                c(&["OBJECT", "REFCOUNT", "missing"]),
                c(&["OBJECT", "IDLETIME", "missing"]),
                c(&["OBJECT", "ENCODING", "l1"]),
                c(&["OBJECT", "REFCOUNT"]),
                c(&["OBJECT", "REFCOUNT", "k1", "k2"]),
            ],
        ),
        (Shape, vec![c(&["OBJECT", "IDLETIME", "k1"]), c(&["LASTSAVE"])]),
        (
            Exact,
            vec![
                c(&["ACL", "WHOAMI"]),
                c(&["ACL", "WHOAMI", "x"]),
                c(&["LASTSAVE", "x"]),
                c(&["ECHO", "\0\u{ff}\r\n"]),
            ],
        ),
        (Exact, vec![c(&["SELECT", "0"]), c(&["SELECT", "x"]), c(&["SELECT"])]),
        (
            Exact,
            vec![
                c(&["CONFIG", "GET"]),
                c(&["CONFIG", "SET", "maxmemory-policy"]),
                c(&["CONFIG", "SET", "nosuch", "1"]),
                c(&["PUBSUB", "CHANNELS", "a", "b"]),
                c(&["PUBSUB", "NUMPAT", "x"]),
                c(&["SCRIPT", "EXISTS"]),
                c(&["SCRIPT", "FLUSH", "MAYBE"]),
                c(&["FUNCTION", "LIST"]),
                c(&["FUNCTION", "DELETE", "nosuch"]),
                c(&["FUNCTION", "FLUSH", "MAYBE"]),
                c(&["MEMORY", "USAGE"]),
                c(&["MEMORY", "USAGE", "missing"]),
                c(&["MEMORY", "USAGE", "k1", "SAMPLES", "x"]),
                c(&["OBJECT", "HELP", "x"]),
            ],
        ),
        (Session, vec![c(&["CLIENT", "SETNAME", "r"]), c(&["RESET"]), c(&["CLIENT", "GETNAME"]), c(&["RESET", "x"])]),
    ];
    // Wrong arity and unknown subcommands of the container commands.
    let mut misuse = Vec::new();
    for container in ["CLIENT", "COMMAND", "CONFIG", "OBJECT", "MEMORY", "PUBSUB", "SCRIPT", "FUNCTION", "ACL", "XINFO"]
    {
        misuse.push(c(&[container, "NOPE"]));
        misuse.push(c(&[container, "nope", "a", "b"]));
        if container != "COMMAND" {
            misuse.push(c(&[container]));
        }
    }
    steps.push((Exact, misuse));
    // Unknown commands with odd arguments: the error quotes the first ones, cut short.
    steps.push((
        Exact,
        vec![
            c(&["NOSUCH"]),
            c(&["nosuch", "a", "b c", ""]),
            c(&["NOSUCH", &long, "b"]),
            c(&["NOSUCH", "a\r\nb", "'q'"]),
            c(&["NO SUCH", "x"]),
            c(&["", "x"]),
            c(&["CONFIG|GET", "x"]),
            c(&["CLIENT|ID"]),
        ],
    ));
    steps
}

/// What is compared of a reply that differs by nature:
/// - `CLIENT ID`: an integer (each server counts its own connections);
/// - `CLIENT INFO` / `LIST`: the type, and each line's field names (ids,
///   addresses, ages and sizes are each server's);
/// - `TIME`: two integers as bulk strings (the clocks run apart);
/// - `OBJECT IDLETIME`, `LASTSAVE`: an integer;
/// - `COMMAND INFO`: the commands (when it lists all) and a container's subcommands
///   sorted (each server lists them in its hash table's order, by its random seed).
///
/// And a difference slotway keeps: it answers Redis 7.2's `CLIENT SETINFO` (client
/// libraries send it on connect), so its `CLIENT INFO` and `LIST` lines end with
/// 7.2's `lib-name=` and `lib-ver=`; those two fields are not compared.
pub fn shape(cmd: &[String], reply: Reply) -> Reply {
    if cmd[0] == "COMMAND" {
        let Reply::Array(mut commands) = reply else { return reply };
        // All of them: in the order of each server's table.
        if cmd.len() == 2 {
            commands.sort();
        }
        let sorted = |info: Reply| match info {
            Reply::Array(mut fields) if fields.len() == 10 => {
                if let Reply::Array(subs) = &mut fields[9] {
                    subs.sort();
                }
                Reply::Array(fields)
            }
            other => other,
        };
        return Reply::Array(commands.into_iter().map(sorted).collect());
    }
    let fields = |text: &[u8]| {
        let text = String::from_utf8_lossy(text);
        let lines: Vec<String> = text
            .lines()
            .map(|line| {
                let names = line.split(' ').map(|f| f.split('=').next().unwrap_or(""));
                names.filter(|n| !["lib-name", "lib-ver"].contains(n)).collect::<Vec<_>>().join(" ")
            })
            .collect();
        lines.join("\n").into_bytes()
    };
    let digits =
        |b: &[u8]| if !b.is_empty() && b.iter().all(u8::is_ascii_digit) { b"<digits>".to_vec() } else { b.to_vec() };
    match reply {
        Reply::Int(_) => Reply::Int(0),
        Reply::Bulk(text) if text.contains(&b'=') => Reply::Bulk(fields(&text)),
        Reply::Verbatim(format, text) => Reply::Verbatim(format, fields(&text)),
        Reply::Array(items) => Reply::Array(
            items.into_iter().map(|r| if let Reply::Bulk(b) = r { Reply::Bulk(digits(&b)) } else { r }).collect(),
        ),
        other => other,
    }
}

/// Runs [`steps`] on `pair`; a line per difference.
pub fn run(pair: &mut Pair) -> Vec<String> {
    let mut diffs = Vec::new();
    for (how, cmds) in steps() {
        match how {
            How::Exact => diffs.extend(pair.compare(&Step { cmds, how: Send::OneByOne })),
            How::Session => diffs.extend(pair.compare(&Step { cmds, how: Send::Uncounted })),
            How::Shape => {
                for cmd in cmds {
                    let (p, r) = (pair.proxy.cmd_bytes(&cmd), pair.redis.cmd_bytes(&cmd));
                    let typed = |b: &[u8]| shape(&cmd, decode(b).expect("a whole reply").0);
                    if typed(&p) != typed(&r) {
                        diffs.push(format!("{cmd:?} (shape)\n    slotway: {}\n    redis:   {}", show(&p), show(&r)));
                    }
                }
            }
        }
        pair.restore_protocol();
        if pair.broken {
            diffs.push("a reply never came; the sequence ends here".into());
            break;
        }
    }
    // QUIT: +OK, then the connection closes.
    let (p, r) = (pair.proxy.cmd(&["QUIT"]), pair.redis.cmd(&["QUIT"]));
    if p != r {
        diffs.push(format!("QUIT\n    slotway: {}\n    redis:   {}", show(&p), show(&r)));
    }
    let (p, r) = (pair.proxy.try_reply().is_err(), pair.redis.try_reply().is_err());
    if p != r {
        diffs.push(format!("after QUIT, connection closed: slotway {p}, redis {r}"));
    }
    diffs
}
