//! `MULTI` / `EXEC` / `DISCARD` / `WATCH` / `UNWATCH` through slotway.
//!
//! Commands are checked as they are queued: the first keyed command (or `WATCH`)
//! fixes the slot, and a command for another slot gets `-CROSSSLOT` and dooms the
//! transaction (`EXEC` then answers `-EXECABORT` and nothing runs anywhere). On
//! `EXEC` the whole block, `MULTI` + commands + `EXEC`, travels as one run of bytes:
//! on the shared connection (nothing of another client can come between) or, after
//! `WATCH`, on the connection leased at `WATCH` time.

use bytes::{BufMut, Bytes, BytesMut};
use tokio::sync::oneshot;

use super::dispatch::Client;
use crate::backend::lease::Lease;
use crate::backend::request::{BackendRequest, ClientTag};
use crate::command::classify::Action;
use crate::command::keys::request_slot;
use crate::command::table::{CommandSpec, Local, flag};
use crate::error::CommandError;
use crate::protocol::request::Args;
use crate::route::dispatch::{Outgoing, Target};

const MULTI: &[u8] = b"*1\r\n$5\r\nMULTI\r\n";
const EXEC: &[u8] = b"*1\r\n$4\r\nEXEC\r\n";
const UNWATCH: &[u8] = b"*1\r\n$7\r\nUNWATCH\r\n";

/// A transaction being queued (between `MULTI` and `EXEC`).
#[derive(Debug, Default)]
pub struct Transaction {
    queued: Vec<Bytes>,
    slot: Option<u16>,
    /// A command was refused while queueing: `EXEC` will abort.
    failed: bool,
    /// A script command (EVAL, EVALSHA) is queued: only then does
    /// `EXEC` look through the queued requests for scripts.
    scripts: bool,
}

/// Keys watched on a leased connection, all in one slot.
#[derive(Debug)]
pub struct Watch {
    pub lease: Lease,
    pub slot: u16,
}

impl Watch {
    /// Ends the watch (UNWATCH, DISCARD, RESET, an aborted EXEC) without failing the
    /// requests still on its connection (the WATCH itself, reads of the watched
    /// slot): the lease, whose drop closes the connection, goes once the node has
    /// answered an UNWATCH sent behind them.
    pub fn end(self, client: ClientTag) {
        let (reply, answered) = oneshot::channel();
        let unwatch = BackendRequest::new(Bytes::from_static(UNWATCH), reply, Some(self.slot), client);
        if self.lease.send(unwatch).is_ok() {
            tokio::spawn(async move {
                let _ = answered.await;
                drop(self);
            });
        }
    }
}

impl Transaction {
    pub fn new(watched_slot: Option<u16>) -> Self {
        Transaction { slot: watched_slot, ..Default::default() }
    }

    /// Queues a forwarded command; its reply to the client now.
    pub fn queue(&mut self, request: Bytes, slot: Option<u16>) -> Bytes {
        if let Some(slot) = slot {
            match self.slot {
                Some(fixed) if fixed != slot => return self.refuse(CommandError::CrossSlot),
                _ => self.slot = Some(slot),
            }
        }
        self.queued.push(request);
        Bytes::from_static(b"+QUEUED\r\n")
    }

    /// A command refused while queueing: the error now, and `EXECABORT` later.
    pub fn refuse(&mut self, error: CommandError) -> Bytes {
        self.failed = true;
        error.to_reply()
    }

    pub fn slot(&self) -> Option<u16> {
        self.slot
    }

    /// Notes that the command `name` (its table name) was queued.
    pub fn queued_command(&mut self, name: &str) {
        self.scripts |= matches!(name, "eval" | "eval_ro" | "evalsha" | "evalsha_ro");
    }

    /// A script command is queued (see [`Transaction::queued_command`]).
    pub fn has_scripts(&self) -> bool {
        self.scripts
    }

    /// A command was refused while queueing: `EXEC` will abort.
    pub fn failed(&self) -> bool {
        self.failed
    }

    /// The queued requests (raw bytes), in order.
    pub fn queued(&self) -> &[Bytes] {
        &self.queued
    }

    /// What `EXEC` sends: the block and the number of replies it produces; or the
    /// reply to give at once. `ahead` goes before `MULTI` (their replies count,
    /// and are dropped with MULTI's and the QUEUED ones).
    pub fn into_block(self, ahead: &[Bytes]) -> Result<(Bytes, u32), Bytes> {
        if self.failed {
            return Err(CommandError::ExecAbort.to_reply());
        }
        let len = MULTI.len() + EXEC.len() + self.queued.iter().chain(ahead).map(Bytes::len).sum::<usize>();
        let mut block = BytesMut::with_capacity(len);
        ahead.iter().for_each(|request| block.put_slice(request));
        block.put_slice(MULTI);
        for command in &self.queued {
            block.put_slice(command);
        }
        block.put_slice(EXEC);
        Ok((block.freeze(), (ahead.len() + self.queued.len()) as u32 + 2))
    }
}

/// The one slot of `WATCH`'s keys, or the error for the client.
pub(super) fn watched_slot(spec: Option<&'static CommandSpec>, args: Args<'_>) -> Result<u16, CommandError> {
    match spec.map(|spec| request_slot(spec, args)) {
        Some(Ok(Some(slot))) => Ok(slot),
        Some(Err(e)) => Err(e),
        _ => Err(CommandError::WrongArity("watch".into())),
    }
}

/// The client's side of a transaction: queueing between `MULTI` and `EXEC`, and
/// the `WATCH` connection.
impl Client {
    /// `MULTI`.
    pub(super) fn multi(&mut self) {
        self.multi = Some(Transaction::new(self.watch.as_ref().map(|w| w.slot)));
        self.replies.push_ready(Bytes::from_static(b"+OK\r\n"));
    }

    /// A command between `MULTI` and `EXEC`: queued (or refused) now, sent on `EXEC`.
    pub(super) async fn queue_in_multi(&mut self, action: Action, spec: Option<&'static CommandSpec>, raw: Bytes) {
        let Some(tx) = self.multi.as_mut() else { return };
        let name = spec.map_or("", |s| s.name);
        // Before anything else but unknown commands and wrong arity (those have no
        // spec), as Redis checks the flag before running a queued command's checks.
        let no_multi = spec.is_some_and(|s| s.is(flag::NO_MULTI));
        let reply = match action {
            _ if no_multi && !matches!(action, Action::Local(Local::Exec | Local::Discard)) => {
                tx.refuse(CommandError::NotAllowedInMulti)
            }
            Action::Local(Local::Exec) => return self.exec().await,
            Action::Local(Local::Discard) => {
                self.multi = None;
                self.end_watch().await;
                Bytes::from_static(b"+OK\r\n")
            }
            Action::Local(Local::Multi) => CommandError::NestedMulti.to_reply(),
            Action::Local(Local::Watch) => CommandError::WatchInMulti.to_reply(),
            // The node runs these inside the transaction, so their replies land in EXEC's.
            Action::Local(Local::Ping | Local::Echo) => tx.queue(raw, None),
            Action::Forward { slot } | Action::Blocking { slot } => {
                tx.queued_command(name);
                tx.queue(raw, slot)
            }
            Action::Read { slot } => {
                tx.queued_command(name);
                tx.queue(raw, Some(slot))
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
            false => self.proxy.router.scripts.for_transaction(tx.queued()),
        };
        let (block, frames) = match tx.into_block(&loads) {
            Ok(block) => block,
            Err(reply) => {
                self.end_watch().await;
                return self.replies.push_ready(reply);
            }
        };
        let router = self.proxy.router.clone();
        match self.watch.take() {
            Some(watch) => {
                let out = Outgoing::block(block, frames, Some(watch.slot), self.state.tag());
                match router.send(Target::Lease(&watch.lease), out).await {
                    Ok(rx) => {
                        // A null EXEC (a watched key changed) ran nothing: its scripts are not cached.
                        let rx = crate::route::scripts::remember_if_run(router.scripts.clone(), scripts, rx);
                        self.replies.push_leased(rx, watch.lease)
                    }
                    Err(e) => self.replies.push_ready(e.to_reply()),
                }
                // The client's next request goes on a shared connection: not before EXEC ran.
                self.replies.settle().await;
            }
            None => {
                let out = Outgoing::block(block, frames, slot, self.state.tag());
                match router.send(Target::Primary { slot, view: self.topology.load() }, out).await {
                    Ok(rx) => {
                        router.scripts.remember_all(&scripts);
                        self.replies.push_waiting(rx)
                    }
                    Err(e) => self.replies.push_ready(e.to_reply()),
                }
            }
        }
    }

    /// `UNWATCH`.
    pub(super) async fn unwatch(&mut self) {
        self.end_watch().await;
        self.replies.push_ready(Bytes::from_static(b"+OK\r\n"));
    }

    /// Ends this client's WATCH, if any (see [`Watch::end`]). The requests still on
    /// its connection are answered before the client's next one is routed: that
    /// one goes on a shared connection, where it could overtake them.
    pub(super) async fn end_watch(&mut self) {
        if let Some(watch) = self.watch.take() {
            watch.end(self.state.tag());
            self.replies.settle().await;
        }
    }

    /// `WATCH key ...`: all its keys in one slot (see [`watched_slot`]), watched on
    /// a leased connection.
    pub(super) async fn watch_command(&mut self, slot: Result<u16, CommandError>, raw: Bytes) {
        let slot = match slot {
            Ok(slot) => slot,
            Err(e) => return self.replies.push_ready(e.to_reply()),
        };
        if self.watch.is_none() {
            // On its own new connection, WATCH could overtake the client's earlier requests.
            self.replies.settle().await;
        }
        self.watch_keys(raw, slot).await;
    }

    /// Leases a connection to the slot's primary (once) and watches there.
    async fn watch_keys(&mut self, raw: Bytes, slot: u16) {
        if let Some(watch) = &self.watch {
            if watch.slot != slot {
                return self.replies.push_ready(CommandError::CrossSlot.to_reply());
            }
        } else {
            let owner = self.topology.load().owner(Some(slot), self.state.id).map(|node| node.addr.clone());
            match owner.and_then(|addr| self.proxy.leases.lease(addr, false, self.state.tag())) {
                Ok(lease) => self.watch = Some(Watch { lease, slot }),
                Err(e) => return self.replies.push_ready(e.to_reply()),
            }
        }
        self.send_leased(raw, slot).await;
    }

    /// Sends on the connection leased by `WATCH`.
    pub(super) async fn send_leased(&mut self, raw: Bytes, slot: u16) {
        let Some(watch) = &self.watch else { return };
        let out = Outgoing::one(raw, Some(slot), self.state.tag());
        match self.proxy.router.send(Target::Lease(&watch.lease), out).await {
            Ok(rx) => self.replies.push_waiting(rx),
            Err(e) => self.replies.push_ready(e.to_reply()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_slot_per_transaction() {
        let mut tx = Transaction::new(None);
        assert_eq!(&tx.queue(Bytes::from_static(b"A"), Some(1))[..], b"+QUEUED\r\n");
        assert_eq!(&tx.queue(Bytes::from_static(b"P"), None)[..], b"+QUEUED\r\n");
        assert!(tx.queue(Bytes::from_static(b"B"), Some(2)).starts_with(b"-CROSSSLOT"));
        assert!(tx.into_block(&[]).unwrap_err().starts_with(b"-EXECABORT"));
    }

    #[test]
    fn block_is_multi_commands_exec() {
        let mut tx = Transaction::new(Some(7));
        tx.queue(Bytes::from_static(b"X"), Some(7));
        let (block, frames) = tx.into_block(&[Bytes::from_static(b"L")]).unwrap();
        assert_eq!(&block[..], b"L*1\r\n$5\r\nMULTI\r\nX*1\r\n$4\r\nEXEC\r\n");
        assert_eq!(frames, 4);
        let mut tx = Transaction::new(Some(7));
        assert!(tx.queue(Bytes::from_static(b"Y"), Some(8)).starts_with(b"-CROSSSLOT"));
    }
}
