//! Typed errors, each saying which side failed, and the one place where they become
//! the error replies clients see (in Redis's own words where Redis has them).

use bytes::{BufMut, BytesMut};
use thiserror::Error;

/// The client sent bytes that are not a request. Texts are Redis's; the connection
/// is closed after the reply, as Redis does.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProtocolError {
    #[error("Protocol error: too big inline request")]
    TooBigInline,
    #[error("Protocol error: unbalanced quotes in request")]
    UnbalancedQuotes,
    #[error("Protocol error: too big mbulk count string")]
    TooBigMbulkCount,
    #[error("Protocol error: invalid multibulk length")]
    InvalidMultibulkLength,
    #[error("Protocol error: too big bulk count string")]
    TooBigBulkCount,
    #[error("Protocol error: expected '$', got '{}'", *.0 as char)]
    ExpectedDollar(u8),
    #[error("Protocol error: invalid bulk length")]
    InvalidBulkLength,
}

/// Why one command failed inside slotway, before or after reaching a node.
#[derive(Debug, Clone, Error)]
pub enum CommandError {
    // --- the client's request (not retryable) ---
    #[error("CROSSSLOT Keys in request don't hash to the same slot")]
    CrossSlot,
    #[error("ERR unknown command '{name}', with args beginning with: {args}")]
    UnknownCommand { name: String, args: String },
    #[error("ERR unknown subcommand '{sub}'. Try {cmd} HELP.")]
    UnknownSubcommand { cmd: String, sub: String },
    #[error("ERR wrong number of arguments for '{0}' command")]
    WrongArity(String),
    #[error("ERR slotway does not support '{0}': {1}")]
    Unsupported(String, &'static str),
    #[error("ERR {0}")]
    Invalid(String),
    #[error("ERR {0}")]
    Protocol(#[from] ProtocolError),
    #[error("ERR syntax error")]
    Syntax,
    #[error("ERR MULTI calls can not be nested")]
    NestedMulti,
    #[error("ERR WATCH inside MULTI is not allowed")]
    WatchInMulti,
    #[error("ERR EXEC without MULTI")]
    ExecWithoutMulti,
    #[error("ERR DISCARD without MULTI")]
    DiscardWithoutMulti,
    #[error("EXECABORT Transaction discarded because of previous errors.")]
    ExecAbort,
    #[error(
        "ERR Can't execute '{0}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
    )]
    NotInSubscribedContext(String),

    // --- the cluster (retryable by the client) ---
    #[error("CLUSTERDOWN Hash slot not served")]
    SlotNotServed,
    #[error("CLUSTERDOWN slotway has no topology yet: no seed node answered")]
    NoTopology,
    #[error("TRYAGAIN the slot moved while the client had keys WATCHed")]
    MovedWhileWatched,
    #[error("TRYAGAIN slotway followed {0} redirects for this command without reaching its node")]
    TooManyRedirects(u8),

    // --- a node connection (outcome may be unknown) ---
    #[error("CLUSTERDOWN node {0} is unreachable")]
    NodeUnreachable(String),
    /// The same, with why the last connection attempt failed (refused, TLS ...).
    #[error("CLUSTERDOWN node {0} is unreachable: {1}")]
    NodeUnreachableBecause(String, std::sync::Arc<str>),
    #[error("ERR slotway lost the connection to node {0}; the command may or may not have run")]
    ConnectionLost(String),
    #[error("ERR node {0} did not reply in time; the command may or may not have run")]
    ReplyTimeout(String),
    #[error("ERR slotway has {0} connections lent to blocking commands and WATCH already (max-leased-conns)")]
    TooManyLeases(usize),
    #[error("ERR slotway is overloaded: the queue to node {0} is full")]
    Overloaded(String),
}

impl CommandError {
    /// The `-...\r\n` error reply a client receives.
    pub fn to_reply(&self) -> bytes::Bytes {
        error_reply(&self.to_string())
    }

    /// Redis's text for an unknown command: the name and up to 128 bytes of arguments.
    pub fn unknown_command(name: &[u8], args: &[&[u8]]) -> Self {
        let mut shown = String::new();
        for a in args {
            if shown.len() >= 128 {
                break;
            }
            let room = 128 - shown.len();
            let a = String::from_utf8_lossy(a.get(..room).unwrap_or(a)).into_owned();
            shown.push_str(&format!("'{a}' "));
        }
        let name = String::from_utf8_lossy(name.get(..128).unwrap_or(name)).into_owned();
        CommandError::UnknownCommand { name, args: shown }
    }
}

/// Builds `-<text>\r\n`, replacing line breaks so the reply stays one line (as Redis does).
pub fn error_reply(text: &str) -> bytes::Bytes {
    let mut out = BytesMut::with_capacity(text.len() + 3);
    out.put_u8(b'-');
    for b in text.bytes() {
        out.put_u8(if b == b'\r' || b == b'\n' { b' ' } else { b });
    }
    out.put_slice(b"\r\n");
    out.freeze()
}

/// Errors that stop slotway from starting or serving.
#[derive(Debug, Error)]
pub enum Error {
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: String, source: std::io::Error },
    #[error("TLS: {0}")]
    Tls(#[from] crate::net::tls::TlsError),
    #[error("no cluster seed answered CLUSTER SLOTS: {0}")]
    NoSeed(String),
    #[error("cannot start the worker threads (--threads): {0}")]
    Runtime(std::io::Error),
    #[error("io error: {0}")]
    Io(#[from] std::io::Error),
}
