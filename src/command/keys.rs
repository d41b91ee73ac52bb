//! Finding a request's keys, and from them its one slot.

use super::table::{CommandSpec, Local, Movable, Route};
use crate::cluster::slot::hash_slot;
use crate::error::CommandError;
use crate::protocol::{parse_int, request::Args};

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
    })?;
    result.map(|()| slot)
}

/// Calls `f` with each key of the request, in order.
pub fn for_each_key<'a>(
    spec: &CommandSpec,
    args: Args<'a>,
    mut f: impl FnMut(&'a [u8]),
) -> Result<(), CommandError> {
    let argc = args.len() as i64;
    match spec.route {
        Route::Movable(rule) => return movable_keys(rule, spec, args, f),
        Route::Keys | Route::Splittable | Route::Local(Local::Watch | Local::SSubscribe | Local::SUnsubscribe) => {}
        _ => return Ok(()),
    }
    let first = spec.first_key as i64;
    let last = if spec.last_key < 0 { argc + spec.last_key as i64 } else { spec.last_key as i64 };
    let step = spec.key_step.max(1) as usize;
    if first <= 0 || last < first {
        return Ok(());
    }
    // Multi-key commands with key/value pairs (MSET) need a whole number of pairs.
    if spec.key_step > 1 && (argc - first) % spec.key_step as i64 != 0 {
        return Err(CommandError::WrongArity(spec.name.to_string()));
    }
    for i in (first as usize..=(last.min(argc - 1)) as usize).step_by(step) {
        f(args.get(i));
    }
    Ok(())
}

fn numkeys(args: Args<'_>, at: usize) -> Result<usize, CommandError> {
    match parse_int(args.get(at)) {
        Some(n) if n >= 0 => Ok(n as usize),
        Some(_) => Err(CommandError::Invalid("Number of keys can't be negative".into())),
        None => Err(CommandError::Invalid("value is not an integer or out of range".into())),
    }
}

fn keys_after<'a>(
    spec: &CommandSpec,
    args: Args<'a>,
    count_at: usize,
    f: &mut impl FnMut(&'a [u8]),
) -> Result<(), CommandError> {
    let n = numkeys(args, count_at)?;
    if count_at + 1 + n > args.len() {
        return Err(CommandError::Invalid(match spec.name {
            "eval" | "eval_ro" | "evalsha" | "evalsha_ro" | "fcall" | "fcall_ro" => {
                "Number of keys can't be greater than number of args".into()
            }
            _ => "syntax error".into(),
        }));
    }
    (count_at + 1..count_at + 1 + n).for_each(|i| f(args.get(i)));
    Ok(())
}

fn movable_keys<'a>(
    rule: Movable,
    spec: &CommandSpec,
    args: Args<'a>,
    mut f: impl FnMut(&'a [u8]),
) -> Result<(), CommandError> {
    match rule {
        Movable::NumkeysAt2 => keys_after(spec, args, 2, &mut f),
        Movable::NumkeysAt1 => keys_after(spec, args, 1, &mut f),
        Movable::TimeoutThenNumkeys => keys_after(spec, args, 2, &mut f),
        Movable::DestThenNumkeys => {
            f(args.get(1));
            keys_after(spec, args, 2, &mut f)
        }
        Movable::Streams => {
            let Some(at) = (1..args.len()).find(|&i| args.get(i).eq_ignore_ascii_case(b"streams")) else {
                return Err(CommandError::Invalid("syntax error".into()));
            };
            let rest = args.len() - at - 1;
            if rest == 0 || !rest.is_multiple_of(2) {
                return Err(CommandError::Invalid(
                    "Unbalanced 'xread' list of streams: for each stream key an ID or '$' must be specified.".into(),
                ));
            }
            (at + 1..at + 1 + rest / 2).for_each(|i| f(args.get(i)));
            Ok(())
        }
        Movable::KeyAndStore => {
            f(args.get(1));
            let mut i = 2;
            while i + 1 < args.len() {
                let a = args.get(i);
                if a.eq_ignore_ascii_case(b"store") || a.eq_ignore_ascii_case(b"storedist") {
                    f(args.get(i + 1));
                    i += 1;
                }
                i += 1;
            }
            Ok(())
        }
        Movable::Migrate => {
            if !args.get(3).is_empty() {
                f(args.get(3));
            }
            if let Some(at) = (6..args.len()).find(|&i| args.get(i).eq_ignore_ascii_case(b"keys")) {
                (at + 1..args.len()).for_each(|i| f(args.get(i)));
            }
            Ok(())
        }
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
            if for_each_key(spec, args, |k| keys.push(k)).is_ok() && spec.first_key == 1 && spec.last_key == 1 {
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
        assert!(matches!(slot_of(&["mset", "a", "v", "b"]), Err(CommandError::WrongArity(_))));
        assert!(matches!(slot_of(&["del", "foo", "bar"]), Err(CommandError::CrossSlot)));
    }

    #[test]
    fn movable_positions() {
        assert_eq!(slot_of(&["eval", "return 1", "0"]).unwrap(), None);
        assert_eq!(slot_of(&["eval", "s", "2", "{t}a", "{t}b", "argv"]).unwrap(), Some(hash_slot(b"t")));
        assert!(matches!(slot_of(&["eval", "s", "2", "a", "b"]), Err(CommandError::CrossSlot)));
        assert!(slot_of(&["eval", "s", "3", "a"]).is_err());
        assert_eq!(slot_of(&["zunionstore", "{t}d", "2", "{t}a", "{t}b"]).unwrap(), Some(hash_slot(b"t")));
        assert!(matches!(slot_of(&["zunionstore", "d", "1", "{t}a"]), Err(CommandError::CrossSlot)));
        assert_eq!(slot_of(&["xread", "count", "2", "streams", "{s}1", "{s}2", "0", "0"]).unwrap(), Some(hash_slot(b"s")));
        assert!(matches!(slot_of(&["sort", "a", "store", "b"]), Err(CommandError::CrossSlot)));
        assert_eq!(slot_of(&["sort", "{x}a", "limit", "0", "1", "store", "{x}b"]).unwrap(), Some(hash_slot(b"x")));
        assert_eq!(slot_of(&["lmpop", "2", "{l}a", "{l}b", "left"]).unwrap(), Some(hash_slot(b"l")));
        assert_eq!(slot_of(&["migrate", "h", "1", "", "0", "10", "keys", "{m}a", "{m}b"]).unwrap(), Some(hash_slot(b"m")));
    }
}
