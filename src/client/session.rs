//! The per-client loop: read requests, classify each, send it on its way, and write
//! replies back in request order.
//!
//! Backpressure: the client is not read while it has `max_pipeline` replies
//! pending, and not while slotway is writing to it, so a client that stops reading
//! its replies stops being read (bounded memory), and nobody else is slowed.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use std::task::Poll;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tracing::{debug, warn};

use super::auth;
use super::info;
use super::local::{self, ClientState};
use super::registry::ClientRow;
use super::reply_queue::{Part, ReplyMode, ReplyQueue};
use super::subscriptions::Subscriptions;
use super::transaction::{Transaction, Watch};
use crate::backend::connection::BackendRequest;
use crate::backend::pool::ReadFrom;
use crate::command::classify::{Action, classify_after};
use crate::command::keys::{for_each_key, request_slot};
use crate::command::table::CommandSpec;
use crate::command::table::Local;
use crate::config::Config;
use crate::error::{CommandError, error_reply};
use crate::metrics::Metrics;
use crate::net::stream::Stream;
use crate::observe::ClientObserver;
use crate::protocol::request::{Args, RequestParser};
use crate::pubsub::{Kind, push_frame};
use crate::route::dispatch::Router;
use crate::route::fanout::{self, Combine, Merge};
use crate::route::scan;
use tokio::sync::oneshot;

const READ_CHUNK: usize = 16 * 1024;

pub struct Session {
    router: Arc<Router>,
    parser: RequestParser,
    replies: ReplyQueue,
    state: ClientState,
    max_pipeline: usize,
    maxclients: usize,
    idle_timeout: Option<Duration>,
    query_buffer_limit: usize,
    /// Between `MULTI` and `EXEC`/`DISCARD`.
    multi: Option<Transaction>,
    /// After `WATCH`, until `EXEC`/`DISCARD`/`UNWATCH`/`RESET`.
    watch: Option<Watch>,
    /// The topology version this client's in-flight requests were routed with.
    routed_version: u64,
    subs: Subscriptions,
    /// When the requests being handled now were read (one clock read per batch).
    read_at: std::time::Instant,
    /// Countdown to this client's next hot-key sample.
    hot_keys: crate::observe::hotkeys::Sampler,
    /// The last command this client sent (see [`classify_after`]).
    last_command: Option<&'static crate::command::table::CommandSpec>,
    /// The topology snapshot, re-read only when it changed.
    topology: crate::cluster::refresh::TopologyCache,
}

/// Resolves when slotway shuts down. The session's waker is registered with the
/// token once; after that a poll is one atomic load. (A `cancelled()` made per pass
/// of the session loop joined and left the token's waiter list, and even one kept
/// across passes takes the list's lock, shared by every client, each time it is
/// polled again: about 270 instructions per request at `-P 1`.) A task's waker
/// stays valid for the task's life, so the first registration is enough.
fn shutdown_signal(token: tokio_util::sync::CancellationToken) -> impl Future<Output = ()> {
    // Boxed once per client: a registered waiter must not move.
    let mut wait = Box::pin(token.clone().cancelled_owned());
    let mut registered = false;
    std::future::poll_fn(move |cx| {
        if token.is_cancelled() {
            return Poll::Ready(());
        }
        if !registered {
            registered = true;
            return wait.as_mut().poll(cx);
        }
        Poll::Pending
    })
}

impl Session {
    pub fn new(router: Arc<Router>, config: &Config, id: u64) -> Self {
        Session {
            topology: router.map.cache(),
            router,
            parser: RequestParser::new(config.proto_max_bulk_len),
            replies: ReplyQueue::default(),
            state: ClientState { id, ..Default::default() },
            max_pipeline: config.max_pipeline.max(1),
            maxclients: config.maxclients,
            idle_timeout: (config.timeout > 0).then(|| Duration::from_secs(config.timeout)),
            query_buffer_limit: config.client_query_buffer_limit.max(1024),
            multi: None,
            watch: None,
            routed_version: 0,
            subs: Subscriptions::default(),
            read_at: std::time::Instant::now(),
            hot_keys: Default::default(),
            last_command: None,
        }
    }

    /// Serves the client until it disconnects, sends `QUIT`, or sends bad protocol.
    pub async fn run(mut self, stream: Stream) {
        let _ = stream.tcp().set_nodelay(true);
        self.state.local_addr = stream.tcp().local_addr().ok();
        let row = ClientRow::new(self.state.id, stream.tcp().peer_addr().ok(), self.state.local_addr);
        let row = self.router.clients.add(row);
        self.replies.observe(ClientObserver::new(self.router.observe.clone(), self.state.id, row.clone()));
        self.state.row = Some(row);
        let (mut rd, mut wr) = stream.into_split();
        // Buffers are allocated when there is something to hold and dropped when they
        // are empty, so an idle client costs its task and socket, not 16 KiB of buffers.
        let mut input = BytesMut::new();
        let mut output = BytesMut::new();
        // Redis's `timeout`: idle clients are closed (never subscribers, nor clients
        // waiting for a reply, such as blocked ones). Armed only when configured.
        let idle_limit = self.idle_timeout;
        let idle = tokio::time::sleep(idle_limit.unwrap_or(Duration::MAX / 4));
        tokio::pin!(idle);
        let stopping = shutdown_signal(self.router.stopping.clone());
        tokio::pin!(stopping);
        loop {
            if self.state.closing && self.replies.is_empty() {
                break;
            }
            let can_read = !self.state.closing && self.replies.len() < self.max_pipeline;
            tokio::select! {
                biased;
                () = self.replies.take_ready(&mut output), if !self.replies.is_empty() => {
                    Metrics::add(&self.router.metrics.net_output_bytes, output.len() as u64);
                    if wr.send(&output).await.is_err() {
                        break;
                    }
                    output.clear();
                    if output.capacity() > READ_CHUNK * 4 {
                        output = BytesMut::new();
                    }
                    // Requests held back by the pipeline limit may go now.
                    self.handle_input(&mut input).await;
                }
                () = &mut idle, if idle_limit.is_some() => {
                    if self.replies.is_empty() && !self.subs.active() {
                        debug!(id = self.state.id, "closing idle client");
                        break;
                    }
                    idle.as_mut().reset(tokio::time::Instant::now() + idle_limit.unwrap_or_default());
                }
                () = &mut stopping, if !self.state.closing => {
                    // Shutting down: answer what was asked, read nothing more.
                    self.state.closing = true;
                }
                push = next_push(&mut self.subs), if self.replies.is_empty() && self.subs.feed.is_some() => {
                    // Messages go out only between replies, never inside one.
                    let Some(push) = push else { break }; // too slow: the hub dropped this client
                    let Some(cut) = self.subs.feed.as_ref().map(|f| f.cut.clone()) else { continue };
                    // A client that stopped reading blocks this write; the hub's cut-off
                    // must still close it.
                    Metrics::add(&self.router.metrics.net_output_bytes, push.len() as u64);
                    tokio::select! {
                        written = wr.send(&push) => if written.is_err() { break },
                        () = cut.notified() => break,
                    }
                }
                read = rd.read_some(&mut input), if can_read => {
                    match read {
                        // End of input: still answer what was asked, then close; but,
                        // as Redis drops a blocked client whose connection closed, not
                        // for a blocking command: its reply may never come, and waiting
                        // would keep its node connection (and lease) blocked, and let it
                        // take an element that nobody will read.
                        Ok(0) | Err(_) if self.replies.waits_on_blocking() => break,
                        Ok(0) | Err(_) => self.state.closing = true,
                        Ok(n) => {
                            Metrics::add(&self.router.metrics.net_input_bytes, n as u64);
                            if input.len() > self.query_buffer_limit {
                                // As Redis: a client past client-query-buffer-limit is closed.
                                warn!(id = self.state.id, bytes = input.len(), "client query buffer over its limit: closing it");
                                break;
                            }
                            if let Some(limit) = idle_limit {
                                idle.as_mut().reset(tokio::time::Instant::now() + limit);
                            }
                            self.handle_input(&mut input).await
                        }
                    }
                    if input.is_empty() {
                        input = BytesMut::new();
                    }
                },
            }
        }
        self.subs.clear(&self.router.hub, self.state.id);
        self.router.clients.remove(self.state.id);
        let _ = wr.shutdown().await;
        debug!(id = self.state.id, "client closed");
    }

    /// Routes every complete request in `input`, up to the pipeline limit.
    async fn handle_input(&mut self, input: &mut BytesMut) {
        let mut handled = 0;
        self.read_at = std::time::Instant::now();
        while !self.state.closing && self.replies.len() < self.max_pipeline && !self.replies.blocked() {
            match self.parser.next(input) {
                Ok(Some(raw)) => {
                    handled += 1;
                    self.handle_request(raw).await
                }
                Ok(None) => break,
                Err(e) => {
                    // As Redis: reply with the error, then close the connection.
                    self.replies.push_ready(error_reply(&format!("ERR {e}")));
                    self.state.closing = true;
                }
            }
        }
        Metrics::add(&self.router.metrics.total_commands, handled);
    }

    /// Authentication and permissions: the error reply if this client may not run it.
    fn refuse(&self, action: &Action, spec: Option<&'static CommandSpec>, args: Args<'_>) -> Option<Bytes> {
        if !self.router.users.required() {
            return None;
        }
        let Some(user) = &self.state.user else {
            // Unknown commands and arity errors come first, as in Redis.
            let allowed = matches!(
                action,
                Action::Reject(_) | Action::Local(Local::Auth | Local::Hello | Local::Quit | Local::Reset)
            );
            return (!allowed).then(auth::noauth);
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

    /// A command between `MULTI` and `EXEC`: queued (or refused) now, sent on `EXEC`.
    async fn handle_in_multi(&mut self, action: Action, name: &'static str, raw: Bytes) {
        let Some(tx) = self.multi.as_mut() else { return };
        let reply = match action {
            Action::Local(Local::Exec) => return self.exec().await,
            Action::Local(Local::Discard) => {
                self.multi = None;
                self.end_watch().await;
                Bytes::from_static(b"+OK\r\n")
            }
            Action::Local(Local::Multi) => error_reply("ERR MULTI calls can not be nested"),
            Action::Local(Local::Watch) => error_reply("ERR WATCH inside MULTI is not allowed"),
            // The node runs these inside the transaction, so their replies land in EXEC's.
            Action::Local(Local::Ping | Local::Echo) => tx.queue(raw, None),
            Action::Forward { slot } | Action::Blocking { slot } => {
                tx.queued_command(name);
                tx.queue(raw, slot)
            }
            Action::Publish => tx.queue(raw, None),
            Action::Split => tx.refuse(CommandError::CrossSlot),
            Action::Reject(e) => tx.refuse(e),
            _ => tx.refuse(CommandError::Unsupported(
                name.into(),
                "a transaction runs on one node, and this command does not",
            )),
        };
        self.replies.push_ready(reply);
    }

    /// `EXEC`: the queued block goes to its slot's primary in one piece.
    async fn exec(&mut self) {
        let Some(tx) = self.multi.take() else { return };
        let slot = tx.slot();
        // Scripts are looked for (each queued request parsed again) only in a block
        // that has a script command.
        let (scripts, loads) = match tx.failed() || !tx.has_scripts() {
            true => Default::default(),
            false => self.router.scripts.for_transaction(tx.queued()),
        };
        let (block, frames) = match tx.into_block(&loads) {
            Ok(block) => block,
            Err(reply) => {
                self.end_watch().await;
                return self.replies.push_ready(reply);
            }
        };
        match self.watch.take() {
            Some(watch) => {
                let (reply, rx) = oneshot::channel();
                let req =
                    BackendRequest { frames, ..BackendRequest::new(block, reply, Some(watch.slot), self.state.tag()) };
                // A null EXEC (a watched key changed) ran nothing: its scripts are not cached.
                let rx = crate::route::scripts::remember_if_run(self.router.clone(), scripts, rx);
                match watch.lease.send(req) {
                    Ok(()) => self.replies.push_leased(rx, watch.lease),
                    Err(e) => self.replies.push_ready(e.to_reply()),
                }
                // The client's next request goes on a shared connection: not before EXEC ran.
                self.replies.settle().await;
            }
            None => match self.router.send_block(block, frames, slot, self.state.tag()).await {
                Ok(rx) => {
                    self.router.scripts.remember_all(&scripts);
                    self.replies.push_waiting(rx)
                }
                Err(e) => self.replies.push_ready(e.to_reply()),
            },
        }
    }

    /// Ends this client's WATCH, if any (see [`Watch::end`]). The requests still on
    /// its connection are answered before the client's next one is routed: that
    /// one goes on a shared connection, where it could overtake them.
    async fn end_watch(&mut self) {
        if let Some(watch) = self.watch.take() {
            watch.end(self.state.tag());
            self.replies.settle().await;
        }
    }

    /// `WATCH`: lease a connection to the slot's primary (once) and watch there.
    fn watch_keys(&mut self, raw: Bytes, slot: u16) {
        if let Some(watch) = &self.watch {
            if watch.slot != slot {
                return self.replies.push_ready(CommandError::CrossSlot.to_reply());
            }
        } else {
            let lease = self
                .router
                .primary_addr(Some(slot), self.state.id)
                .and_then(|addr| self.router.leases.lease(addr, false, self.state.resp3));
            match lease {
                Ok(lease) => self.watch = Some(Watch { lease, slot }),
                Err(e) => return self.replies.push_ready(e.to_reply()),
            }
        }
        self.send_leased(raw, 1, slot);
    }

    /// Sends on the connection leased by `WATCH`.
    fn send_leased(&mut self, raw: Bytes, frames: u32, slot: u16) {
        let Some(watch) = &self.watch else { return };
        let (reply, rx) = oneshot::channel();
        let req = BackendRequest { frames, ..BackendRequest::new(raw, reply, Some(slot), self.state.tag()) };
        match watch.lease.send(req) {
            Ok(()) => self.replies.push_waiting(rx),
            Err(e) => self.replies.push_ready(e.to_reply()),
        }
    }

    /// A blocking command gets a connection of its own, given back with its reply
    /// (or when the client disconnects), so it holds up nobody else.
    fn send_blocking(&mut self, raw: Bytes, slot: Option<u16>) {
        let lease = self
            .router
            .primary_addr(slot, self.state.id)
            .and_then(|addr| self.router.leases.lease(addr, true, self.state.resp3));
        let lease = match lease {
            Ok(lease) => lease,
            Err(e) => return self.replies.push_ready(e.to_reply()),
        };
        let (reply, rx) = oneshot::channel();
        match lease.send(BackendRequest::new(raw, reply, slot, self.state.tag())) {
            Ok(()) => self.replies.push_leased(rx, lease),
            Err(e) => self.replies.push_ready(e.to_reply()),
        }
    }

    /// Sends `request` to every primary (and replica) and queues the merged reply.
    async fn broadcast(&mut self, request: Bytes, replicas: bool, mut merge: Merge) {
        let nodes = self.router.all_nodes(replicas);
        // Name the nodes actually asked, in the order their replies come.
        let asked = || nodes.iter().map(|n| n.addr.to_string()).collect();
        match &mut merge {
            Merge::ConfigGet(addrs) => *addrs = asked(),
            Merge::Info { plan, .. } => plan.addrs = asked(),
            _ => {}
        }
        if nodes.is_empty() {
            return self.replies.push_ready(CommandError::NoTopology.to_reply());
        }
        let mut parts = Vec::with_capacity(nodes.len());
        for node in nodes {
            parts.push(match self.router.send_to(&node, request.clone(), self.state.tag()).await {
                Ok(rx) => Part::Waiting(rx),
                Err(e) => Part::Done(Err(e)),
            });
        }
        self.replies.push_merging(parts, merge);
    }

    async fn handle_request(&mut self, raw: Bytes) {
        // Slots changed owner since this client's in-flight requests were routed: let
        // them finish (redirects included) before routing more, so a later command
        // cannot overtake an earlier one on its way to the new owner.
        let version = self.router.map.version();
        if version != self.routed_version {
            self.replies.settle().await;
            self.routed_version = version;
        }
        let args = Args::new(&raw, self.parser.args());
        let (action, spec) = classify_after(args, &mut self.last_command);
        let rejected = matches!(action, Action::Reject(_));
        self.replies.begin(self.router.observe.origin(spec, rejected, self.read_at, &raw));
        if let Some(spec) = spec {
            self.router.observe.hotkeys.sample(&mut self.hot_keys, self.state.id, spec, args);
            // Remember script bodies, to heal a later EVALSHA that meets NOSCRIPT
            // (a transaction's, when EXEC runs them).
            if !rejected && self.multi.is_none() {
                self.router.scripts.seen(spec.name, args);
            }
        }
        if let Some(refusal) = self.refuse(&action, spec, args) {
            return self.replies.push_ready(refusal);
        }
        if self.subs.active()
            && !self.state.resp3
            && let Some(reply) = subscribed_mode_refusal(&action, spec, args)
        {
            return self.replies.push_ready(reply);
        }
        if self.multi.is_some() && !matches!(action, Action::Local(Local::Quit | Local::Reset)) {
            let name = spec.map_or("", |s| s.name);
            return self.handle_in_multi(action, name, raw).await;
        }
        match action {
            Action::Local(cmd @ (Local::Subscribe | Local::PSubscribe | Local::SSubscribe)) => {
                let kind = match cmd {
                    Local::Subscribe => Kind::Channel,
                    Local::PSubscribe => Kind::Pattern,
                    _ => Kind::Shard,
                };
                if kind == Kind::Shard
                    && let Some(Err(e)) = spec.map(|spec| request_slot(spec, args))
                {
                    return self.replies.push_ready(e.to_reply());
                }
                let names = args.iter().skip(1).map(Bytes::copy_from_slice).collect();
                let (id, resp3) = (self.state.id, self.state.resp3);
                let rx = self.subs.subscribe(&self.router.hub, id, resp3, kind, names);
                self.replies.push_waiting(rx);
            }
            Action::Local(cmd @ (Local::Unsubscribe | Local::PUnsubscribe | Local::SUnsubscribe)) => {
                let kind = match cmd {
                    Local::Unsubscribe => Kind::Channel,
                    Local::PUnsubscribe => Kind::Pattern,
                    _ => Kind::Shard,
                };
                let names = args.iter().skip(1).map(Bytes::copy_from_slice).collect();
                let (id, resp3) = (self.state.id, self.state.resp3);
                let reply = self.subs.unsubscribe(&self.router.hub, id, resp3, kind, names);
                self.replies.push_ready(reply);
            }
            Action::Local(Local::Ping) if self.subs.active() && !self.state.resp3 && args.len() <= 2 => {
                // In RESP2 subscribed mode Redis answers PING with a ["pong", arg] array
                // (and more arguments with the usual error, `local.rs`).
                let arg = if args.len() > 1 { args.get(1) } else { b"" };
                self.replies.push_ready(push_frame(false, &[Some(b"pong"), Some(arg)], None));
            }
            Action::Local(Local::ClientReply) => {
                let mode = args.get(2);
                let mode = if mode.eq_ignore_ascii_case(b"on") {
                    ReplyMode::On
                } else if mode.eq_ignore_ascii_case(b"off") {
                    ReplyMode::Off
                } else if mode.eq_ignore_ascii_case(b"skip") {
                    ReplyMode::SkipNext
                } else {
                    return self.replies.push_ready(error_reply("ERR syntax error"));
                };
                self.replies.set_mode(mode);
            }
            Action::Local(Local::Multi) => {
                self.multi = Some(Transaction::new(self.watch.as_ref().map(|w| w.slot)));
                self.replies.push_ready(Bytes::from_static(b"+OK\r\n"));
            }
            Action::Local(Local::Exec) => self.replies.push_ready(error_reply("ERR EXEC without MULTI")),
            Action::Local(Local::Discard) => self.replies.push_ready(error_reply("ERR DISCARD without MULTI")),
            Action::Local(Local::Unwatch) => {
                self.end_watch().await;
                self.replies.push_ready(Bytes::from_static(b"+OK\r\n"));
            }
            Action::Local(Local::Watch) => {
                let slot = match spec.map(|spec| request_slot(spec, args)) {
                    Some(Ok(Some(slot))) => slot,
                    Some(Err(e)) => return self.replies.push_ready(e.to_reply()),
                    _ => return self.replies.push_ready(CommandError::WrongArity("watch".into()).to_reply()),
                };
                if self.watch.is_none() {
                    // On its own new connection, WATCH could overtake the client's earlier requests.
                    self.replies.settle().await;
                }
                self.watch_keys(raw, slot);
            }
            Action::Forward { slot: Some(slot) } if self.watch.as_ref().is_some_and(|w| w.slot == slot) => {
                // Keep the client's commands for the watched slot in order with its WATCH.
                self.send_leased(raw, 1, slot);
            }
            Action::Blocking { slot } => {
                // On its own connection it could overtake the client's earlier requests.
                self.replies.settle().await;
                self.send_blocking(raw, slot)
            }
            Action::Split => {
                let name = spec.map_or("", |s| s.name);
                let split = fanout::split(name, args);
                let mut parts = Vec::with_capacity(split.parts.len());
                for (slot, bytes) in split.parts {
                    parts.push(match self.router.send(bytes, Some(slot), self.state.tag()).await {
                        Ok(rx) => Part::Waiting(rx),
                        Err(e) => Part::Done(Err(e)),
                    });
                }
                self.replies.push_merging(parts, split.merge);
            }
            Action::Scan => {
                let step = match scan::plan(args, &self.router.map.load()) {
                    Ok(step) => step,
                    Err(e) => return self.replies.push_ready(e.to_reply()),
                };
                let part = match self.router.send(step.request.clone(), Some(step.slot), self.state.tag()).await {
                    Ok(rx) => Part::Waiting(rx),
                    Err(e) => Part::Done(Err(e)),
                };
                self.replies.push_merging(vec![part], Merge::Scan(step));
            }
            Action::Broadcast { combine, replicas } => {
                let merge = match combine {
                    Combine::ConfigGet => {
                        Merge::ConfigGet(Vec::new()) // filled in by `broadcast`
                    }
                    Combine::NewestFirst => Merge::Slowlog(match crate::protocol::parse_int(args.get(2)) {
                        _ if args.len() < 3 => Some(10),
                        Some(n) if n >= 0 => Some(n as usize),
                        _ => None, // -1: all of them
                    }),
                    Combine::PairSum => {
                        // PUBSUB NUMSUB / SHARDNUMSUB: count slotway's clients, not its
                        // shared subscriptions.
                        let kind = if spec.is_some_and(|s| s.name == "pubsub|shardnumsub") {
                            Kind::Shard
                        } else {
                            Kind::Channel
                        };
                        let hub = &self.router.hub;
                        Merge::NumSub(args.iter().skip(2).map(|name| hub.numsub_adjustment(kind, name)).collect())
                    }
                    _ => Merge::Combine(combine),
                };
                self.broadcast(raw, replicas, merge).await
            }
            Action::Forward { slot: Some(slot) }
                if self.router.pool.read_from() != ReadFrom::Primary
                    && spec.is_some_and(|s| s.is(crate::command::table::flag::READONLY)) =>
            {
                match self.router.send_read(raw, slot, self.state.tag()).await {
                    Ok(rx) => self.replies.push_waiting(rx),
                    Err(e) => self.replies.push_ready(e.to_reply()),
                }
            }
            Action::Publish => {
                let channel = args.get(1).to_vec();
                match self.router.publish(raw, &channel, self.state.tag()).await {
                    Ok((rx, adjust)) => self.replies.push_merging(vec![Part::Waiting(rx)], Merge::Publish(adjust)),
                    Err(e) => self.replies.push_ready(e.to_reply()),
                }
            }
            Action::Forward { slot } => {
                match self.router.send_by(self.topology.load(), raw, slot, self.state.tag()).await {
                    Ok(rx) => self.replies.push_waiting(rx),
                    Err(e) => self.replies.push_ready(e.to_reply()),
                }
            }
            Action::Local(Local::Info) => {
                let port = self.state.local_addr.map_or(0, |a| a.port());
                let plan = info::Plan::new(args, &self.router, self.maxclients, port);
                match plan.node_request() {
                    Some(request) if !self.router.all_nodes(false).is_empty() => {
                        let merge = Merge::Info { plan: Box::new(plan), resp3: self.state.resp3 };
                        self.broadcast(request, false, merge).await
                    }
                    _ => self.replies.push_ready(self.state.text(plan.render(&[], 0).as_bytes())),
                }
            }
            Action::Local(cmd) => {
                if cmd == Local::Reset {
                    self.multi = None;
                    // `end_watch`, spelled out: `args` still borrows the parser.
                    if let Some(watch) = self.watch.take() {
                        watch.end(self.state.tag());
                        self.replies.settle().await;
                    }
                    self.subs.clear(&self.router.hub, self.state.id);
                    self.replies.reset_mode();
                }
                let reply = local::answer(cmd, args, &mut self.state, &self.router);
                self.replies.push_ready(reply);
            }
            Action::Reject(e) => self.replies.push_ready(e.to_reply()),
        }
    }
}

/// Waits for the next message for this client (`None`: the hub dropped it).
async fn next_push(subs: &mut Subscriptions) -> Option<Bytes> {
    let feed = subs.feed.as_mut()?;
    // Cut off: what is still queued for the client is dropped, as Redis drops it.
    let push = tokio::select! {
        biased;
        () = feed.cut.notified() => return None,
        push = feed.pushes.recv() => push?,
    };
    feed.queued.fetch_sub(push.len(), std::sync::atomic::Ordering::Relaxed);
    Some(push)
}

/// In RESP2 subscribed mode Redis allows only a few commands; the error for the rest.
fn subscribed_mode_refusal(action: &Action, spec: Option<&CommandSpec>, args: Args<'_>) -> Option<Bytes> {
    let allowed = matches!(
        action,
        Action::Local(
            Local::Subscribe
                | Local::PSubscribe
                | Local::SSubscribe
                | Local::Unsubscribe
                | Local::PUnsubscribe
                | Local::SUnsubscribe
                | Local::Ping
                | Local::Quit
                | Local::Reset
        )
    );
    // Unknown commands and wrong arity get those errors first, as in Redis.
    if allowed || matches!(action, Action::Reject(_)) {
        return None;
    }
    let name = spec.map_or_else(|| String::from_utf8_lossy(args.get(0)).to_lowercase(), |s| s.name.to_string());
    Some(error_reply(&format!(
        "ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
    )))
}
