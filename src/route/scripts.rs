//! Script bodies slotway has seen (`SCRIPT LOAD`, `EVAL`), so that an `EVALSHA` a
//! node answers with `NOSCRIPT` (after a failover, on a new node, after
//! `SCRIPT FLUSH` on one node) is healed: slotway loads the script on that node
//! and sends the `EVALSHA` again, on the same connection, right behind it.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;

use crate::protocol::encode;

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

    /// `SCRIPT FLUSH [ASYNC|SYNC]` (`args`, the whole request) empties every
    /// primary's script cache: slotway forgets the bodies too, so that a later
    /// `EVALSHA` answers NOSCRIPT as one server would. With other arguments the
    /// nodes refuse it and nothing is forgotten.
    pub fn flush(&self, args: crate::protocol::request::Args<'_>) {
        let mode = (args.len() == 3).then(|| args.get(2));
        if mode.is_some_and(|m| !m.eq_ignore_ascii_case(b"async") && !m.eq_ignore_ascii_case(b"sync")) || args.len() > 3 {
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

/// The SHA1 argument of an `EVALSHA`/`EVALSHA_RO` request (raw RESP bytes), if it is one.
pub fn evalsha_digest(request: &[u8]) -> Option<&[u8]> {
    let mut parser = crate::protocol::request::RequestParser::new(usize::MAX);
    let mut buf = bytes::BytesMut::from(request);
    let raw = parser.next(&mut buf).ok()??;
    let args = crate::protocol::request::Args::new(&raw, parser.args());
    let name = args.get(0);
    if !(name.eq_ignore_ascii_case(b"evalsha") || name.eq_ignore_ascii_case(b"evalsha_ro")) {
        return None;
    }
    let range = parser.args().get(1)?.clone();
    request.get(range)
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

    #[test]
    fn script_flush_forgets_unless_refused() {
        let flush = |words: &[&[u8]]| {
            let cache = ScriptCache::default();
            let sha = cache.remember(b"return 1");
            let raw = encode::command(words);
            let mut parser = crate::protocol::request::RequestParser::new(1 << 20);
            let raw = parser.next(&mut bytes::BytesMut::from(&raw[..])).unwrap().unwrap();
            cache.flush(crate::protocol::request::Args::new(&raw, parser.args()));
            cache.load_request(sha.as_bytes()).is_none()
        };
        assert!(flush(&[b"SCRIPT", b"FLUSH"]));
        assert!(flush(&[b"script", b"flush", b"Async"]));
        assert!(flush(&[b"SCRIPT", b"FLUSH", b"SYNC"]));
        assert!(!flush(&[b"SCRIPT", b"FLUSH", b"NOW"]), "refused by the nodes: nothing flushed");
        assert!(!flush(&[b"SCRIPT", b"FLUSH", b"SYNC", b"x"]));
    }
}
