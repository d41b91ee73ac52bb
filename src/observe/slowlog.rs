//! slotway's own slow log: commands slower end to end through slotway (from reading
//! the request to queueing its reply) than `slowlog-log-slower-than` microseconds,
//! in Redis's `SLOWLOG GET` format, answered by `SLOTWAY SLOWLOG GET|LEN|RESET`.
//! (Plain `SLOWLOG` stays the nodes' logs, merged.)
//!
//! Only slow commands take the lock, to add their entry; the check is one atomic load.
//! Logging is kept cheap because it is most frequent exactly when slotway is
//! overloaded (queueing makes every command slow end to end): an entry holds a copy
//! of a small request, made with one allocation, and is cut into Redis's argument
//! form only when `SLOTWAY SLOWLOG GET` reads it; the client's address is formatted
//! then too.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};

use bytes::{Bytes, BytesMut};

use crate::protocol::encode::{self, put_array_header, put_bulk};
use crate::protocol::request::RequestParser;

/// As Redis: at most this many arguments are kept, the last one saying how many more there were.
const MAX_ARGS: usize = 32;
/// As Redis: longer arguments are cut, saying how many bytes were left out.
const MAX_ARG_BYTES: usize = 128;

#[derive(Debug)]
pub struct SlowLog {
    /// Microseconds; a negative value turns the log off, 0 logs every command.
    slower_than: AtomicI64,
    max_len: AtomicUsize,
    /// Entries logged since start (`RESET` does not lower it): ids and the metric.
    logged: AtomicU64,
    /// Newest first.
    entries: Mutex<VecDeque<Entry>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: u64,
    /// Unix time in seconds when the reply was queued.
    pub time: u64,
    pub micros: u64,
    request: Logged,
    pub sender: Sender,
}

/// A logged request: small ones as they arrived (cut when read), bigger ones cut
/// at once, so an entry never holds more than Redis would show.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Logged {
    Whole(Bytes),
    Cut(Vec<Bytes>),
}

/// Requests up to this size are copied whole into their entry.
const KEEP_WHOLE: usize = 1024;

/// Who sent a slow command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sender {
    pub addr: Option<std::net::SocketAddr>,
    pub name: String,
}

impl Entry {
    /// The arguments as Redis logs them: at most 32, each at most 128 bytes.
    pub fn args(&self) -> Vec<Bytes> {
        match &self.request {
            Logged::Whole(request) => logged_args(request),
            Logged::Cut(args) => args.clone(),
        }
    }

    /// `addr:port` of the client ("" when unknown).
    pub fn client_addr(&self) -> String {
        self.sender.addr.map_or_else(String::new, |a| a.to_string())
    }
}

impl SlowLog {
    pub fn new(slower_than: i64, max_len: usize) -> Self {
        SlowLog {
            slower_than: AtomicI64::new(slower_than),
            max_len: AtomicUsize::new(max_len),
            logged: AtomicU64::new(0),
            entries: Mutex::new(VecDeque::new()),
        }
    }

    /// New limits (a reload); a shorter log drops its oldest entries at once.
    pub fn configure(&self, slower_than: i64, max_len: usize) {
        self.slower_than.store(slower_than, Ordering::Relaxed);
        self.max_len.store(max_len, Ordering::Relaxed);
        self.lock().truncate(max_len);
    }

    /// Whether commands are being logged at all (requests must be kept for it).
    pub fn enabled(&self) -> bool {
        self.slower_than.load(Ordering::Relaxed) >= 0
    }

    pub fn is_slow(&self, micros: u64) -> bool {
        let limit = self.slower_than.load(Ordering::Relaxed);
        limit >= 0 && micros >= limit.unsigned_abs()
    }

    /// Adds an entry for `request` (the request's bytes, multibulk as framed).
    pub fn log(&self, request: &[u8], micros: u64, sender: Sender) {
        let max_len = self.max_len.load(Ordering::Relaxed);
        if max_len == 0 {
            return;
        }
        let time = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let request = match request.len() {
            n if n <= KEEP_WHOLE => Logged::Whole(Bytes::copy_from_slice(request)),
            _ => Logged::Cut(logged_args(request)),
        };
        let mut entries = self.lock();
        let id = self.logged.fetch_add(1, Ordering::Relaxed);
        entries.push_front(Entry { id, time, micros, request, sender });
        let dropped = entries.len().saturating_sub(max_len);
        let evicted: Vec<Entry> = (0..dropped).filter_map(|_| entries.pop_back()).collect();
        drop(entries);
        drop(evicted); // freed outside the lock
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn reset(&self) {
        self.lock().clear();
    }

    /// Entries logged since start.
    pub fn logged(&self) -> u64 {
        self.logged.load(Ordering::Relaxed)
    }

    /// The newest `count` entries (all when `None`).
    pub fn newest(&self, count: Option<usize>) -> Vec<Entry> {
        self.lock().iter().take(count.unwrap_or(usize::MAX)).cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Entries as Redis's `SLOWLOG GET` replies: per entry, id, unix time, microseconds,
/// arguments, client address, client name.
pub fn encode_entries(entries: &[Entry]) -> Bytes {
    let mut out = BytesMut::new();
    put_array_header(&mut out, entries.len());
    for e in entries {
        put_array_header(&mut out, 6);
        for n in [e.id, e.time, e.micros] {
            out.extend_from_slice(&encode::integer(i64::try_from(n).unwrap_or(i64::MAX)));
        }
        let args = e.args();
        put_array_header(&mut out, args.len());
        for arg in &args {
            put_bulk(&mut out, arg);
        }
        put_bulk(&mut out, e.client_addr().as_bytes());
        put_bulk(&mut out, e.sender.name.as_bytes());
    }
    out.freeze()
}

/// The arguments of `request` as Redis logs them: at most 32, each at most 128 bytes.
fn logged_args(request: &[u8]) -> Vec<Bytes> {
    let mut parser = RequestParser::new(usize::MAX);
    let mut buf = BytesMut::from(request);
    let Ok(Some(raw)) = parser.next(&mut buf) else { return Vec::new() };
    let args = crate::protocol::request::Args::new(&raw, parser.args());
    let mut logged = Vec::with_capacity(args.len().min(MAX_ARGS));
    for (i, arg) in args.iter().enumerate() {
        if i == MAX_ARGS - 1 && args.len() > MAX_ARGS {
            logged.push(Bytes::from(format!("... ({} more arguments)", args.len() - i)));
            break;
        }
        logged.push(match arg.get(..MAX_ARG_BYTES) {
            Some(head) if arg.len() > MAX_ARG_BYTES => {
                let mut cut = head.to_vec();
                cut.extend_from_slice(format!("... ({} more bytes)", arg.len() - MAX_ARG_BYTES).as_bytes());
                Bytes::from(cut)
            }
            _ => Bytes::copy_from_slice(arg),
        });
    }
    logged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(args: &[&[u8]]) -> Bytes {
        encode::command(args)
    }

    #[test]
    fn threshold_zero_logs_all_and_negative_none() {
        let log = SlowLog::new(0, 128);
        assert!(log.is_slow(0));
        log.configure(-1, 128);
        assert!(!log.enabled() && !log.is_slow(u64::MAX));
        log.configure(10_000, 128);
        assert!(!log.is_slow(9_999) && log.is_slow(10_000));
    }

    #[test]
    fn newest_first_bounded_by_max_len() {
        let log = SlowLog::new(0, 2);
        for key in ["a", "b", "c"] {
            log.log(
                &request(&[b"GET", key.as_bytes()]),
                5,
                Sender { addr: "1.2.3.4:5".parse().ok(), name: "n".into() },
            );
        }
        let got = log.newest(None);
        assert_eq!(got.iter().map(|e| e.id).collect::<Vec<_>>(), [2, 1]);
        assert_eq!(got[0].args(), [Bytes::from("GET"), Bytes::from("c")]);
        assert_eq!(got[0].client_addr(), "1.2.3.4:5");
        assert_eq!(log.newest(Some(1)).len(), 1);
        log.configure(0, 1);
        assert_eq!(log.len(), 1, "shrinking drops the oldest");
        log.reset();
        assert!(log.is_empty());
        assert_eq!(log.logged(), 3);
    }

    #[test]
    fn big_requests_are_cut_when_logged_small_ones_when_read() {
        let log = SlowLog::new(0, 4);
        let big = vec![b'x'; 5_000];
        log.log(&request(&[b"SET", b"k", &big]), 1, Sender::default());
        log.log(&request(&[b"GET", b"k"]), 1, Sender::default());
        let got = log.newest(None);
        assert!(matches!(got[0].request, Logged::Whole(_)) && matches!(got[1].request, Logged::Cut(_)));
        assert_eq!(got[0].args(), [Bytes::from("GET"), Bytes::from("k")]);
        assert_eq!(got[1].args()[2].len(), 128 + "... (4872 more bytes)".len());
    }

    #[test]
    fn arguments_are_cut_as_redis_cuts_them() {
        let long = vec![b'x'; 200];
        let many: Vec<Vec<u8>> = (0..40).map(|i| format!("k{i}").into_bytes()).collect();
        let mut args: Vec<&[u8]> = vec![b"SET", &long];
        let e = logged_args(&request(&args));
        assert_eq!(e[1].len(), 128 + "... (72 more bytes)".len());
        assert!(e[1].ends_with(b"... (72 more bytes)"));
        args = vec![b"MGET"];
        args.extend(many.iter().map(Vec::as_slice));
        let e = logged_args(&request(&args));
        assert_eq!(e.len(), 32);
        assert_eq!(e[31], Bytes::from("... (10 more arguments)"));
        assert_eq!(e[30], Bytes::from("k29"));
    }

    #[test]
    fn entries_encode_as_slowlog_get() {
        let e = Entry {
            id: 7,
            time: 100,
            micros: 12,
            request: Logged::Whole(request(&[b"GET", b"k"])),
            sender: Sender { addr: "127.0.0.1:5000".parse().ok(), name: String::new() },
        };
        assert_eq!(
            &encode_entries(&[e])[..],
            b"*1\r\n*6\r\n:7\r\n:100\r\n:12\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n$14\r\n127.0.0.1:5000\r\n$0\r\n\r\n"
        );
    }
}
