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

#[cfg(test)]
mod tests {
    use super::CommandError::*;
    use super::*;

    /// One of each variant, with the exact reply a client gets, its side and
    /// whether a retry can succeed.
    fn every() -> Vec<(CommandError, &'static str, Side, bool)> {
        use Side::{Client as C, Cluster as K, Node as N, Proxy as P};
        let s = String::from;
        vec![
            (CrossSlot, "-CROSSSLOT Keys in request don't hash to the same slot\r\n", C, false),
            (
                CommandError::unknown_command(b"foo", &[b"a", b"b"]),
                "-ERR unknown command 'foo', with args beginning with: 'a' 'b' \r\n",
                C,
                false,
            ),
            (
                UnknownSubcommand { cmd: s("SLOTWAY"), sub: s("slowlog x") },
                "-ERR unknown subcommand 'slowlog x'. Try SLOTWAY HELP.\r\n",
                C,
                false,
            ),
            (WrongArity(s("get")), "-ERR wrong number of arguments for 'get' command\r\n", C, false),
            (Unsupported(s("debug"), "why"), "-ERR slotway does not support 'debug': why\r\n", C, false),
            (Protocol(ProtocolError::ExpectedDollar(b'x')), "-ERR Protocol error: expected '$', got 'x'\r\n", C, false),
            (Syntax, "-ERR syntax error\r\n", C, false),
            (NotAnInteger, "-ERR value is not an integer or out of range\r\n", C, false),
            (InvalidCursor, "-ERR invalid cursor\r\n", C, false),
            (NestedMulti, "-ERR MULTI calls can not be nested\r\n", C, false),
            (WatchInMulti, "-ERR WATCH inside MULTI is not allowed\r\n", C, false),
            (ExecWithoutMulti, "-ERR EXEC without MULTI\r\n", C, false),
            (DiscardWithoutMulti, "-ERR DISCARD without MULTI\r\n", C, false),
            (ExecAbort, "-EXECABORT Transaction discarded because of previous errors.\r\n", C, false),
            (
                NotInSubscribedContext(s("get")),
                "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed \
                 in this context\r\n",
                C,
                false,
            ),
            (SelectInCluster, "-ERR SELECT is not allowed in cluster mode\r\n", C, false),
            (NoProto, "-NOPROTO unsupported protocol version\r\n", C, false),
            (ProtocolVersionNotInteger, "-ERR Protocol version is not an integer or out of range\r\n", C, false),
            (HelloSyntax(s("x")), "-ERR Syntax error in HELLO option 'x'\r\n", C, false),
            (BadClientName, "-ERR Client names cannot contain spaces, newlines or special characters.\r\n", C, false),
            (
                BadClientInfo(s("lib-name")),
                "-ERR lib-name cannot contain spaces, newlines or special characters.\r\n",
                C,
                false,
            ),
            (UnrecognizedOption(s("x")), "-ERR Unrecognized option 'x'\r\n", C, false),
            (InvalidClientId, "-ERR Invalid client ID\r\n", C, false),
            (UnknownClientType(s("x")), "-ERR Unknown client type 'x'\r\n", C, false),
            (
                CachingWithoutTracking,
                "-ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT \
                 mode enabled\r\n",
                C,
                false,
            ),
            (UnknownNode(s("abc")), "-ERR Unknown node abc\r\n", C, false),
            (SlowlogCount, "-ERR count should be greater than or equal to -1\r\n", C, false),
            (HotkeysCount, "-ERR count should be a positive integer\r\n", C, false),
            (
                AuthWithoutPassword,
                "-ERR AUTH <password> called without any password configured for the default user. Are you sure \
                 your configuration is correct?\r\n",
                C,
                false,
            ),
            (NoAuth, "-NOAUTH Authentication required.\r\n", C, false),
            (
                HelloNoAuth,
                "-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH \
                 <user> <pass> option can be used to authenticate the client and select the RESP protocol version at \
                 the same time\r\n",
                C,
                false,
            ),
            (WrongPass, "-WRONGPASS invalid username-password pair or user is disabled.\r\n", C, false),
            (NoPermCommand("set"), "-NOPERM this user has no permissions to run the 'set' command\r\n", C, false),
            (
                NoPermKey,
                "-NOPERM this user has no permissions to access one of the keys used as arguments\r\n",
                C,
                false,
            ),
            (SlotNotServed, "-CLUSTERDOWN Hash slot not served\r\n", K, true),
            (NoTopology, "-CLUSTERDOWN slotway has no topology yet: no seed node answered\r\n", K, true),
            (MovedWhileWatched, "-TRYAGAIN the slot moved while the client had keys WATCHed\r\n", K, true),
            (
                TooManyRedirects(5),
                "-TRYAGAIN slotway followed 5 redirects for this command without reaching its node\r\n",
                K,
                true,
            ),
            (NodesDisagree, "-ERR the cluster's nodes gave different replies\r\n", K, false),
            (NodeUnreachable(s("a:1")), "-CLUSTERDOWN node a:1 is unreachable\r\n", N, true),
            (
                NodeUnreachableBecause(s("a:1"), "refused\r\nnow".into()),
                "-CLUSTERDOWN node a:1 is unreachable: refused  now\r\n",
                N,
                true,
            ),
            (
                ConnectionLost(s("a:1")),
                "-ERR slotway lost the connection to node a:1; the command may or may not have run\r\n",
                N,
                true,
            ),
            (
                ReplyTimeout(s("a:1")),
                "-ERR node a:1 did not reply in time; the command may or may not have run\r\n",
                N,
                true,
            ),
            (BadScanReply, "-ERR slotway could not read a node's SCAN reply\r\n", N, false),
            (MaxClients, "-ERR max number of clients reached\r\n", P, true),
            (
                TooManyLeases(3),
                "-ERR slotway has 3 connections lent to blocking commands and WATCH already (max-leased-conns)\r\n",
                P,
                true,
            ),
            (Overloaded(s("a:1")), "-ERR slotway is overloaded: the queue to node a:1 is full\r\n", P, true),
            (MergeFailed, "-ERR slotway could not merge the nodes' replies\r\n", P, false),
            (ScanCursorTooLarge, "-ERR a node's SCAN cursor is too large for slotway to carry\r\n", P, false),
            (AnsweredBySession, "-ERR this command is answered by the client session\r\n", P, false),
        ]
    }

    /// A number per variant, without a wildcard: a new variant does not compile
    /// until it has one, and the test below fails until `every` has an example.
    fn ordinal(e: &CommandError) -> usize {
        match e {
            CrossSlot => 0,
            UnknownCommand { .. } => 1,
            UnknownSubcommand { .. } => 2,
            WrongArity(_) => 3,
            Unsupported(..) => 4,
            Protocol(_) => 5,
            Syntax => 6,
            NotAnInteger => 7,
            InvalidCursor => 8,
            NestedMulti => 9,
            WatchInMulti => 10,
            ExecWithoutMulti => 11,
            DiscardWithoutMulti => 12,
            ExecAbort => 13,
            NotInSubscribedContext(_) => 14,
            SelectInCluster => 15,
            NoProto => 16,
            ProtocolVersionNotInteger => 17,
            HelloSyntax(_) => 18,
            BadClientName => 19,
            BadClientInfo(_) => 20,
            UnrecognizedOption(_) => 21,
            InvalidClientId => 22,
            UnknownClientType(_) => 23,
            CachingWithoutTracking => 24,
            UnknownNode(_) => 25,
            SlowlogCount => 26,
            HotkeysCount => 27,
            AuthWithoutPassword => 28,
            NoAuth => 29,
            HelloNoAuth => 30,
            WrongPass => 31,
            NoPermCommand(_) => 32,
            NoPermKey => 33,
            SlotNotServed => 34,
            NoTopology => 35,
            MovedWhileWatched => 36,
            TooManyRedirects(_) => 37,
            NodesDisagree => 38,
            NodeUnreachable(_) => 39,
            NodeUnreachableBecause(..) => 40,
            ConnectionLost(_) => 41,
            ReplyTimeout(_) => 42,
            BadScanReply => 43,
            MaxClients => 44,
            TooManyLeases(_) => 45,
            Overloaded(_) => 46,
            MergeFailed => 47,
            ScanCursorTooLarge => 48,
            AnsweredBySession => 49,
        }
    }
    const VARIANTS: usize = 50;

    /// Lines of the `.rs` files under `src` (but `error.rs`) that build an error
    /// reply: call `error_reply` or hold a string starting with an error code slotway
    /// sends. Test code may assert on replies: a file's lines after `#[cfg(test)]`,
    /// and files of `tests` modules, are skipped.
    fn replies_built_outside(src: &std::path::Path) -> Vec<String> {
        const CODES: &[&str] =
            &["ERR", "NOAUTH", "WRONGPASS", "NOPERM", "NOPROTO", "EXECABORT", "CROSSSLOT", "CLUSTERDOWN", "TRYAGAIN"];
        fn walk(dir: &std::path::Path, files: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, files);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    files.push(path);
                }
            }
        }
        let mut files = Vec::new();
        walk(src, &mut files);
        files.sort();
        let mut found = Vec::new();
        for file in &files {
            let rel = file.strip_prefix(src).unwrap();
            let test_file =
                rel.file_stem().is_some_and(|s| s == "tests") || rel.components().any(|c| c.as_os_str() == "tests");
            if rel == std::path::Path::new("error.rs") || test_file {
                continue;
            }
            let text = std::fs::read_to_string(file).unwrap();
            for (n, line) in text.lines().enumerate() {
                if line.trim_start().starts_with("#[cfg(test)]") {
                    break;
                }
                let built = line.contains("error_reply(")
                    || CODES.iter().any(|c| line.contains(&format!("\"{c} ")) || line.contains(&format!("\"-{c} ")));
                if built {
                    found.push(format!("src/{}:{}: {}", rel.display(), n + 1, line.trim()));
                }
            }
        }
        found
    }

    /// Error replies are made in this file only.
    #[test]
    fn error_replies_are_built_in_this_file_only() {
        let found = replies_built_outside(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
        assert!(
            found.is_empty(),
            "error replies built outside src/error.rs (make them CommandError variants):\n{}",
            found.join("\n")
        );
    }

    #[test]
    fn the_error_reply_check_finds_what_it_looks_for() {
        let src = std::env::temp_dir().join(format!("slotway-error-home-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&src);
        std::fs::create_dir_all(src.join("a/tests")).unwrap();
        let write = |path: &str, text: &str| std::fs::write(src.join(path), text).unwrap();
        write("error.rs", "fn error_reply(t: &str) {}\nconst A: &str = \"ERR here is home\";\n");
        write(
            "a/b.rs",
            "x(\"ERR built by hand\");\ny(b\"-NOAUTH by hand\\r\\n\");\nerror_reply(\"z\");\n\
             starts_with(b\"-EXECABORT\");\n#[cfg(test)]\nassert_eq!(r, \"-ERR in a test\");\n",
        );
        write("a/tests.rs", "assert_eq!(r, \"-ERR in a test file\");\n");
        write("a/tests/c.rs", "assert_eq!(r, \"-ERR in a test file\");\n");
        let found = replies_built_outside(&src);
        let _ = std::fs::remove_dir_all(&src);
        let lines: Vec<&str> = found.iter().map(|f| f.split(": ").next().unwrap()).collect();
        assert_eq!(lines, ["src/a/b.rs:1", "src/a/b.rs:2", "src/a/b.rs:3"], "{found:?}");
    }

    #[test]
    fn every_variant_has_its_reply_side_and_retry() {
        let all = every();
        let mut seen: Vec<usize> = all.iter().map(|(e, ..)| ordinal(e)).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..VARIANTS).collect::<Vec<_>>(), "one example of every variant, once");
        for (e, reply, side, retryable) in all {
            assert_eq!(std::str::from_utf8(&e.to_reply()).unwrap(), reply, "{e:?}");
            assert_eq!(e.side(), side, "{e:?}");
            assert_eq!(e.retryable(), retryable, "{e:?}");
        }
    }
}
