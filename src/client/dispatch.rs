//! What happens to one classified request of a client: one method per
//! [`Action`]. The socket loop ([`super::session`]) hands each request here;
//! transactions ([`super::transaction`]) and subscribed mode
//! (`super::subscribed`) are the client's other two states.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;

use super::info;
use super::local::{self, ClientState};
use super::reply_queue::{ReplyMode, ReplyQueue};
use super::settings;
use super::subscribed::subscribed_mode_refusal;
use super::subscriptions::Subscriptions;
use super::transaction::{Transaction, Watch, watched_slot};
use crate::backend::pool::Node;
use crate::cluster::refresh::TopologyCache;
use crate::command::classify::{Action, classify_in};
use crate::command::combine::Combine;
use crate::command::commands::CommandTable;
use crate::command::keys::for_each_key;
use crate::command::table::{CommandSpec, Local};
use crate::config::{Config, ReadFrom};
use crate::error::CommandError;
use crate::observe::hotkeys::Sampler;
use crate::protocol::request::Args;
use crate::proxy::Proxy;
use crate::pubsub::Kind;
use crate::route::dispatch::{Outgoing, Target};
use crate::route::fanout::{self, Merge, Part};
use crate::route::scan;

type CommandsCache = arc_swap::Cache<Arc<arc_swap::ArcSwap<CommandTable>>, Arc<CommandTable>>;

/// One client as the proxy sees it, apart from its socket.
pub struct Client {
    pub(super) proxy: Arc<Proxy>,
    pub(super) replies: ReplyQueue,
    pub(super) state: ClientState,
    pub(super) maxclients: usize,
    /// Between `MULTI` and `EXEC`/`DISCARD`.
    pub(super) multi: Option<Transaction>,
    /// After `WATCH`, until `EXEC`/`DISCARD`/`UNWATCH`/`RESET`.
    pub(super) watch: Option<Watch>,
    /// The topology version this client's in-flight requests were routed with.
    routed_version: u64,
    pub(super) subs: Subscriptions,
    /// When the requests being handled now were read (one clock read per batch).
    pub(super) read_at: std::time::Instant,
    /// Countdown to this client's next hot-key sample.
    hot_keys: Sampler,
    /// The last command this client sent (see [`classify_in`]), and the table it
    /// came from.
    last_command: Option<&'static CommandSpec>,
    last_table: usize,
    /// The command table, re-read only when it changed.
    commands: CommandsCache,
    /// The topology snapshot, re-read only when it changed.
    pub(super) topology: TopologyCache,
}

impl Client {
    pub fn new(proxy: Arc<Proxy>, config: &Config, id: u64) -> Self {
        // Connected while no password is asked: logged in as the default user, as a
        // server logs such a connection in (it stays so if a password is set later).
        let user = (!proxy.users.required()).then(crate::users::User::nopass_default);
        Client {
            topology: proxy.map.cache(),
            commands: arc_swap::Cache::new(proxy.commands.clone()),
            proxy,
            replies: ReplyQueue::default(),
            state: ClientState { id, user, ..Default::default() },
            maxclients: config.maxclients,
            multi: None,
            watch: None,
            routed_version: 0,
            subs: Subscriptions::default(),
            read_at: std::time::Instant::now(),
            hot_keys: Default::default(),
            last_command: None,
            last_table: 0,
        }
    }

    /// Handles one request: `raw` is its bytes, `ranges` its arguments in them.
    pub async fn handle(&mut self, raw: Bytes, ranges: &[Range<usize>]) {
        // Slots changed owner since this client's in-flight requests were routed: let
        // them finish (redirects included) before routing more, so a later command
        // cannot overtake an earlier one on its way to the new owner.
        let version = self.proxy.map.version();
        if version != self.routed_version {
            self.replies.settle().await;
            self.routed_version = version;
        }
        let args = Args::new(&raw, ranges);
        let table = self.commands.load();
        // A new table (the servers changed): the last command's spec may be stale.
        let table_at = Arc::as_ptr(table) as usize;
        if table_at != self.last_table {
            self.last_command = None;
            self.last_table = table_at;
        }
        let (action, spec) = classify_in(args, &mut self.last_command, table);
        self.observe(&action, spec, args, &raw);
        if let Some(refusal) = self.refusal(&action, spec, args) {
            return self.replies.push_ready(refusal);
        }
        if self.multi.is_some() && !matches!(action, Action::Local(Local::Quit | Local::Reset)) {
            return self.queue_in_multi(action, spec, raw).await;
        }
        match action {
            Action::Forward { slot } => self.forward(raw, slot).await,
            Action::Read { slot } => self.read(raw, slot).await,
            Action::Blocking { slot } => self.blocking(raw, slot).await,
            Action::Split => self.split(spec, args).await,
            Action::Scan => self.scan(args).await,
            Action::Broadcast { combine, replicas } => {
                self.broadcast_command(&raw, combine, replicas, spec, args).await
            }
            Action::Publish => self.publish(&raw, args).await,
            Action::Local(Local::Watch) => {
                let slot = watched_slot(spec, args);
                self.watch_command(slot, raw).await
            }
            Action::Local(cmd) => self.local(cmd, spec, args).await,
            Action::Reject(e) => self.replies.push_ready(e.to_reply()),
        }
    }

    /// The slow log's and hot keys' view of the request; scripts remembered to heal
    /// a later `EVALSHA` that meets `NOSCRIPT` (a transaction's, when `EXEC` runs them).
    fn observe(&mut self, action: &Action, spec: Option<&'static CommandSpec>, args: Args<'_>, raw: &Bytes) {
        let rejected = matches!(action, Action::Reject(_));
        self.replies.begin(self.proxy.observe.origin(spec, rejected, self.read_at, raw));
        if let Some(spec) = spec {
            self.proxy.observe.hotkeys.sample(&mut self.hot_keys, self.state.id, spec, args);
            if !rejected && self.multi.is_none() {
                self.proxy.router.scripts.seen(spec.name, args);
            }
        }
    }

    /// Why this client may not run this command now, as the error reply: not
    /// logged in, no permission, or in RESP2 subscribed mode.
    fn refusal(&self, action: &Action, spec: Option<&'static CommandSpec>, args: Args<'_>) -> Option<Bytes> {
        if let Some(refusal) = self.auth_refusal(action, spec, args) {
            return Some(refusal.to_reply());
        }
        if self.subs.active() && !self.state.resp3 {
            return subscribed_mode_refusal(action, spec, args);
        }
        None
    }

    /// Authentication and permissions: the error reply if this client may not run it.
    fn auth_refusal(
        &self,
        action: &Action,
        spec: Option<&'static CommandSpec>,
        args: Args<'_>,
    ) -> Option<CommandError> {
        if !self.proxy.users.required() {
            return None;
        }
        let Some(user) = &self.state.user else {
            // Unknown commands and arity errors come first, as in Redis.
            let allowed = matches!(
                action,
                Action::Reject(_) | Action::Local(Local::Auth | Local::Hello | Local::Quit | Local::Reset)
            );
            return (!allowed).then_some(CommandError::NoAuth);
        };
        let spec = spec?;
        if let Some(refusal) = user.refuse_command(spec) {
            return Some(refusal);
        }
        let mut refusal = None;
        for_each_key(spec, args, |key| {
            if refusal.is_none() {
                refusal = user.refuse_key(key);
            }
        });
        refusal
    }

    /// To the primary of `slot`; on the `WATCH` connection when it watches that slot,
    /// so the client's commands for the watched slot keep their order with its WATCH.
    async fn forward(&mut self, raw: Bytes, slot: Option<u16>) {
        if let Some(slot) = slot
            && self.watches(slot)
        {
            return self.send_leased(raw, slot).await;
        }
        let out = Outgoing::one(raw, slot, self.state.tag());
        match self.proxy.router.send(Target::Primary { slot, view: self.topology.load() }, out).await {
            Ok(rx) => self.replies.push_waiting(rx),
            Err(e) => self.replies.push_ready(e.to_reply()),
        }
    }

    /// A read-only command: to a replica when `--read-from` says so.
    async fn read(&mut self, raw: Bytes, slot: u16) {
        if self.watches(slot) || self.proxy.pool.read_from() == ReadFrom::Primary {
            return self.forward(raw, Some(slot)).await;
        }
        let out = Outgoing::one(raw, Some(slot), self.state.tag());
        match self.proxy.router.send(Target::Reader { slot, view: self.topology.load() }, out).await {
            Ok(rx) => self.replies.push_waiting(rx),
            Err(e) => self.replies.push_ready(e.to_reply()),
        }
    }

    /// A blocking command gets a connection of its own, given back with its reply
    /// (or when the client disconnects), so it holds up nobody else.
    async fn blocking(&mut self, raw: Bytes, slot: Option<u16>) {
        // On its own connection it could overtake the client's earlier requests.
        self.replies.settle().await;
        let owner = self.topology.load().owner(slot, self.state.id).map(|node| node.addr.clone());
        let lease = owner.and_then(|addr| self.proxy.leases.lease(addr, true, self.state.tag()));
        let lease = match lease {
            Ok(lease) => lease,
            Err(e) => return self.replies.push_ready(e.to_reply()),
        };
        match self.proxy.router.send(Target::Lease(&lease), Outgoing::one(raw, slot, self.state.tag())).await {
            Ok(rx) => self.replies.push_leased(rx, lease),
            Err(e) => self.replies.push_ready(e.to_reply()),
        }
    }

    /// Keys across slots: one request per slot, the replies merged.
    async fn split(&mut self, spec: Option<&'static CommandSpec>, args: Args<'_>) {
        let split = fanout::split(spec.map_or("", |s| s.name), args);
        let view = self.topology.load();
        let parts = fanout::send_split(&self.proxy.router, view, split.parts, self.state.tag()).await;
        self.replies.push_merging(parts, split.merge);
    }

    /// One step of a cluster-wide `SCAN`.
    async fn scan(&mut self, args: Args<'_>) {
        let step = match scan::plan(args, self.topology.load()) {
            Ok(step) => step,
            Err(e) => return self.replies.push_ready(e.to_reply()),
        };
        let parts = vec![(step.slot, step.request.clone())];
        let parts = fanout::send_split(&self.proxy.router, self.topology.load(), parts, self.state.tag()).await;
        self.replies.push_merging(parts, Merge::Scan(step));
    }

    /// A keyless command for every primary (and replica): the replies merged.
    async fn broadcast_command(
        &mut self,
        raw: &Bytes,
        combine: Combine,
        replicas: bool,
        spec: Option<&'static CommandSpec>,
        args: Args<'_>,
    ) {
        if spec.is_some_and(|s| s.name == "config|set")
            && let Some(reply) = settings::config_set(args, &self.proxy)
        {
            return self.replies.push_ready(reply);
        }
        let nodes = self.topology.load().nodes(replicas, &self.proxy.pool);
        let merge = match combine {
            Combine::ConfigGet => {
                Merge::ConfigGet { addrs: fanout::addrs(&nodes), own: settings::own_values(&self.proxy.live.load()) }
            }
            Combine::SlotStats => Merge::SlotStats(crate::route::merge::SlotStatsOrder::of(args)),
            Combine::NewestFirst => Merge::Slowlog(match crate::protocol::parse_int(args.get(2)) {
                _ if args.len() < 3 => Some(10),
                Some(n) if n >= 0 => Some(n as usize),
                _ => None, // -1: all of them
            }),
            Combine::PairSum => {
                // PUBSUB NUMSUB / SHARDNUMSUB: count slotway's clients, not its
                // shared subscriptions.
                let kind =
                    if spec.is_some_and(|s| s.name == "pubsub|shardnumsub") { Kind::Shard } else { Kind::Channel };
                let hub = &self.proxy.hub;
                Merge::NumSub(args.iter().skip(2).map(|name| hub.numsub_adjustment(kind, name)).collect())
            }
            _ => Merge::Combine(combine),
        };
        if nodes.is_empty() {
            return self.replies.push_ready(CommandError::NoTopology.to_reply());
        }
        if combine == Combine::Killed {
            return self.kill(raw, &nodes).await;
        }
        let parts = fanout::send_each(&self.proxy.router, &nodes, raw, self.state.tag()).await;
        self.replies.push_merging(parts, merge);
    }

    /// `SCRIPT KILL` / `FUNCTION KILL` to every primary, each on a connection lent
    /// for it: the node running the script reads other connections (after its
    /// busy-reply threshold), never more of the one that sent the script.
    async fn kill(&mut self, raw: &Bytes, nodes: &[Arc<Node>]) {
        let (mut parts, mut leases) = (Vec::with_capacity(nodes.len()), Vec::with_capacity(nodes.len()));
        for node in nodes {
            let lease = match self.proxy.leases.lease(node.addr.clone(), false, self.state.tag()) {
                Ok(lease) => lease,
                Err(e) => {
                    parts.push(Part::Done(Err(e)));
                    continue;
                }
            };
            let out = Outgoing::one(raw.clone(), None, self.state.tag());
            parts.push(Part::of(self.proxy.router.send(Target::Lease(&lease), out).await));
            leases.push(lease);
        }
        self.replies.push_merging_leased(parts, Merge::Combine(Combine::Killed), leases);
    }

    /// `PUBLISH` to any primary; its count of receivers corrected for slotway's
    /// shared subscriptions there (`Hub::publish_adjustment`).
    async fn publish(&mut self, raw: &Bytes, args: Args<'_>) {
        let node = match self.topology.load().any_primary(self.state.id) {
            Some(node) => node.clone(),
            None => return self.replies.push_ready(CommandError::NoTopology.to_reply()),
        };
        let adjust = self.proxy.hub.publish_adjustment(&node.addr, args.get(1));
        let parts = fanout::send_each(&self.proxy.router, &[node], raw, self.state.tag()).await;
        self.replies.push_merging(parts, Merge::Publish(adjust));
    }

    /// A command slotway answers itself (some with the nodes' help).
    async fn local(&mut self, cmd: Local, spec: Option<&'static CommandSpec>, args: Args<'_>) {
        match cmd {
            Local::Subscribe => self.subscribe(Kind::Channel, spec, args),
            Local::PSubscribe => self.subscribe(Kind::Pattern, spec, args),
            Local::SSubscribe => self.subscribe(Kind::Shard, spec, args),
            Local::Unsubscribe => self.unsubscribe(Kind::Channel, args),
            Local::PUnsubscribe => self.unsubscribe(Kind::Pattern, args),
            Local::SUnsubscribe => self.unsubscribe(Kind::Shard, args),
            Local::Ping if self.subs.active() && !self.state.resp3 && args.len() <= 2 => self.subscribed_ping(args),
            Local::ClientReply => self.client_reply(args),
            Local::Multi => self.multi(),
            Local::Exec => self.replies.push_ready(CommandError::ExecWithoutMulti.to_reply()),
            Local::Discard => self.replies.push_ready(CommandError::DiscardWithoutMulti.to_reply()),
            Local::Unwatch => self.unwatch().await,
            Local::Info => self.info(args).await,
            Local::ClientNoTouch => {
                // Its next requests go on other node connections: not before the
                // earlier ones are answered, which they could overtake.
                self.replies.settle().await;
                self.answer(cmd, args);
            }
            Local::Reset => {
                self.reset().await;
                self.answer(cmd, args);
            }
            _ => self.answer(cmd, args),
        }
    }

    /// Answered from slotway's own state alone.
    fn answer(&mut self, cmd: Local, args: Args<'_>) {
        let reply = local::answer(cmd, args, &mut self.state, &self.proxy);
        self.replies.push_ready(reply);
    }

    /// `RESET`: out of `MULTI`, `WATCH`, subscriptions and `CLIENT REPLY` modes.
    async fn reset(&mut self) {
        self.multi = None;
        self.end_watch().await;
        self.subs.clear(&self.proxy.hub, self.state.id);
        self.replies.reset_mode();
    }

    /// `CLIENT REPLY ON|OFF|SKIP`.
    fn client_reply(&mut self, args: Args<'_>) {
        let mode = args.get(2);
        let mode = if mode.eq_ignore_ascii_case(b"on") {
            ReplyMode::On
        } else if mode.eq_ignore_ascii_case(b"off") {
            ReplyMode::Off
        } else if mode.eq_ignore_ascii_case(b"skip") {
            ReplyMode::SkipNext
        } else {
            return self.replies.push_ready(CommandError::Syntax.to_reply());
        };
        self.replies.set_mode(mode);
    }

    /// `INFO`: slotway's own sections, and the primaries' figures where asked.
    async fn info(&mut self, args: Args<'_>) {
        let port = self.state.local_addr.map_or(0, |a| a.port());
        let plan = info::Plan::new(args, &self.proxy, self.maxclients, port);
        let nodes = self.topology.load().nodes(false, &self.proxy.pool);
        match plan.node_request() {
            Some(request) if !nodes.is_empty() => {
                let addrs = fanout::addrs(&nodes);
                let parts = fanout::send_each(&self.proxy.router, &nodes, &request, self.state.tag()).await;
                self.replies.push_info(parts, info::Gather { plan, addrs, resp3: self.state.resp3 });
            }
            _ => self.replies.push_ready(self.state.text(plan.render(&[], 0).as_bytes())),
        }
    }

    /// This client watches keys of `slot` (on its leased connection).
    fn watches(&self, slot: u16) -> bool {
        self.watch.as_ref().is_some_and(|w| w.slot == slot)
    }
}
