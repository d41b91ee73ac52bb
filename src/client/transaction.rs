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

use crate::backend::connection::BackendRequest;
use crate::backend::lease::Lease;
use crate::error::{CommandError, error_reply};
use crate::route::dispatch::ClientTag;

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
            return Err(error_reply("EXECABORT Transaction discarded because of previous errors."));
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
