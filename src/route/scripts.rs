//! Script bodies slotway has seen (`SCRIPT LOAD`, `EVAL`), so that an `EVALSHA` a
//! node answers with `NOSCRIPT` (after a failover, on a new node, after
//! `SCRIPT FLUSH` on one node) is healed: slotway loads the script on that node
//! and sends the `EVALSHA` again, on the same connection, right behind it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::oneshot;

use crate::backend::request::ReplyResult;
use crate::protocol::encode;
use crate::protocol::request::{Args, RequestParser};

/// Most script bytes remembered; past it the cache starts over (healing is best effort).
const MAX_BYTES: usize = 64 * 1024 * 1024;

#[derive(Default)]
pub struct ScriptCache {
    inner: Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    by_sha: HashMap<String, Bytes>,
    bytes: usize,
}

impl ScriptCache {
    /// Remembers `body`; returns its SHA1 in lowercase hex, as Redis names scripts.
    pub fn remember(&self, body: &[u8]) -> String {
        let sha = sha1_smol::Sha1::from(body).digest().to_string();
        let mut cache = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if !cache.by_sha.contains_key(&sha) {
            if cache.bytes + body.len() > MAX_BYTES {
                cache.by_sha.clear();
                cache.bytes = 0;
            }
            cache.bytes += body.len();
            cache.by_sha.insert(sha.clone(), Bytes::copy_from_slice(body));
        }
        sha
    }

    /// A request the client sent, outside a transaction (`name`: its table name):
    /// the script an `EVAL` or `SCRIPT LOAD` leaves in a server's cache is
    /// remembered; `SCRIPT FLUSH` forgets them all.
    pub fn seen(&self, name: &str, args: Args<'_>) {
        match name {
            "eval" | "eval_ro" | "script|load" => {
                if let Some(body) = script_body(args) {
                    self.remember(body);
                }
            }
            "script|flush" => self.flush(args),
            _ => {}
        }
    }

    /// A transaction `EXEC` sends (its queued requests, raw bytes): the scripts its
    /// EVALs leave in a server's cache once it runs (for [`remember`](Self::remember)
    /// then), and a `SCRIPT LOAD` for each script its EVALSHAs run that slotway has
    /// seen (and no EVAL of the block loads first), to send ahead of the block: a
    /// NOSCRIPT inside EXEC's reply cannot be healed.
    pub fn for_transaction(&self, queued: &[Bytes]) -> (Vec<Bytes>, Vec<Bytes>) {
        let (mut bodies, mut loads): (Vec<Bytes>, Vec<Bytes>) = (Vec::new(), Vec::new());
        for request in queued {
            let mut parser = RequestParser::new(usize::MAX);
            let Ok(Some(raw)) = parser.next(&mut bytes::BytesMut::from(&request[..])) else { continue };
            let args = Args::new(&raw, parser.args());
            if let Some(body) = script_body(args) {
                bodies.push(Bytes::copy_from_slice(body));
            } else if let Some(sha) = evalsha_of(args) {
                let sha = String::from_utf8_lossy(sha).to_lowercase();
                let in_block = bodies.iter().any(|b| sha1_smol::Sha1::from(b).digest().to_string() == sha);
                if let Some(load) = self.load_request(sha.as_bytes()).filter(|l| !in_block && !loads.contains(l)) {
                    loads.push(load);
                }
            }
        }
        (bodies, loads)
    }

    pub fn remember_all(&self, bodies: &[Bytes]) {
        bodies.iter().for_each(|body| {
            self.remember(body);
        });
    }

    /// `SCRIPT FLUSH [ASYNC|SYNC]` (`args`, the whole request) empties every
    /// primary's script cache: slotway forgets the bodies too, so that a later
    /// `EVALSHA` answers NOSCRIPT as one server would. With other arguments the
    /// nodes refuse it and nothing is forgotten.
    pub fn flush(&self, args: Args<'_>) {
        let mode = (args.len() == 3).then(|| args.get(2));
        if mode.is_some_and(|m| !m.eq_ignore_ascii_case(b"async") && !m.eq_ignore_ascii_case(b"sync")) || args.len() > 3
        {
            return;
        }
        let mut cache = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        cache.by_sha.clear();
        cache.bytes = 0;
    }

    /// `SCRIPT LOAD <body>` for a script seen before, by its SHA1 (any case).
    pub fn load_request(&self, sha: &[u8]) -> Option<Bytes> {
        let sha = String::from_utf8_lossy(sha).to_lowercase();
        let cache = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let body = cache.by_sha.get(&sha)?;
        Some(encode::command(&[b"SCRIPT", b"LOAD", body]))
    }
}

/// EXEC's reply (`rx`), passed on; a watched transaction's `scripts` are remembered
/// first unless the reply is null (a watched key changed: nothing ran).
pub fn remember_if_run(
    cache: Arc<ScriptCache>,
    scripts: Vec<Bytes>,
    rx: oneshot::Receiver<ReplyResult>,
) -> oneshot::Receiver<ReplyResult> {
    if scripts.is_empty() {
        return rx;
    }
    let (tx, passed) = oneshot::channel();
    tokio::spawn(async move {
        if let Ok(reply) = rx.await {
            if matches!(&reply, Ok(r) if &r[..] != b"*-1\r\n" && &r[..] != b"_\r\n") {
                cache.remember_all(&scripts);
            }
            let _ = tx.send(reply);
        }
    });
    passed
}

/// The script of `EVAL`/`EVAL_RO` or `SCRIPT LOAD`, if the request would leave it in
/// a server's cache: not an `EVAL` whose numkeys Redis refuses before it compiles
/// the script (not an integer, negative, more than the arguments after it).
fn script_body<'a>(args: Args<'a>) -> Option<&'a [u8]> {
    let name = args.get(0);
    if name.eq_ignore_ascii_case(b"script") {
        return (args.len() == 3 && args.get(1).eq_ignore_ascii_case(b"load")).then(|| args.get(2));
    }
    if !(name.eq_ignore_ascii_case(b"eval") || name.eq_ignore_ascii_case(b"eval_ro")) || args.len() < 3 {
        return None;
    }
    let numkeys = crate::protocol::parse_int(args.get(2))?;
    (0..=args.len() as i64 - 3).contains(&numkeys).then(|| args.get(1))
}

/// The SHA1 argument of an `EVALSHA`/`EVALSHA_RO` request (raw RESP bytes), if it is one.
pub fn evalsha_digest(request: &[u8]) -> Option<&[u8]> {
    let mut parser = RequestParser::new(usize::MAX);
    let mut buf = bytes::BytesMut::from(request);
    let raw = parser.next(&mut buf).ok()??;
    evalsha_of(Args::new(&raw, parser.args()))?;
    let range = parser.args().get(1)?.clone();
    request.get(range)
}

/// The SHA1 argument of an `EVALSHA`/`EVALSHA_RO` request.
fn evalsha_of<'a>(args: Args<'a>) -> Option<&'a [u8]> {
    let name = args.get(0);
    let evalsha = name.eq_ignore_ascii_case(b"evalsha") || name.eq_ignore_ascii_case(b"evalsha_ro");
    (evalsha && args.len() >= 2).then(|| args.get(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_by_redis_sha() {
        let cache = ScriptCache::default();
        let sha = cache.remember(b"return 1");
        assert_eq!(sha, "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
        let load = cache.load_request(sha.to_uppercase().as_bytes()).unwrap();
        assert_eq!(&load[..], &encode::command(&[b"SCRIPT", b"LOAD", b"return 1"])[..]);
        assert!(cache.load_request(b"ffff").is_none());
        let req = encode::command(&[b"evalsha", sha.as_bytes(), b"0"]);
        assert_eq!(evalsha_digest(&req), Some(sha.as_bytes()));
        assert_eq!(evalsha_digest(&encode::command(&[b"get", b"k"])), None);
    }

    /// `cache.seen` of the request `words`, under the table name `name`.
    fn see(cache: &ScriptCache, name: &str, words: &[&[u8]]) {
        let raw = encode::command(words);
        let mut parser = RequestParser::new(1 << 20);
        let raw = parser.next(&mut bytes::BytesMut::from(&raw[..])).unwrap().unwrap();
        cache.seen(name, Args::new(&raw, parser.args()));
    }

    #[test]
    fn script_flush_forgets_unless_refused() {
        let flush = |words: &[&[u8]]| {
            let cache = ScriptCache::default();
            let sha = cache.remember(b"return 1");
            see(&cache, "script|flush", words);
            cache.load_request(sha.as_bytes()).is_none()
        };
        assert!(flush(&[b"SCRIPT", b"FLUSH"]));
        assert!(flush(&[b"script", b"flush", b"Async"]));
        assert!(flush(&[b"SCRIPT", b"FLUSH", b"SYNC"]));
        assert!(!flush(&[b"SCRIPT", b"FLUSH", b"NOW"]), "refused by the nodes: nothing flushed");
        assert!(!flush(&[b"SCRIPT", b"FLUSH", b"SYNC", b"x"]));
    }

    #[test]
    fn scripts_that_a_server_would_cache() {
        let cached = |name: &str, words: &[&[u8]]| {
            let cache = ScriptCache::default();
            see(&cache, name, words);
            cache.load_request(b"e0e1f9fabfc9d4800c877a703b823ac0578ff8db").is_some()
        };
        assert!(cached("eval", &[b"EVAL", b"return 1", b"0"]));
        assert!(cached("eval_ro", &[b"eval_ro", b"return 1", b"2", b"k1", b"k2"]));
        assert!(cached("script|load", &[b"SCRIPT", b"LOAD", b"return 1"]));
        // Refused before the script is compiled: nothing cached.
        assert!(!cached("eval", &[b"EVAL", b"return 1", b"x"]));
        assert!(!cached("eval", &[b"EVAL", b"return 1", b"-1"]));
        assert!(!cached("eval", &[b"EVAL", b"return 1", b"1"]));
        assert!(!cached("get", &[b"GET", b"return 1"]));
        // A transaction's EVAL; its EVALSHAs of known scripts get a SCRIPT LOAD
        // ahead of the block (once each).
        let cache = ScriptCache::default();
        let one = "e0e1f9fabfc9d4800c877a703b823ac0578ff8db";
        let two = cache.remember(b"return 2");
        let queued = [
            encode::command(&[b"EVAL", b"return 1", b"0"]),
            encode::command(&[b"SET", b"k", b"v"]),
            encode::command(&[b"EVALSHA", two.as_bytes(), b"0"]),
            encode::command(&[b"evalsha_ro", one.as_bytes(), b"0"]),
            encode::command(&[b"EVALSHA", two.to_uppercase().as_bytes(), b"0"]),
            encode::command(&[b"EVALSHA", b"ffffffffffffffffffffffffffffffffffffffff", b"0"]),
        ];
        let (bodies, loads) = cache.for_transaction(&queued);
        assert_eq!(bodies, [Bytes::from_static(b"return 1")], "remembered once EXEC has run");
        assert!(cache.load_request(one.as_bytes()).is_none());
        let load = |body: &[u8]| encode::command(&[b"SCRIPT", b"LOAD", body]);
        assert_eq!(loads, [load(b"return 2")], "not `return 1`: the block's EVAL loads it");
    }
}
