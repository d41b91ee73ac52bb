//! A server's `COMMAND` reply, read into what routing needs: each command's and
//! subcommand's name, arity, flags, legacy key positions, tips and key specs. The
//! command table ([`super::commands`]) is built from these for the servers behind
//! slotway.

use redis_protocol::resp2::types::OwnedFrame;

use super::key_specs::{BeginSearch, FindKeys, KeySpec};
use super::table::flag;

/// One command or subcommand as a server describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LearnedCommand {
    /// Lowercase; `parent|sub` for subcommands.
    pub name: String,
    pub arity: i16,
    pub flags: u32,
    pub first_key: i16,
    pub last_key: i16,
    pub key_step: i16,
    /// `request_policy:all_shards`, `response_policy:agg_sum`, `nondeterministic_output`, ...
    pub tips: Vec<String>,
    pub key_specs: Vec<KeySpec>,
    /// Has subcommands (`CONFIG`, `CLIENT`, ...).
    pub container: bool,
}

impl LearnedCommand {
    /// The value of a `name:value` tip (`request_policy` -> `all_shards`).
    pub fn tip(&self, name: &str) -> Option<&str> {
        self.tips.iter().find_map(|t| t.strip_prefix(name)?.strip_prefix(':'))
    }
}

/// Every command and subcommand in a `COMMAND` reply, subcommands after their
/// container. Entries that are not the shape Redis 7 writes are skipped.
pub fn parse_command_reply(frame: &OwnedFrame) -> Result<Vec<LearnedCommand>, String> {
    let OwnedFrame::Array(entries) = frame else { return Err(format!("COMMAND: not an array: {frame:?}")) };
    let mut out = Vec::with_capacity(entries.len() * 2);
    for entry in entries {
        parse_entry(entry, &mut out);
    }
    Ok(out)
}

fn parse_entry(entry: &OwnedFrame, out: &mut Vec<LearnedCommand>) {
    let OwnedFrame::Array(fields) = entry else { return };
    let (Some(name), Some(arity)) = (fields.first().and_then(text), fields.get(1).and_then(int)) else { return };
    let subcommands = match fields.get(9) {
        Some(OwnedFrame::Array(subs)) => subs.as_slice(),
        _ => &[],
    };
    let position = |i: usize| fields.get(i).and_then(int).unwrap_or(0) as i16;
    out.push(LearnedCommand {
        name: name.to_ascii_lowercase(),
        arity: arity as i16,
        flags: fields.get(2).map_or(0, flags),
        first_key: position(3),
        last_key: position(4),
        key_step: position(5),
        tips: fields.get(7).map(strings).unwrap_or_default(),
        key_specs: fields.get(8).map(key_specs).unwrap_or_default(),
        container: !subcommands.is_empty(),
    });
    for sub in subcommands {
        parse_entry(sub, out);
    }
}

/// The flags slotway knows (see [`flag`]); others are ignored.
fn flags(frame: &OwnedFrame) -> u32 {
    strings(frame).iter().fold(0, |acc, name| {
        acc | match name.as_str() {
            "write" => flag::WRITE,
            "readonly" => flag::READONLY,
            "movablekeys" => flag::MOVABLEKEYS,
            "admin" => flag::ADMIN,
            "pubsub" => flag::PUBSUB,
            "noscript" => flag::NOSCRIPT,
            "blocking" => flag::BLOCKING,
            "loading" => flag::LOADING,
            "stale" => flag::STALE,
            "no_multi" => flag::NO_MULTI,
            "denyoom" => flag::DENYOOM,
            "fast" => flag::FAST,
            "no_auth" => flag::NO_AUTH,
            "allow_busy" => flag::ALLOW_BUSY,
            _ => 0,
        }
    })
}

fn key_specs(frame: &OwnedFrame) -> Vec<KeySpec> {
    let OwnedFrame::Array(specs) = frame else { return Vec::new() };
    specs.iter().map(key_spec).collect()
}

/// One key spec, a map (`flags`, `begin_search`, `find_keys`, ...) written as a flat array.
fn key_spec(frame: &OwnedFrame) -> KeySpec {
    let begin = field(frame, "begin_search").map_or(BeginSearch::Unknown, |b| {
        let spec = field(b, "spec");
        match field(b, "type").and_then(text).as_deref() {
            Some("index") => match spec.and_then(|s| field(s, "index")).and_then(int) {
                Some(i) if (1..=i64::from(u16::MAX)).contains(&i) => BeginSearch::Index(i as u16),
                _ => BeginSearch::Unknown,
            },
            Some("keyword") => {
                let keyword = spec.and_then(|s| field(s, "keyword")).and_then(text);
                let start_from = spec.and_then(|s| field(s, "startfrom")).and_then(int).unwrap_or(1);
                match keyword {
                    // Leaked once per distinct keyword a server names (a few dozen).
                    Some(k) => BeginSearch::Keyword { keyword: intern(k), start_from: start_from as i16 },
                    None => BeginSearch::Unknown,
                }
            }
            _ => BeginSearch::Unknown,
        }
    });
    let find = field(frame, "find_keys").map_or(FindKeys::Unknown, |f| {
        let spec = field(f, "spec");
        let number = |name: &str| spec.and_then(|s| field(s, name)).and_then(int).unwrap_or(0);
        match field(f, "type").and_then(text).as_deref() {
            Some("range") => FindKeys::Range {
                last_key: number("lastkey") as i16,
                step: number("keystep").max(1) as u16,
                limit: number("limit").max(0) as u16,
            },
            Some("keynum") => FindKeys::KeyNum {
                keynum_index: number("keynumidx").max(0) as u16,
                first_key: number("firstkey").max(0) as u16,
                step: number("keystep").max(1) as u16,
            },
            _ => FindKeys::Unknown,
        }
    });
    KeySpec { begin, find }
}

/// Keywords, kept for the process's life: one copy per distinct keyword.
fn intern(keyword: String) -> &'static str {
    static SEEN: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(known) = seen.iter().find(|k| **k == keyword) {
        return known;
    }
    let leaked: &'static str = Box::leak(keyword.into_boxed_str());
    seen.push(leaked);
    leaked
}

/// The value after `name` in a flat `[name, value, ...]` map.
fn field<'a>(frame: &'a OwnedFrame, name: &str) -> Option<&'a OwnedFrame> {
    let OwnedFrame::Array(items) = frame else { return None };
    items.chunks(2).find(|pair| pair.first().and_then(text).as_deref() == Some(name)).and_then(|pair| pair.get(1))
}

fn text(frame: &OwnedFrame) -> Option<String> {
    match frame {
        OwnedFrame::SimpleString(s) | OwnedFrame::BulkString(s) => Some(String::from_utf8_lossy(s).into_owned()),
        _ => None,
    }
}

fn int(frame: &OwnedFrame) -> Option<i64> {
    match frame {
        OwnedFrame::Integer(i) => Some(*i),
        _ => None,
    }
}

fn strings(frame: &OwnedFrame) -> Vec<String> {
    match frame {
        OwnedFrame::Array(items) => items.iter().filter_map(text).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> OwnedFrame {
        OwnedFrame::BulkString(v.as_bytes().to_vec())
    }
    fn st(v: &str) -> OwnedFrame {
        OwnedFrame::SimpleString(v.as_bytes().to_vec())
    }
    fn arr(v: Vec<OwnedFrame>) -> OwnedFrame {
        OwnedFrame::Array(v)
    }

    /// `COMMAND INFO hgetex` from Redis 8.0, as RESP2 frames.
    fn hgetex() -> OwnedFrame {
        let spec = arr(vec![
            s("flags"),
            arr(vec![st("RW"), st("access"), st("update")]),
            s("begin_search"),
            arr(vec![s("type"), s("index"), s("spec"), arr(vec![s("index"), OwnedFrame::Integer(1)])]),
            s("find_keys"),
            arr(vec![
                s("type"),
                s("range"),
                s("spec"),
                arr(vec![
                    s("lastkey"),
                    OwnedFrame::Integer(0),
                    s("keystep"),
                    OwnedFrame::Integer(1),
                    s("limit"),
                    OwnedFrame::Integer(0),
                ]),
            ]),
        ]);
        arr(vec![
            s("hgetex"),
            OwnedFrame::Integer(-5),
            arr(vec![st("write"), st("fast")]),
            OwnedFrame::Integer(1),
            OwnedFrame::Integer(1),
            OwnedFrame::Integer(1),
            arr(vec![st("@write"), st("@hash")]),
            arr(vec![]),
            arr(vec![spec]),
            arr(vec![]),
        ])
    }

    #[test]
    fn a_command_with_its_key_spec() {
        let learned = parse_command_reply(&arr(vec![hgetex()])).unwrap();
        assert_eq!(learned.len(), 1);
        let c = &learned[0];
        assert_eq!((c.name.as_str(), c.arity, c.first_key, c.last_key, c.key_step), ("hgetex", -5, 1, 1, 1));
        assert_eq!(c.flags, flag::WRITE | flag::FAST);
        assert_eq!(
            c.key_specs,
            vec![KeySpec { begin: BeginSearch::Index(1), find: FindKeys::Range { last_key: 0, step: 1, limit: 0 } }]
        );
        assert!(!c.container);
    }

    #[test]
    fn subcommands_follow_their_container_and_tips_are_read() {
        let sub = arr(vec![
            s("cluster|myshardid"),
            OwnedFrame::Integer(2),
            arr(vec![st("loading"), st("stale")]),
            OwnedFrame::Integer(0),
            OwnedFrame::Integer(0),
            OwnedFrame::Integer(0),
            arr(vec![]),
            arr(vec![st("nondeterministic_output"), st("request_policy:all_shards")]),
            arr(vec![]),
            arr(vec![]),
        ]);
        let container = arr(vec![
            s("cluster"),
            OwnedFrame::Integer(-2),
            arr(vec![]),
            OwnedFrame::Integer(0),
            OwnedFrame::Integer(0),
            OwnedFrame::Integer(0),
            arr(vec![]),
            arr(vec![]),
            arr(vec![]),
            arr(vec![sub]),
        ]);
        let learned = parse_command_reply(&arr(vec![container, st("junk")])).unwrap();
        assert_eq!(learned.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["cluster", "cluster|myshardid"]);
        assert!(learned[0].container);
        assert_eq!(learned[1].tip("request_policy"), Some("all_shards"));
        assert_eq!(learned[1].tip("response_policy"), None);
        assert!(parse_command_reply(&st("nope")).is_err());
    }
}
