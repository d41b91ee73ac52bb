//! Request -> what to do with it: forward to a slot's primary, answer locally, or reject.

use super::commands::CommandTable;
use super::keys::{request_slot, whole_pairs};
use super::table::{CommandSpec, Local, Route, flag};
use crate::command::combine::Combine;
use crate::error::CommandError;
use crate::protocol::request::Args;

#[derive(Debug)]
pub enum Action {
    /// Send the request bytes to the primary of `slot` (any primary when `None`).
    Forward { slot: Option<u16> },
    /// A read-only command for `slot`: to a replica where `--read-from` allows.
    Read { slot: u16 },
    /// Keys span slots: one request per slot, replies merged (`fanout::split`).
    Split,
    /// `PUBLISH`: to any primary, its count of receivers corrected (`Hub::publish_adjustment`).
    Publish,
    /// Send to every primary (and replica, if `replicas`), merge the replies.
    Broadcast { combine: Combine, replicas: bool },
    /// A command that may block: sent on a connection leased for it.
    Blocking { slot: Option<u16> },
    /// One step of a cluster-wide `SCAN`.
    Scan,
    /// Answer from slotway's own state.
    Local(Local),
    /// Reply with this error; nothing is sent to a node.
    Reject(CommandError),
}

/// Longest command name looked up; longer names are unknown commands.
const MAX_NAME: usize = 64;

/// By the built-in table (Redis 7.0's commands).
pub fn classify(args: Args<'_>) -> (Action, Option<&'static CommandSpec>) {
    classify_after(args, &mut None)
}

/// [`classify_in`] the built-in table.
pub fn classify_after(
    args: Args<'_>,
    last: &mut Option<&'static CommandSpec>,
) -> (Action, Option<&'static CommandSpec>) {
    classify_in(args, last, CommandTable::builtin_ref())
}

/// [`classify`] by `table`, for a client that remembers its last command: pipelines
/// repeat the same command, and comparing its name with the last one's is cheaper
/// than a lookup in the table (about 150 instructions per request). `last` must
/// come from the same table.
pub fn classify_in(
    args: Args<'_>,
    last: &mut Option<&'static CommandSpec>,
    table: &CommandTable,
) -> (Action, Option<&'static CommandSpec>) {
    let spec = match *last {
        Some(spec) if spec.name.as_bytes().eq_ignore_ascii_case(args.get(0)) => {
            if spec.arity_ok(args.len()) {
                Ok(spec)
            } else {
                Err(CommandError::WrongArity(spec.name.to_string()))
            }
        }
        _ => find_spec_in(args, table).inspect(|spec| {
            // Containers (`CLIENT ...`) are looked up again: the subcommand decides.
            *last = (spec.route != Route::Container && !spec.name.contains('|')).then_some(*spec);
        }),
    };
    match spec {
        Err(e) => (Action::Reject(e), None),
        Ok(spec) => (reads_apart(route(spec, args), spec), Some(spec)),
    }
}

/// [`find_spec_in`] the built-in table.
pub fn find_spec(args: Args<'_>) -> Result<&'static CommandSpec, CommandError> {
    find_spec_in(args, CommandTable::builtin_ref())
}

/// The command (or subcommand) entry for a request, with Redis's errors for unknown
/// names and wrong argument counts.
pub fn find_spec_in(args: Args<'_>, table: &CommandTable) -> Result<&'static CommandSpec, CommandError> {
    let mut name = [0u8; 2 * MAX_NAME + 1];
    let cmd = args.get(0);
    let unknown = || CommandError::unknown_command(cmd, &args.iter().skip(1).collect::<Vec<_>>());
    // A subcommand's full name (`config|get`) names no command: Redis looks the
    // name up as it is, and only COMMAND INFO and the like read the `|`.
    if cmd.len() > MAX_NAME || cmd.contains(&b'|') {
        return Err(unknown());
    }
    let cmd_lower = name.get_mut(..cmd.len()).ok_or_else(unknown)?;
    lower_into(cmd_lower, cmd);
    let mut spec = table.lookup(cmd_lower).ok_or_else(unknown)?;
    if spec.route == Route::Container && args.len() >= 2 {
        let sub = args.get(1);
        let unknown_sub = || CommandError::UnknownSubcommand {
            cmd: String::from_utf8_lossy(cmd).to_uppercase(),
            sub: String::from_utf8_lossy(sub.get(..128).unwrap_or(sub)).into_owned(),
        };
        if sub.len() > MAX_NAME {
            return Err(unknown_sub());
        }
        // `name` holds 2 * MAX_NAME + 1 bytes: room for `cmd|sub`, both checked above.
        let full = name.get_mut(..cmd.len() + 1 + sub.len()).ok_or_else(unknown_sub)?;
        if let Some((bar, sub_lower)) = full.get_mut(cmd.len()..).and_then(<[u8]>::split_first_mut) {
            *bar = b'|';
            lower_into(sub_lower, sub);
        }
        spec = table.lookup(full).ok_or_else(unknown_sub)?;
    }
    if !spec.arity_ok(args.len()) {
        return Err(CommandError::WrongArity(spec.name.to_string()));
    }
    Ok(spec)
}

fn lower_into(dst: &mut [u8], src: &[u8]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = s.to_ascii_lowercase();
    }
}

/// A read-only command with a slot may go to a replica: the table's `readonly`
/// flag decides, not the caller.
fn reads_apart(action: Action, spec: &CommandSpec) -> Action {
    match action {
        Action::Forward { slot: Some(slot) } if spec.is(flag::READONLY) => Action::Read { slot },
        action => action,
    }
}

fn route(spec: &'static CommandSpec, args: Args<'_>) -> Action {
    match spec.route {
        Route::Splittable => match request_slot(spec, args) {
            Ok(slot) => Action::Forward { slot },
            // Not in one slot, so slotway answers for the server it stands for.
            Err(CommandError::CrossSlot) if !whole_pairs(spec, args) => {
                Action::Reject(CommandError::WrongArity(spec.name.into()))
            }
            Err(CommandError::CrossSlot) => Action::Split,
            Err(e) => Action::Reject(e),
        },
        Route::Broadcast { combine, replicas } => Action::Broadcast { combine, replicas },
        Route::Scan => Action::Scan,
        Route::DebugObject if args.get(1).eq_ignore_ascii_case(b"object") && args.len() == 3 => {
            Action::Forward { slot: Some(crate::cluster::slot::hash_slot(args.get(2))) }
        }
        Route::DebugObject => Action::Reject(CommandError::Unsupported(
            "debug".into(),
            "only DEBUG OBJECT <key> goes through slotway; the rest acts on one node",
        )),
        Route::SlotArgument => match crate::protocol::parse_int(args.get(2)) {
            Some(slot) if (0..crate::cluster::slot::SLOT_COUNT as i64).contains(&slot) => {
                Action::Forward { slot: Some(slot as u16) }
            }
            // Not a slot: any node answers with Redis's own error for it.
            _ => Action::Forward { slot: None },
        },
        Route::Keys | Route::Movable(_) | Route::Specs(_) => match request_slot(spec, args) {
            Ok(slot) if spec.is(flag::BLOCKING) && would_block(spec, args) => Action::Blocking { slot },
            Ok(slot) => Action::Forward { slot },
            Err(e) => Action::Reject(e),
        },
        Route::AnyPrimary => Action::Forward { slot: None },
        Route::Publish => Action::Publish,
        Route::Local(local) => Action::Local(local),
        Route::Refused(why) => Action::Reject(CommandError::Unsupported(spec.name.into(), why)),
        // Only `COMMAND` (arity -1) passes the arity check without a subcommand: bare,
        // it lists every command (cluster clients such as redis-py ask for it first),
        // and any node gives that answer.
        Route::Container if spec.name == "command" => Action::Forward { slot: None },
        // Any other container without a subcommand was caught by the arity check.
        Route::Container => Action::Reject(CommandError::WrongArity(spec.name.into())),
    }
}

/// XREAD/XREADGROUP block only with a BLOCK option; the others always may.
fn would_block(spec: &CommandSpec, args: Args<'_>) -> bool {
    match spec.name {
        "xread" | "xreadgroup" => args
            .iter()
            .skip(1)
            .take_while(|a| !a.eq_ignore_ascii_case(b"streams"))
            .any(|a| a.eq_ignore_ascii_case(b"block")),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::request::RequestParser;
    use bytes::BytesMut;

    /// The spec name (or the error) for each request, classified in turn with one
    /// remembered last command, as a client's session does.
    fn in_turn(requests: &[&[&str]]) -> Vec<String> {
        let mut last = None;
        requests
            .iter()
            .map(|words| {
                let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
                let mut buf = BytesMut::from(&crate::protocol::encode::command(&args)[..]);
                let mut p = RequestParser::new(1 << 20);
                let raw = p.next(&mut buf).unwrap().unwrap();
                match classify_after(Args::new(&raw, p.args()), &mut last) {
                    (Action::Reject(e), _) => e.to_string(),
                    (_, spec) => spec.map_or("-".into(), |s| s.name.to_string()),
                }
            })
            .collect()
    }

    #[test]
    fn the_last_command_is_reused_only_when_it_decides_alone() {
        let got = in_turn(&[
            &["GET", "a"],
            &["get", "b"],
            &["GET"],
            &["COMMAND"],
            &["COMMAND", "COUNT"],
            &["CLIENT", "SETNAME", "x"],
            &["CLIENT", "GETNAME"],
            &["NOSUCH"],
            &["get", "c"],
            &["SET", "k", "v"],
        ]);
        let wrong_get = CommandError::WrongArity("get".into()).to_string();
        let first = ["get", "get", wrong_get.as_str(), "command", "command|count", "client|setname", "client|getname"];
        assert_eq!(&got[..7], first);
        assert_eq!(&got[8..], ["get", "set"]);
        assert!(got[7].contains("unknown command"), "{}", got[7]);
    }

    #[test]
    fn a_subcommands_full_name_is_an_unknown_command() {
        let got = in_turn(&[&["CONFIG|GET", "x"], &["client|id"], &["CONFIG", "GET", "x"]]);
        let unknown = |cmd: &[u8], args: &[&[u8]]| CommandError::unknown_command(cmd, args).to_string();
        assert_eq!(got, [unknown(b"CONFIG|GET", &[b"x"]), unknown(b"client|id", &[]), "config|get".to_string()]);
    }
}
