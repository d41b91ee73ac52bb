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

/// Which side failed, and so who can fix it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The client's request: sent again unchanged, it fails again.
    Client,
    /// The cluster's state (slots moving, not yet known): a retry can succeed.
    Cluster,
    /// A node connection: a retry can succeed, but a command already sent may have run.
    Node,
    /// slotway itself: its limits (a retry can succeed once load drops) or what it
    /// cannot do with the nodes' replies (a retry fails again).
    Proxy,
}

/// Why one command failed inside slotway, before or after reaching a node. The texts
/// are Redis's own where Redis has the error; [`CommandError::side`] says which side
/// failed and [`CommandError::retryable`] whether sending the request again can work.
#[derive(Debug, Clone, Error)]
pub enum CommandError {
    // --- the client's request (Side::Client: not retryable) ---
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
    Protocol(#[from] ProtocolError),
    #[error("ERR syntax error")]
    Syntax,
    #[error("ERR value is not an integer or out of range")]
    NotAnInteger,
    #[error("ERR invalid cursor")]
    InvalidCursor,
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
    #[error("ERR CONFIG SET failed (possibly related to argument '{param}') - {why}")]
    ConfigSetFailed { param: String, why: &'static str },
    #[error(
        "ERR CONFIG SET failed (possibly related to argument '{param}') - argument must be between {min} and {max} inclusive"
    )]
    ConfigSetOutOfRange { param: String, min: i64, max: i64 },
    /// slotway applies its own settings itself, the others go to the nodes: one
    /// `CONFIG SET` cannot do both at once (it is all or nothing in Redis).
    #[error("ERR slotway sets requirepass, maxclients and timeout itself: set them in a CONFIG SET of their own")]
    MixedConfigSet,
    /// A command the server flags `no_multi` (SAVE, SHUTDOWN, ...) sent inside MULTI.
    #[error("ERR Command not allowed inside a transaction")]
    NotAllowedInMulti,
    #[error(
        "ERR Can't execute '{0}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
    )]
    NotInSubscribedContext(String),
    /// `SELECT` of a database other than 0.
    #[error("ERR SELECT is not allowed in cluster mode")]
    SelectInCluster,
    /// `HELLO` with a protocol version other than 2 or 3.
    #[error("NOPROTO unsupported protocol version")]
    NoProto,
    #[error("ERR Protocol version is not an integer or out of range")]
    ProtocolVersionNotInteger,
    /// `HELLO` with an option it does not know (the option as sent).
    #[error("ERR Syntax error in HELLO option '{0}'")]
    HelloSyntax(String),
    #[error("ERR Client names cannot contain spaces, newlines or special characters.")]
    BadClientName,
    /// `CLIENT SETINFO` with a value Redis refuses (the attribute as sent).
    #[error("ERR {0} cannot contain spaces, newlines or special characters.")]
    BadClientInfo(String),
    /// `CLIENT SETINFO` of an attribute other than `LIB-NAME` / `LIB-VER`.
    #[error("ERR Unrecognized option '{0}'")]
    UnrecognizedOption(String),
    #[error("ERR Invalid client ID")]
    InvalidClientId,
    /// `CLIENT LIST TYPE` of a type Redis does not know (lower-cased, as Redis shows it).
    #[error("ERR Unknown client type '{0}'")]
    UnknownClientType(String),
    /// `CLIENT CACHING`: slotway refuses `CLIENT TRACKING`, so no client has it on.
    #[error(
        "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled"
    )]
    CachingWithoutTracking,
    /// `CLUSTER REPLICAS` of a node id other than slotway's own.
    #[error("ERR Unknown node {0}")]
    UnknownNode(String),
    /// `SLOTWAY SLOWLOG GET count` with a count below -1 or not a number.
    #[error("ERR count should be greater than or equal to -1")]
    SlowlogCount,
    /// `SLOTWAY HOTKEYS count` with a count below 1 or not a number.
    #[error("ERR count should be a positive integer")]
    HotkeysCount,
    /// `AUTH password` when no login is asked (Redis's `default` user with `nopass`).
    #[error(
        "ERR AUTH <password> called without any password configured for the default user. \
         Are you sure your configuration is correct?"
    )]
    AuthWithoutPassword,
    #[error("NOAUTH Authentication required.")]
    NoAuth,
    /// `HELLO` without `AUTH` by a client not logged in, when slotway asks for a login.
    #[error(
        "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> \
         AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol \
         version at the same time"
    )]
    HelloNoAuth,
    #[error("WRONGPASS invalid username-password pair or user is disabled.")]
    WrongPass,
    /// The user's access does not allow this command (its name).
    #[error("NOPERM this user has no permissions to run the '{0}' command")]
    NoPermCommand(&'static str),
    #[error("NOPERM this user has no permissions to access one of the keys used as arguments")]
    NoPermKey,

    // --- the cluster (Side::Cluster: retryable, but for NodesDisagree) ---
    #[error("CLUSTERDOWN Hash slot not served")]
    SlotNotServed,
    #[error("CLUSTERDOWN slotway has no topology yet: no seed node answered")]
    NoTopology,
    #[error("TRYAGAIN the slot moved while the client had keys WATCHed")]
    MovedWhileWatched,
    #[error("TRYAGAIN slotway followed {0} redirects for this command without reaching its node")]
    TooManyRedirects(u8),
    /// A command sent to every primary that must answer the same (`SCRIPT LOAD`) did not.
    #[error("ERR the cluster's nodes gave different replies")]
    NodesDisagree,

    // --- a node connection (Side::Node: retryable, outcome may be unknown) ---
    #[error("CLUSTERDOWN node {0} is unreachable")]
    NodeUnreachable(String),
    /// The same, with why the last connection attempt failed (refused, TLS ...).
    #[error("CLUSTERDOWN node {0} is unreachable: {1}")]
    NodeUnreachableBecause(String, std::sync::Arc<str>),
    #[error("ERR slotway lost the connection to node {0}; the command may or may not have run")]
    ConnectionLost(String),
    #[error("ERR node {0} did not reply in time; the command may or may not have run")]
    ReplyTimeout(String),
    /// A node answered `SCAN` with something other than `[cursor, keys]` (not retryable).
    #[error("ERR slotway could not read a node's SCAN reply")]
    BadScanReply,

    // --- slotway itself (Side::Proxy: its limits are retryable, the rest not) ---
    #[error("ERR max number of clients reached")]
    MaxClients,
    #[error("ERR slotway has {0} connections lent to blocking commands and WATCH already (max-leased-conns)")]
    TooManyLeases(usize),
    #[error("ERR slotway is overloaded: the queue to node {0} is full")]
    Overloaded(String),
    /// The nodes' replies to a fanned-out command are not of the kind it merges.
    #[error("ERR slotway could not merge the nodes' replies")]
    MergeFailed,
    /// A node's SCAN cursor wider than the bits slotway's cursor has for it.
    #[error("ERR a node's SCAN cursor is too large for slotway to carry")]
    ScanCursorTooLarge,
    /// A command the session answers reached the local answers (a bug in slotway).
    #[error("ERR this command is answered by the client session")]
    AnsweredBySession,
}

impl CommandError {
    /// The `-...\r\n` error reply a client receives.
    pub fn to_reply(&self) -> bytes::Bytes {
        error_reply(&self.to_string())
    }

    /// Which side failed.
    pub fn side(&self) -> Side {
        use CommandError::*;
        match self {
            CrossSlot
            | UnknownCommand { .. }
            | UnknownSubcommand { .. }
            | WrongArity(_)
            | Unsupported(..)
            | Protocol(_)
            | Syntax
            | NotAnInteger
            | InvalidCursor
            | NestedMulti
            | WatchInMulti
            | ExecWithoutMulti
            | DiscardWithoutMulti
            | ExecAbort
            | NotAllowedInMulti
            | ConfigSetFailed { .. }
            | ConfigSetOutOfRange { .. }
            | MixedConfigSet
            | NotInSubscribedContext(_)
            | SelectInCluster
            | NoProto
            | ProtocolVersionNotInteger
            | HelloSyntax(_)
            | BadClientName
            | BadClientInfo(_)
            | UnrecognizedOption(_)
            | InvalidClientId
            | UnknownClientType(_)
            | CachingWithoutTracking
            | UnknownNode(_)
            | SlowlogCount
            | HotkeysCount
            | AuthWithoutPassword
            | NoAuth
            | HelloNoAuth
            | WrongPass
            | NoPermCommand(_)
            | NoPermKey => Side::Client,
            SlotNotServed | NoTopology | MovedWhileWatched | TooManyRedirects(_) | NodesDisagree => Side::Cluster,
            NodeUnreachable(_) | NodeUnreachableBecause(..) | ConnectionLost(_) | ReplyTimeout(_) | BadScanReply => {
                Side::Node
            }
            MaxClients | TooManyLeases(_) | Overloaded(_) | MergeFailed | ScanCursorTooLarge | AnsweredBySession => {
                Side::Proxy
            }
        }
    }

    /// Whether sending the same request again can succeed: the cluster settling
    /// (slots moving, the topology learned), a node coming back, slotway's load
    /// dropping. After [`ConnectionLost`](Self::ConnectionLost) and
    /// [`ReplyTimeout`](Self::ReplyTimeout) the first attempt may have run: only a
    /// command that is safe to run twice should be sent again.
    pub fn retryable(&self) -> bool {
        use CommandError::*;
        match self.side() {
            Side::Client => false,
            Side::Cluster => !matches!(self, NodesDisagree),
            Side::Node => !matches!(self, BadScanReply),
            Side::Proxy => matches!(self, MaxClients | TooManyLeases(_) | Overloaded(_)),
        }
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
fn error_reply(text: &str) -> bytes::Bytes {
    let mut out = BytesMut::with_capacity(text.len() + 3);
    out.put_u8(b'-');
    for b in text.bytes() {
        out.put_u8(if b == b'\r' || b == b'\n' { b' ' } else { b });
    }
    out.put_slice(b"\r\n");
    out.freeze()
}

#[cfg(test)]
mod tests;
