//! The routing table: every command and subcommand of Redis 7.0 (generated from its
//! `COMMAND` reply into `redis_commands.rs`) with the route slotway takes for it.
//! Routing decisions are made here, in one `match`, not scattered through the code.

use std::collections::HashMap;
use std::sync::LazyLock;

use super::key_specs::KeySpec;
use super::redis_commands::REDIS_COMMANDS;
use crate::command::combine::Combine;

/// Command flags, as Redis's `COMMAND` reports them.
pub mod flag {
    pub const WRITE: u32 = 1 << 0;
    pub const READONLY: u32 = 1 << 1;
    pub const MOVABLEKEYS: u32 = 1 << 2;
    pub const ADMIN: u32 = 1 << 3;
    pub const PUBSUB: u32 = 1 << 4;
    pub const NOSCRIPT: u32 = 1 << 5;
    pub const BLOCKING: u32 = 1 << 6;
    pub const LOADING: u32 = 1 << 7;
    pub const STALE: u32 = 1 << 8;
    pub const NO_MULTI: u32 = 1 << 9;
    pub const DENYOOM: u32 = 1 << 10;
    pub const FAST: u32 = 1 << 11;
    pub const NO_AUTH: u32 = 1 << 12;
    pub const ALLOW_BUSY: u32 = 1 << 13;
}

/// How slotway serves a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Keys at Redis's fixed positions; all must share a slot; sent to its primary.
    Keys,
    /// Keys at fixed positions; keys in different slots are split into one request
    /// per slot and the replies merged (`MGET`, `MSET`, `DEL`, `UNLINK`, `EXISTS`, `TOUCH`).
    Splittable,
    /// Keyless; sent to every primary (and every replica too when `replicas`), replies merged.
    Broadcast { combine: Combine, replicas: bool },
    /// Keys found by a command-specific rule (numkeys, `STREAMS`, `STORE`, ...).
    Movable(Movable),
    /// `DEBUG OBJECT key` by key; other `DEBUG` subcommands refused.
    DebugObject,
    /// `SCAN`: each primary in turn, with a cursor that says which (`route::scan`).
    Scan,
    /// Keyless but about one slot (`CLUSTER COUNTKEYSINSLOT slot`): the slot's primary.
    SlotArgument,
    /// Has subcommands: look the subcommand up.
    Container,
    /// Keyless, and any primary gives the answer a client expects.
    AnyPrimary,
    /// `PUBLISH`: to any primary (the cluster passes it on to every node); the count
    /// of receivers corrected for slotway's shared subscriptions.
    Publish,
    /// Answered by slotway itself.
    Local(Local),
    /// Keys found by the server's own key specs (a command slotway was not built
    /// with, learned from the cluster's `COMMAND`).
    Specs(&'static [KeySpec]),
    /// Not served through slotway; the text says why.
    Refused(&'static str),
}

/// Why a command with movable keys slotway has no rule for is refused.
pub const NO_KEY_RULE: &str = "its keys cannot be found by slotway";
/// Why a keyless command slotway does not serve yet is refused.
pub const LATER: &str = "not supported yet";

/// Commands whose keys are not at fixed positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Movable {
    /// `EVAL script numkeys key...`, `FCALL`: numkeys at argument 2.
    NumkeysAt2,
    /// `ZUNION numkeys key...`, `SINTERCARD`, `LMPOP`: numkeys at argument 1.
    NumkeysAt1,
    /// `ZUNIONSTORE dest numkeys key...`: a destination, then numkeys at argument 2.
    DestThenNumkeys,
    /// `BLMPOP timeout numkeys key...`.
    TimeoutThenNumkeys,
    /// `XREAD ... STREAMS key... id...`.
    Streams,
    /// `SORT key ... [STORE dest]` (the last STORE; the arguments of LIMIT, GET and BY skipped).
    Sort,
    /// `SORT_RO key ...`: the key alone.
    SortRo,
    /// `GEORADIUS key ... [STORE|STOREDIST dest]`, `GEORADIUSBYMEMBER`.
    GeoStore,
    /// `MIGRATE host port key|"" db timeout ... [KEYS key...]`.
    Migrate,
}

/// Commands slotway answers from its own state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Local {
    Ping,
    Echo,
    Quit,
    Select,
    Hello,
    Auth,
    ClientSetName,
    ClientGetName,
    ClientId,
    ClientInfo,
    ClientList,
    ClientReply,
    ClientNoEvict,
    ClientNoTouch,
    ClientSetInfo,
    /// `CLIENT GETREDIR`, `TRACKINGINFO`, `CACHING`: what Redis answers a client
    /// without tracking (slotway refuses `CLIENT TRACKING`, so none has it on).
    ClientGetRedir,
    ClientTrackingInfo,
    ClientCaching,
    ReadOnly,
    ReadWrite,
    ClusterKeySlot,
    Info,
    Multi,
    Exec,
    Discard,
    /// Keys at fixed positions like `Route::Keys`, sent over a leased connection.
    Watch,
    Unwatch,
    Subscribe,
    PSubscribe,
    /// Keys (shard channels) at fixed positions, all in one slot.
    SSubscribe,
    Unsubscribe,
    PUnsubscribe,
    SUnsubscribe,
    ClusterInfo,
    ClusterSlots,
    ClusterShards,
    ClusterNodes,
    ClusterMyId,
    /// `CLUSTER MYSHARDID` (Redis 7.2, Valkey 8): slotway's one shard.
    ClusterMyShardId,
    /// `CLIENT CAPA` (Valkey 8): capabilities slotway needs none of; `OK`, as Valkey answers.
    ClientCapa,
    ClusterReplicas,
    Reset,
    /// `SLOTWAY SLOWLOG GET|LEN|RESET`: slotway's own slow log.
    SlotwaySlowlog,
    /// `SLOTWAY HOTKEYS [count]`: the most requested keys, estimated.
    SlotwayHotkeys,
    SlotwayHelp,
    Role,
}

#[derive(Debug, Clone, Copy)]
pub struct CommandSpec {
    /// Lowercase name; `parent|sub` for subcommands (as Redis names them).
    pub name: &'static str,
    /// Redis arity: exact argument count (name included) if positive, minimum if negative.
    pub arity: i16,
    pub flags: u32,
    pub first_key: i16,
    pub last_key: i16,
    pub key_step: i16,
    pub route: Route,
    /// Position in the table, `0..count()`: indexes per-command counters (an array
    /// slot instead of a lookup by name on every command).
    pub index: u16,
}

impl CommandSpec {
    pub fn arity_ok(&self, argc: usize) -> bool {
        let a = self.arity as isize;
        if a >= 0 { argc as isize == a } else { argc as isize >= -a }
    }

    pub fn is(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }
}

/// The decision for each command. Commands with fixed key positions route by key;
/// every keyless command is listed here explicitly, so none is guessed.
pub(super) fn route_for(name: &str, flags: u32, first_key: i16) -> Route {
    if flags & flag::MOVABLEKEYS != 0 {
        return movable_route(name);
    }
    if let Some(route) = ahead_of_keys(name) {
        return route;
    }
    if first_key > 0 {
        return Route::Keys;
    }
    local_route(name).unwrap_or_else(|| keyless_route(name, flags))
}

/// How a command with movable keys (`movablekeys`) finds them.
fn movable_route(name: &str) -> Route {
    use Route::{Movable, Refused};
    Movable(match name {
        "eval" | "eval_ro" | "evalsha" | "evalsha_ro" | "fcall" | "fcall_ro" => self::Movable::NumkeysAt2,
        "sintercard" | "zintercard" | "zdiff" | "zinter" | "zunion" | "lmpop" | "zmpop" => self::Movable::NumkeysAt1,
        "zunionstore" | "zinterstore" | "zdiffstore" => self::Movable::DestThenNumkeys,
        "blmpop" | "bzmpop" => self::Movable::TimeoutThenNumkeys,
        "xread" | "xreadgroup" => self::Movable::Streams,
        "sort" => self::Movable::Sort,
        "sort_ro" => self::Movable::SortRo,
        "georadius" | "georadiusbymember" => self::Movable::GeoStore,
        "migrate" => self::Movable::Migrate,
        _ => return Refused(NO_KEY_RULE),
    })
}

/// Commands decided by name even when they have keys: transactions, subscriptions,
/// and the multi-key commands slotway splits by slot.
fn ahead_of_keys(name: &str) -> Option<Route> {
    use self::Local::*;
    use Route::{Local as L, Refused, Splittable};
    let primaries = |combine| Route::Broadcast { combine, replicas: false };
    Some(match name {
        // WAIT counts the replicas that acknowledged this connection's writes; a
        // client's writes travel on shared connections, so the count would mean nothing.
        "wait" | "waitaof" => Refused("it counts one connection's writes, and slotway shares node connections"),
        "subscribe" => L(Subscribe),
        "psubscribe" => L(PSubscribe),
        "ssubscribe" => L(SSubscribe),
        "unsubscribe" => L(Unsubscribe),
        "punsubscribe" => L(PUnsubscribe),
        "sunsubscribe" => L(SUnsubscribe),
        "pubsub|channels" => Route::Broadcast { combine: Combine::ConcatUnique, replicas: true },
        "pubsub|shardchannels" => primaries(Combine::ConcatUnique),
        "pubsub|numsub" => Route::Broadcast { combine: Combine::PairSum, replicas: true },
        "pubsub|shardnumsub" => primaries(Combine::PairSum),
        "pubsub|numpat" => Route::Broadcast { combine: Combine::Sum, replicas: true },
        "multi" => L(Multi),
        "exec" => L(Exec),
        "discard" => L(Discard),
        "watch" => L(Watch),
        "unwatch" => L(Unwatch),
        "mget" | "mset" | "del" | "unlink" | "exists" | "touch" => Splittable,
        _ => return None,
    })
}

/// Keyless commands slotway answers itself.
fn local_route(name: &str) -> Option<Route> {
    use self::Local::*;
    use Route::Local as L;
    Some(match name {
        "ping" => L(Ping),
        "echo" => L(Echo),
        "quit" => L(Quit),
        "select" => L(Select),
        "hello" => L(Hello),
        "auth" => L(Auth),
        "reset" => L(Reset),
        "role" => L(Role),
        "readonly" => L(ReadOnly),
        "readwrite" => L(ReadWrite),
        "client|setname" => L(ClientSetName),
        "client|getname" => L(ClientGetName),
        "client|id" => L(ClientId),
        "client|info" => L(ClientInfo),
        "client|list" => L(ClientList),
        "client|reply" => L(ClientReply),
        "client|no-evict" => L(ClientNoEvict),
        "client|no-touch" => L(ClientNoTouch),
        "client|setinfo" => L(ClientSetInfo),
        "client|getredir" => L(ClientGetRedir),
        "client|trackinginfo" => L(ClientTrackingInfo),
        "client|caching" => L(ClientCaching),
        "cluster|keyslot" => L(ClusterKeySlot),
        "cluster|info" => L(ClusterInfo),
        "info" => L(Info),
        "cluster|slots" => L(ClusterSlots),
        "cluster|shards" => L(ClusterShards),
        "cluster|nodes" => L(ClusterNodes),
        "cluster|myid" => L(ClusterMyId),
        // Known only when the servers behind slotway have them (learned from COMMAND).
        "cluster|myshardid" => L(ClusterMyShardId),
        "client|capa" => L(ClientCapa),
        "cluster|replicas" | "cluster|slaves" => L(ClusterReplicas),
        "slotway|slowlog" => L(SlotwaySlowlog),
        "slotway|hotkeys" => L(SlotwayHotkeys),
        "slotway|help" => L(SlotwayHelp),
        _ => return None,
    })
}

/// Every other keyless command: to every node (merged), any primary, or refused.
fn keyless_route(name: &str, flags: u32) -> Route {
    use Route::{AnyPrimary, Refused};
    let primaries = |combine| Route::Broadcast { combine, replicas: false };
    const PROXY: &str = "it acts on one node, and slotway hides the nodes";
    match name {
        "dbsize" => primaries(Combine::Sum),
        // DEBUG OBJECT key goes to the key's primary; every other DEBUG is refused.
        "debug" => Route::DebugObject,
        "scan" => Route::Scan,
        "keys" => primaries(Combine::Concat),
        "flushall" | "flushdb" | "script|flush" | "function|delete" | "function|flush" | "function|restore" => {
            primaries(Combine::AllOk)
        }
        "randomkey" => primaries(Combine::FirstNonNil),
        "script|load" | "function|load" => primaries(Combine::Same),
        "script|exists" => primaries(Combine::AnyOfArrays),
        "script|kill" | "function|kill" => primaries(Combine::Killed),
        // Known only when the servers have it (learned from COMMAND).
        "cluster|slot-stats" => primaries(Combine::SlotStats),
        // Tuning the whole cluster through slotway: every node, replicas included.
        "config|set" | "config|resetstat" | "config|rewrite" | "slowlog|reset" => {
            Route::Broadcast { combine: Combine::AllOk, replicas: true }
        }
        "slowlog|len" => Route::Broadcast { combine: Combine::Sum, replicas: true },
        "slowlog|get" => Route::Broadcast { combine: Combine::NewestFirst, replicas: true },
        "config|get" => Route::Broadcast { combine: Combine::ConfigGet, replicas: true },
        "function|list" | "function|dump" | "function|stats" => AnyPrimary,
        "cluster|countkeysinslot" | "cluster|getkeysinslot" => Route::SlotArgument,
        "publish" => Route::Publish,
        // Same answer from any node.
        "command"
        | "command|count"
        | "command|docs"
        | "command|getkeys"
        | "command|getkeysandflags"
        | "command|help"
        | "command|info"
        | "command|list"
        | "time"
        | "lastsave"
        | "lolwut"
        | "config|help"
        | "memory|doctor"
        | "memory|help"
        | "memory|malloc-stats"
        | "memory|stats"
        | "latency|help"
        | "function|help"
        | "script|help"
        | "object|help"
        | "xinfo|help"
        | "xgroup|help"
        | "pubsub|help"
        | "slowlog|help"
        | "cluster|help"
        | "client|help"
        | "acl|help"
        | "acl|cat"
        | "acl|genpass"
        | "acl|whoami"
        | "module|help"
        | "module|list" => AnyPrimary,
        _ if name.contains('|') => Refused(if flags & flag::ADMIN != 0 { PROXY } else { LATER }),
        "shutdown" | "replicaof" | "slaveof" | "failover" | "sync" | "psync" | "replconf" | "monitor" | "swapdb"
        | "save" | "bgsave" | "bgrewriteaof" | "asking" | "pfselftest" => Refused(PROXY),
        _ => Refused(LATER),
    }
}

/// Commands of later Redis versions that clients send on connect and slotway answers
/// itself (Redis 7.2's `CLIENT SETINFO` and `CLIENT NO-TOUCH`), and slotway's own
/// `SLOTWAY` (admin, as Redis's `SLOWLOG`: it shows other clients' commands).
static EXTRA_COMMANDS: &[(&str, i16, u32, i16, i16, i16)] = &[
    ("client|no-touch", 3, flag::LOADING | flag::NOSCRIPT | flag::STALE, 0, 0, 0),
    ("client|setinfo", 4, flag::LOADING | flag::NOSCRIPT | flag::STALE, 0, 0, 0),
    ("slotway", -2, 0, 0, 0, 0),
    ("slotway|slowlog", -3, flag::ADMIN | flag::LOADING | flag::STALE, 0, 0, 0),
    ("slotway|hotkeys", -2, flag::ADMIN | flag::LOADING | flag::STALE, 0, 0, 0),
    ("slotway|help", 2, flag::LOADING | flag::STALE, 0, 0, 0),
];

/// FNV-1a: command names are short and not attacker-chosen keys of a growing map,
/// so a cheap hash beats SipHash on the per-command lookup.
#[derive(Default, Clone, Copy)]
struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 { 0xcbf2_9ce4_8422_2325 } else { self.0 };
        for &b in bytes {
            h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
        }
        self.0 = h;
    }
}

type FnvBuild = std::hash::BuildHasherDefault<Fnv>;

static TABLE: LazyLock<HashMap<&'static [u8], CommandSpec, FnvBuild>> = LazyLock::new(|| {
    let containers: Vec<&str> = REDIS_COMMANDS
        .iter()
        .chain(EXTRA_COMMANDS)
        .filter_map(|(n, ..)| n.split_once('|').map(|(parent, _)| parent))
        .collect();
    REDIS_COMMANDS
        .iter()
        .chain(EXTRA_COMMANDS)
        .enumerate()
        .map(|(index, &(name, arity, flags, first_key, last_key, key_step))| {
            let route = if containers.contains(&name) { Route::Container } else { route_for(name, flags, first_key) };
            let index = u16::try_from(index).unwrap_or(u16::MAX);
            let spec = CommandSpec { name, arity, flags, first_key, last_key, key_step, route, index };
            (name.as_bytes(), spec)
        })
        .collect()
});

/// Looks up a command (`get`) or subcommand (`client|setname`) by lowercase name.
pub fn lookup(lowercase_name: &[u8]) -> Option<&'static CommandSpec> {
    TABLE.get(lowercase_name)
}

/// Commands and subcommands in the built-in table: their [`CommandSpec::index`] is below it.
pub fn count() -> usize {
    REDIS_COMMANDS.len() + EXTRA_COMMANDS.len()
}

/// Commands a learned table (`command::commands`) may add beyond the built-in ones
/// (their counters are preallocated); past it, new commands share the last index.
pub const LEARNED_MAX: usize = 512;

/// Every [`CommandSpec::index`], learned commands' included, is below it.
pub fn capacity() -> usize {
    count() + LEARNED_MAX
}

/// Every command and subcommand slotway knows, sorted by name.
pub fn all() -> Vec<&'static CommandSpec> {
    let mut v: Vec<_> = TABLE.values().collect();
    v.sort_by_key(|c| c.name);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_redis_commands() {
        assert_eq!(lookup(b"get").unwrap().route, Route::Keys);
        assert_eq!(lookup(b"client").unwrap().route, Route::Container);
        assert_eq!(lookup(b"client|setname").unwrap().route, Route::Local(Local::ClientSetName));
        assert_eq!(lookup(b"eval").unwrap().route, Route::Movable(Movable::NumkeysAt2));
        assert_eq!(lookup(b"object|encoding").unwrap().route, Route::Keys);
        assert!(matches!(lookup(b"shutdown").unwrap().route, Route::Refused(_)));
        assert_eq!(lookup(b"mget").unwrap().route, Route::Splittable);
        assert!(lookup(b"nosuchcommand").is_none());
    }

    #[test]
    fn indexes_are_distinct_and_below_count() {
        let mut seen = vec![false; count()];
        for c in all() {
            let i = usize::from(c.index);
            assert!(i < count() && !seen[i], "{} has index {i}", c.name);
            seen[i] = true;
        }
        assert!(seen.iter().all(|&s| s), "every index is used");
    }

    #[test]
    fn every_movable_command_has_a_rule() {
        for c in all() {
            if c.is(flag::MOVABLEKEYS) {
                assert!(matches!(c.route, Route::Movable(_)), "{} has no key rule", c.name);
            }
        }
    }
}
