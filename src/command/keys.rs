//! Finding a request's keys, and from them its one slot.

use super::key_specs::{KeySpec, key_range};
use super::table::{CommandSpec, Local, Movable, Route};
use crate::cluster::slot::hash_slot;
use crate::error::CommandError;
use crate::protocol::request::Args;

/// The slot every key of the request hashes to; `None` for a request without keys.
/// Keys in different slots: `CROSSSLOT`, as a cluster node answers.
pub fn request_slot(spec: &CommandSpec, args: Args<'_>) -> Result<Option<u16>, CommandError> {
    // Most requests (GET, SET, INCR, HSET, ...) have one key, the first argument.
    if spec.route == Route::Keys && spec.first_key == 1 && spec.last_key == 1 && args.len() >= 2 {
        return Ok(Some(hash_slot(args.get(1))));
    }
    let mut slot = None;
    let mut result = Ok(());
    for_each_key(spec, args, |key| {
        let s = hash_slot(key);
        match slot {
            None => slot = Some(s),
            Some(prev) if prev != s => result = Err(CommandError::CrossSlot),
            _ => {}
        }
    });
    result.map(|()| slot)
}

/// Calls `f` with each key of the request, in order: the keys a cluster node finds.
/// (With an odd number of arguments, `MSET`'s and `MSETNX`'s last one counts as a
/// key: the node checks the slots before the command finds the count wrong.)
pub fn for_each_key<'a>(spec: &CommandSpec, args: Args<'a>, mut f: impl FnMut(&'a [u8])) {
    let argc = args.len() as i64;
    match spec.route {
        Route::Movable(rule) => return movable_keys(rule, args, f),
        Route::Specs(specs) => return spec_keys(specs, args, f),
        Route::Keys | Route::Splittable | Route::Local(Local::Watch | Local::SSubscribe | Local::SUnsubscribe) => {}
        _ => return,
    }
    let first = spec.first_key as i64;
    let last = if spec.last_key < 0 { argc + spec.last_key as i64 } else { spec.last_key as i64 };
    let step = spec.key_step.max(1) as usize;
    if first <= 0 || last < first {
        return;
    }
    for i in (first as usize..=(last.min(argc - 1)) as usize).step_by(step) {
        f(args.get(i));
    }
}

/// The keys the server's key specs locate, spec by spec.
fn spec_keys<'a>(specs: &[KeySpec], args: Args<'a>, mut f: impl FnMut(&'a [u8])) {
    let arg = |i: usize| args.get(i);
    for spec in specs {
        if let Some(indexes) = key_range(spec, args.len(), &arg) {
            indexes.for_each(|i| f(args.get(i)));
        }
    }
}

/// Whether a request slotway would split has whole key/value pairs (`MSET`): split
/// or not, one server answers an odd count with its own arity error when it runs
/// the command (so in `MULTI` it is queued, and fails inside `EXEC`).
pub fn whole_pairs(spec: &CommandSpec, args: Args<'_>) -> bool {
    spec.key_step <= 1 || (args.len() as i64 - spec.first_key as i64) % spec.key_step as i64 == 0
}

/// How many keys follow a `numkeys` argument, as a Redis 7.0 cluster node finds them
/// (`genericGetKeys`): C's `atoi` of it, from 1 up to the arguments left. Outside
/// that the node finds no keys and runs the command, whose own error says what is
/// wrong; slotway then sends it to any primary for that same error.
fn numkeys(args: Args<'_>, at: usize) -> usize {
    let left = args.len().saturating_sub(at + 1) as i64;
    let n = atoi(args.get(at));
    if (1..=left).contains(&n) { n as usize } else { 0 }
}

/// C's `atoi` as glibc has it: blanks, a sign, digits up to the first other byte;
/// `strtol`'s clamp to a `long`, then the cast to `int`.
fn atoi(text: &[u8]) -> i64 {
    let blanks = text.iter().take_while(|b| b" \t\n\x0b\x0c\r".contains(b)).count();
    let text = text.get(blanks..).unwrap_or_default();
    let (neg, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, text),
    };
    let mut v: i64 = 0;
    for d in digits.iter().take_while(|d| d.is_ascii_digit()) {
        let digit = i64::from(d - b'0');
        v = if neg { v.saturating_mul(10).saturating_sub(digit) } else { v.saturating_mul(10).saturating_add(digit) };
    }
    i64::from(v as i32)
}

/// The keys after a `numkeys` at `count_at`; `dest`, a destination key before it,
/// counts only when the node finds the others (Redis's `genericGetKeys`).
fn keys_after<'a>(args: Args<'a>, dest: Option<usize>, count_at: usize, f: &mut impl FnMut(&'a [u8])) {
    let n = numkeys(args, count_at);
    if n > 0 {
        dest.into_iter().chain(count_at + 1..count_at + 1 + n).for_each(|i| f(args.get(i)));
    }
}

fn movable_keys<'a>(rule: Movable, args: Args<'a>, mut f: impl FnMut(&'a [u8])) {
    match rule {
        Movable::NumkeysAt2 | Movable::TimeoutThenNumkeys => keys_after(args, None, 2, &mut f),
        Movable::NumkeysAt1 => keys_after(args, None, 1, &mut f),
        Movable::DestThenNumkeys => keys_after(args, Some(1), 2, &mut f),
        Movable::Streams => streams_keys(args, f),
        Movable::Sort => {
            f(args.get(1));
            // Options take no argument unless listed; the last STORE counts.
            let mut store = None;
            let mut i = 2;
            while i < args.len() {
                let a = args.get(i);
                if a.eq_ignore_ascii_case(b"limit") {
                    i += 2;
                } else if a.eq_ignore_ascii_case(b"get") || a.eq_ignore_ascii_case(b"by") {
                    i += 1;
                } else if a.eq_ignore_ascii_case(b"store") && i + 1 < args.len() {
                    store = Some(i + 1);
                }
                i += 1;
            }
            store.into_iter().for_each(|i| f(args.get(i)));
        }
        Movable::SortRo => f(args.get(1)),
        Movable::GeoStore => {
            f(args.get(1));
            let mut store = None;
            let mut i = 5;
            while i < args.len() {
                let a = args.get(i);
                if (a.eq_ignore_ascii_case(b"store") || a.eq_ignore_ascii_case(b"storedist")) && i + 1 < args.len() {
                    store = Some(i + 1);
                    i += 1;
                }
                i += 1;
            }
            store.into_iter().for_each(|i| f(args.get(i)));
        }
        Movable::Migrate => migrate_keys(args, f),
    }
}

/// `XREAD|XREADGROUP [BLOCK ms] [COUNT n] [GROUP g c] [NOACK] STREAMS key... id...`:
/// half the arguments after `STREAMS`. None when an unknown option comes first, or
/// the keys and ids do not pair up.
fn streams_keys<'a>(args: Args<'a>, mut f: impl FnMut(&'a [u8])) {
    let mut i = 1;
    while i < args.len() {
        let a = args.get(i);
        if a.eq_ignore_ascii_case(b"block") || a.eq_ignore_ascii_case(b"count") {
            i += 1;
        } else if a.eq_ignore_ascii_case(b"group") {
            i += 2;
        } else if a.eq_ignore_ascii_case(b"streams") {
            let rest = args.len() - i - 1;
            if rest > 0 && rest.is_multiple_of(2) {
                (i + 1..i + 1 + rest / 2).for_each(|k| f(args.get(k)));
            }
            return;
        } else if !a.eq_ignore_ascii_case(b"noack") {
            return;
        }
        i += 1;
    }
}

/// `MIGRATE host port key|"" db timeout [COPY] [REPLACE] [AUTH pw] [AUTH2 user pw]
/// [KEYS key...]`: the key (even ""), or the KEYS list when the key is "" (with a key
/// too, none: the node's syntax error).
fn migrate_keys<'a>(args: Args<'a>, mut f: impl FnMut(&'a [u8])) {
    let mut i = 6;
    while i < args.len() {
        let a = args.get(i);
        if a.eq_ignore_ascii_case(b"keys") {
            if args.get(3).is_empty() {
                (i + 1..args.len()).for_each(|k| f(args.get(k)));
            }
            return;
        } else if a.eq_ignore_ascii_case(b"auth") {
            i += 1;
        } else if a.eq_ignore_ascii_case(b"auth2") {
            i += 2;
        }
        i += 1;
    }
    if args.len() > 3 {
        f(args.get(3));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::table::lookup;
    use crate::protocol::request::RequestParser;
    use bytes::BytesMut;

    fn slot_of(words: &[&str]) -> Result<Option<u16>, CommandError> {
        let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
        let raw = crate::protocol::encode::command(&args);
        let mut p = RequestParser::new(1 << 20);
        let mut buf = BytesMut::from(&raw[..]);
        let raw = p.next(&mut buf).unwrap().unwrap();
        let spec = lookup(words[0].to_lowercase().as_bytes()).unwrap();
        request_slot(spec, Args::new(&raw, p.args()))
    }

    #[test]
    fn the_one_key_shortcut_agrees_with_the_key_rules() {
        let raw = crate::protocol::encode::command(&[&b"x"[..], b"{tag}key", b"v", b"w"]);
        let mut p = RequestParser::new(1 << 20);
        let raw = p.next(&mut BytesMut::from(&raw[..])).unwrap().unwrap();
        let args = Args::new(&raw, p.args());
        let mut checked = 0;
        for spec in crate::command::table::all().into_iter().filter(|s| s.route == Route::Keys) {
            let mut keys = Vec::new();
            for_each_key(spec, args, |k| keys.push(k));
            if spec.first_key == 1 && spec.last_key == 1 {
                assert_eq!(keys, [&b"{tag}key"[..]], "{}", spec.name);
                assert_eq!(request_slot(spec, args).unwrap(), Some(hash_slot(b"tag")), "{}", spec.name);
                checked += 1;
            }
        }
        assert!(checked > 100, "only {checked} one-key commands");
    }

    #[test]
    fn fixed_positions() {
        assert_eq!(slot_of(&["get", "foo"]).unwrap(), Some(12182));
        assert_eq!(slot_of(&["mset", "{a}1", "v", "{a}2", "v"]).unwrap(), Some(hash_slot(b"a")));
        assert!(matches!(slot_of(&["mset", "a", "v", "b", "v"]), Err(CommandError::CrossSlot)));
        // An odd MSET: its last argument is a key, as for a node (`whole_pairs` says it is odd).
        assert!(matches!(slot_of(&["mset", "a", "v", "b"]), Err(CommandError::CrossSlot)));
        assert_eq!(slot_of(&["mset", "{a}1", "v", "{a}2"]).unwrap(), Some(hash_slot(b"a")));
        assert!(matches!(slot_of(&["del", "foo", "bar"]), Err(CommandError::CrossSlot)));
    }

    #[test]
    fn movable_positions() {
        assert_eq!(slot_of(&["eval", "return 1", "0"]).unwrap(), None);
        assert_eq!(slot_of(&["eval", "s", "2", "{t}a", "{t}b", "argv"]).unwrap(), Some(hash_slot(b"t")));
        assert!(matches!(slot_of(&["eval", "s", "2", "a", "b"]), Err(CommandError::CrossSlot)));
        // A numkeys the node cannot use: no keys, any node answers with the command's error.
        assert_eq!(slot_of(&["eval", "s", "3", "a"]).unwrap(), None);
        assert_eq!(slot_of(&["sintercard", "-1", "a", "b"]).unwrap(), None);
        assert_eq!(slot_of(&["sintercard", "0", "a", "b"]).unwrap(), None);
        assert_eq!(slot_of(&["zunionstore", "d", "x", "a", "b"]).unwrap(), None, "not even the destination");
        // Where the key spec fails, Redis falls back to atoi.
        assert!(matches!(slot_of(&["sintercard", "2x", "a", "b"]), Err(CommandError::CrossSlot)));
        assert!(matches!(slot_of(&["sintercard", " +2", "a", "b"]), Err(CommandError::CrossSlot)));
        assert_eq!(slot_of(&["sintercard", "4294967297", "{t}a", "b"]).unwrap(), Some(hash_slot(b"t")), "int cast");
        assert_eq!(slot_of(&["sintercard", "99999999999999999999", "a", "b"]).unwrap(), None);
        // A numkeys that reaches into the options takes them as keys, as a node does.
        assert!(matches!(slot_of(&["sintercard", "3", "{t}a", "{t}b", "limit", "1"]), Err(CommandError::CrossSlot)));
        // MSETNX's keys are at every second position, whatever the count.
        assert!(matches!(slot_of(&["msetnx", "a", "1", "b"]), Err(CommandError::CrossSlot)));
        assert_eq!(slot_of(&["msetnx", "{t}a", "1", "{t}b"]).unwrap(), Some(hash_slot(b"t")));
        assert_eq!(slot_of(&["zunionstore", "{t}d", "2", "{t}a", "{t}b"]).unwrap(), Some(hash_slot(b"t")));
        assert!(matches!(slot_of(&["zunionstore", "d", "1", "{t}a"]), Err(CommandError::CrossSlot)));
        assert_eq!(
            slot_of(&["xread", "count", "2", "streams", "{s}1", "{s}2", "0", "0"]).unwrap(),
            Some(hash_slot(b"s"))
        );
        // STREAMS after known options, then keys and ids that pair up; else no keys.
        assert!(matches!(slot_of(&["xread", "streams", "a", "b", "0", "0"]), Err(CommandError::CrossSlot)));
        assert_eq!(slot_of(&["xread", "streams", "a", "b", "c", "0", "0"]).unwrap(), None);
        assert_eq!(slot_of(&["xread", "streams", "a"]).unwrap(), None);
        assert_eq!(slot_of(&["xread", "count", "1", "streams"]).unwrap(), None);
        assert_eq!(slot_of(&["xread", "nosuch", "streams", "a", "b", "0", "0"]).unwrap(), None);
        let group = ["xreadgroup", "group", "g", "c", "count", "1", "noack", "streams", "{s}a", "{s}b", "0", "0"];
        assert_eq!(slot_of(&group).unwrap(), Some(hash_slot(b"s")));
        // SORT: the arguments of LIMIT, GET and BY are not STORE; SORT_RO has one key.
        assert_eq!(slot_of(&["sort", "a", "get", "store", "limit", "0", "1"]).unwrap(), Some(hash_slot(b"a")));
        assert!(matches!(slot_of(&["sort", "a", "by", "store", "store", "b"]), Err(CommandError::CrossSlot)));
        assert_eq!(slot_of(&["sort_ro", "a", "store", "b"]).unwrap(), Some(hash_slot(b"a")));
        assert!(matches!(
            slot_of(&["georadius", "a", "0", "0", "1", "km", "storedist", "b"]),
            Err(CommandError::CrossSlot)
        ));
        // MIGRATE: the key, even an empty one; the KEYS list only after an empty key.
        assert_eq!(slot_of(&["migrate", "h", "1", "", "0", "10"]).unwrap(), Some(hash_slot(b"")));
        assert_eq!(slot_of(&["migrate", "h", "1", "k", "0", "10", "keys", "a", "b"]).unwrap(), None);
        assert_eq!(
            slot_of(&["migrate", "h", "1", "", "0", "10", "auth", "keys", "keys", "{m}a"]).unwrap(),
            Some(hash_slot(b"m"))
        );
        assert!(matches!(slot_of(&["sort", "a", "store", "b"]), Err(CommandError::CrossSlot)));
        assert_eq!(slot_of(&["sort", "{x}a", "limit", "0", "1", "store", "{x}b"]).unwrap(), Some(hash_slot(b"x")));
        assert_eq!(slot_of(&["lmpop", "2", "{l}a", "{l}b", "left"]).unwrap(), Some(hash_slot(b"l")));
        assert_eq!(
            slot_of(&["migrate", "h", "1", "", "0", "10", "keys", "{m}a", "{m}b"]).unwrap(),
            Some(hash_slot(b"m"))
        );
    }
}
