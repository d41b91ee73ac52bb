//! Every error a client can see: its exact reply, its side, whether a retry can
//! succeed; and no error reply built outside this module.

use super::CommandError::*;
use super::*;

/// One of each variant, with the exact reply a client gets, its side and
/// whether a retry can succeed.
fn every() -> Vec<(CommandError, &'static str, Side, bool)> {
    [every_from_clients(), every_other()].concat()
}

/// The client's own errors, first half.
fn every_from_clients() -> Vec<(CommandError, &'static str, Side, bool)> {
    use Side::Client as C;
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
        (NotAllowedInMulti, "-ERR Command not allowed inside a transaction\r\n", C, false),
        (
            ConfigSetFailed { param: s("timeout"), why: "argument couldn't be parsed into an integer" },
            "-ERR CONFIG SET failed (possibly related to argument 'timeout') - argument couldn't be parsed into an integer\r\n",
            C,
            false,
        ),
        (
            ConfigSetOutOfRange { param: s("maxclients"), min: 1, max: 4294967295 },
            "-ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument must be between 1 and 4294967295 inclusive\r\n",
            C,
            false,
        ),
        (
            MixedConfigSet,
            "-ERR slotway sets requirepass, maxclients and timeout itself: set them in a CONFIG SET of their own\r\n",
            C,
            false,
        ),
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
    ]
}

/// The rest of the client's errors, then the cluster's, the nodes' and slotway's.
fn every_other() -> Vec<(CommandError, &'static str, Side, bool)> {
    use Side::{Client as C, Cluster as K, Node as N, Proxy as P};
    let s = String::from;
    vec![
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
        (NoPermKey, "-NOPERM this user has no permissions to access one of the keys used as arguments\r\n", C, false),
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
        NotAllowedInMulti => 50,
        ConfigSetFailed { .. } => 51,
        ConfigSetOutOfRange { .. } => 52,
        MixedConfigSet => 53,
    }
}
const VARIANTS: usize = 54;

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
