//! The command table in force: the built-in Redis 7.0 table ([`super::table`]),
//! adjusted by what the cluster's primaries say of their commands (`COMMAND`, read
//! by `cluster::commands`). Where the two disagree (arity, flags, key positions)
//! the cluster wins; commands the built-in table lacks (a newer server's, a
//! module's) are routed by the server's description: key positions and key specs
//! for keyed commands, request/response-policy tips for keyless ones.
//!
//! The built-in table stays the fast path: a lookup is the built-in hash lookup
//! plus one indexed load, and a name it lacks costs one more lookup.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU16, Ordering};

use super::combine::Combine;
use super::learned::LearnedCommand;
use super::table::{self, CommandSpec, LEARNED_MAX, Route, flag};

pub struct CommandTable {
    /// By built-in index: the cluster's version of a built-in command, where it differs.
    overrides: Box<[Option<&'static CommandSpec>]>,
    /// Commands and subcommands the built-in table lacks, by lowercase name.
    extra: HashMap<Box<[u8]>, &'static CommandSpec>,
    /// What the table was built from, for `INFO` and the log.
    pub source: String,
}

impl Default for CommandTable {
    fn default() -> Self {
        CommandTable::builtin()
    }
}

impl CommandTable {
    /// The built-in table alone (before the cluster has been asked, or when it cannot say).
    pub fn builtin() -> CommandTable {
        CommandTable {
            overrides: vec![None; table::count()].into_boxed_slice(),
            extra: HashMap::new(),
            source: "built-in (Redis 7.0)".into(),
        }
    }

    /// The built-in table, shared.
    pub fn builtin_ref() -> &'static CommandTable {
        static BUILTIN: std::sync::LazyLock<CommandTable> = std::sync::LazyLock::new(CommandTable::builtin);
        &BUILTIN
    }

    /// Looks up a command (`get`) or subcommand (`client|setname`) by lowercase name.
    pub fn lookup(&self, lowercase_name: &[u8]) -> Option<&'static CommandSpec> {
        match table::lookup(lowercase_name) {
            Some(spec) => Some(self.overrides.get(usize::from(spec.index)).copied().flatten().unwrap_or(spec)),
            None => self.extra.get(lowercase_name).copied(),
        }
    }

    /// Commands the cluster has that the built-in table lacks.
    pub fn added(&self) -> usize {
        self.extra.len()
    }

    /// Built-in commands the cluster describes differently.
    pub fn changed(&self) -> usize {
        self.overrides.iter().filter(|o| o.is_some()).count()
    }

    /// The table for primaries that described their commands as `per_primary`
    /// (lowest version first): a command counts only if every primary has it, and
    /// the first primary's description of it wins (what every primary supports).
    pub fn learn(per_primary: &[Vec<LearnedCommand>], source: String) -> CommandTable {
        let mut table = CommandTable { source, ..CommandTable::builtin() };
        let Some((first, others)) = per_primary.split_first() else { return table };
        let everywhere = |name: &str| others.iter().all(|p| p.iter().any(|c| c.name == name));
        for learned in first.iter().filter(|c| everywhere(&c.name)) {
            match table::lookup(learned.name.as_bytes()) {
                Some(builtin) if same(builtin, learned) => {}
                Some(builtin) => {
                    let route = match builtin.route {
                        Route::Keys | Route::Movable(_) => learned_route(learned),
                        route => route,
                    };
                    let spec = intern(learned, route, Some(builtin.index));
                    if let Some(slot) = table.overrides.get_mut(usize::from(builtin.index)) {
                        *slot = Some(spec);
                    }
                }
                None => {
                    let route = if learned.container { Route::Container } else { learned_route(learned) };
                    table.extra.insert(learned.name.as_bytes().into(), intern(learned, route, None));
                }
            }
        }
        table
    }
}

/// Whether the cluster describes a built-in command as the built-in table does.
fn same(builtin: &CommandSpec, learned: &LearnedCommand) -> bool {
    (builtin.arity, builtin.flags, builtin.first_key, builtin.last_key, builtin.key_step)
        == (learned.arity, learned.flags, learned.first_key, learned.last_key, learned.key_step)
}

/// How to route a command by its description alone.
fn learned_route(learned: &LearnedCommand) -> Route {
    let specs: Vec<_> = learned.key_specs.iter().copied().filter(|s| s.locatable()).collect();
    match table::route_for(&learned.name, learned.flags, learned.first_key) {
        // A command with movable keys slotway has no rule for: the server's key specs.
        Route::Refused(table::NO_KEY_RULE) if !specs.is_empty() => Route::Specs(Box::leak(specs.into_boxed_slice())),
        // A keyless command slotway was not built with: the server's tips decide.
        Route::Refused(table::LATER) if learned.first_key == 0 && specs.is_empty() => by_tips(learned),
        route => route,
    }
}

/// A keyless command's route from its request and response policies, as Redis's
/// documentation tells cluster clients to read them: to every shard (or node) with
/// the replies summed or all required to succeed; with no request policy, to any
/// shard, unless it is an administrative command (which acts on one node).
fn by_tips(learned: &LearnedCommand) -> Route {
    let broadcast = |replicas| match learned.tip("response_policy") {
        Some("agg_sum") => Route::Broadcast { combine: Combine::Sum, replicas },
        Some("all_succeeded") => Route::Broadcast { combine: Combine::AllOk, replicas },
        _ => Route::Refused(table::LATER),
    };
    if learned.name.starts_with("client|") {
        // Acts on the client's connection, which slotway's node connections are not.
        return Route::Refused(table::LATER);
    }
    match learned.tip("request_policy") {
        Some("all_shards") => broadcast(false),
        Some("all_nodes") => broadcast(true),
        None if learned.flags & (flag::ADMIN | flag::BLOCKING) == 0 => Route::AnyPrimary,
        _ => Route::Refused(table::LATER),
    }
}

/// The spec for a learned command, one per distinct description for the process's
/// life (a table is rebuilt when the servers change; the same description is not
/// leaked twice). A built-in command keeps its index; a new one takes the next.
fn intern(learned: &LearnedCommand, route: Route, index: Option<u16>) -> &'static CommandSpec {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let key: Key = (
        learned.name.clone(),
        learned.arity,
        learned.flags,
        learned.first_key,
        learned.last_key,
        learned.key_step,
        route,
    );
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, spec)) = seen.iter().find(|(k, _)| *k == key) {
        return spec;
    }
    let index = index.unwrap_or_else(|| {
        let next = usize::from(NEXT.fetch_add(1, Ordering::Relaxed)).min(LEARNED_MAX - 1);
        u16::try_from(table::count() + next).unwrap_or(u16::MAX)
    });
    let spec: &'static CommandSpec = Box::leak(Box::new(CommandSpec {
        name: Box::leak(learned.name.clone().into_boxed_str()),
        arity: learned.arity,
        flags: learned.flags,
        first_key: learned.first_key,
        last_key: learned.last_key,
        key_step: learned.key_step,
        route,
        index,
    }));
    seen.push((key, spec));
    spec
}

/// What a learned spec is interned by: its description and route.
type Key = (String, i16, u32, i16, i16, i16, Route);

/// Every spec a learned table made, by description.
static SEEN: Mutex<Vec<(Key, &'static CommandSpec)>> = Mutex::new(Vec::new());

/// Every spec a learned table ever made (for per-command statistics).
pub fn learned_specs() -> Vec<&'static CommandSpec> {
    SEEN.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|(_, spec)| *spec).collect()
}
