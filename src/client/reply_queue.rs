//! A client's replies, in the order its requests arrived. Replies from different
//! nodes complete in any order; the queue only releases them from the front.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::pin::Pin;
use std::task::Poll;

use bytes::{Bytes, BytesMut};
use tokio::sync::oneshot;

use super::info;
use crate::backend::lease::Lease;
use crate::backend::request::ReplyResult;
use crate::error::CommandError;
use crate::observe::{ClientObserver, Origin};
use crate::route::fanout::{Merge, Part, merge};

enum Pending {
    Ready(Bytes),
    Waiting(oneshot::Receiver<ReplyResult>),
    /// A reply on a leased connection; the lease is given back once the reply is out.
    Leased(oneshot::Receiver<ReplyResult>, Box<Lease>),
    /// A command sent to several nodes; replied to once every part has answered.
    Merging(Box<Merging>),
}

impl Pending {
    /// The reply bytes once they are here (errors already turned into error replies).
    /// A `Ready` entry hands its bytes over, so take them only once.
    fn poll_reply(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Bytes> {
        let result = match self {
            Pending::Ready(bytes) => Ok(std::mem::take(bytes)),
            Pending::Waiting(rx) | Pending::Leased(rx, _) => match Pin::new(rx).poll(cx) {
                Poll::Ready(result) => result.unwrap_or_else(|_| Err(lost())),
                Poll::Pending => return Poll::Pending,
            },
            Pending::Merging(m) => match m.poll(cx) {
                Poll::Ready(bytes) => Ok(bytes),
                Poll::Pending => return Poll::Pending,
            },
        };
        Poll::Ready(result.unwrap_or_else(|e| e.to_reply()))
    }
}

struct Merging {
    parts: Vec<Part>,
    merge: Gather,
    /// Connections lent for the parts, given back with the merged reply.
    _leases: Vec<Lease>,
}

/// How a fanned-out command's replies become one: a routing merge, or `INFO`'s.
enum Gather {
    Merge(Merge),
    Info(Box<info::Gather>),
}

impl Merging {
    /// Polls the parts still waiting; the merged reply once all have answered.
    fn poll(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Bytes> {
        let mut done = true;
        for part in &mut self.parts {
            if let Part::Waiting(rx) = part {
                match Pin::new(rx).poll(cx) {
                    Poll::Ready(result) => *part = Part::Done(result.unwrap_or_else(|_| Err(lost()))),
                    Poll::Pending => done = false,
                }
            }
        }
        if !done {
            return Poll::Pending;
        }
        let results = std::mem::take(&mut self.parts)
            .into_iter()
            .map(|p| match p {
                Part::Done(r) => r,
                Part::Waiting(_) => Err(lost()),
            })
            .collect();
        Poll::Ready(match &self.merge {
            Gather::Merge(m) => merge(m, results),
            Gather::Info(info) => info.merge(results),
        })
    }
}

/// A request dropped unanswered: its node connection died.
fn lost() -> CommandError {
    CommandError::ConnectionLost("cluster node".into())
}

#[derive(Default)]
pub struct ReplyQueue {
    /// Each reply, whether it is written (`CLIENT REPLY OFF|SKIP` mute some), and
    /// what it answers (for the per-command counters and the slow log).
    items: VecDeque<(Pending, bool, Origin)>,
    mode: ReplyMode,
    /// The request whose replies are being queued now.
    current: Origin,
    /// Accounts for each reply as it leaves; `None`: nobody counts.
    observer: Option<ClientObserver>,
}

/// `CLIENT REPLY`: whether replies are sent.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum ReplyMode {
    #[default]
    On,
    Off,
    /// Skip the reply of the next command, then back to `On`.
    SkipNext,
}

/// Most bytes gathered into one write to the client.
const MAX_WRITE: usize = 256 * 1024;

impl ReplyQueue {
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The newest request is a blocking command still waiting for its reply: as on
    /// one server, where a blocked client's next commands run only once it is
    /// answered, the client's later requests wait (they could feed it, or change
    /// what it finds).
    pub fn blocked(&self) -> bool {
        matches!(self.items.back(), Some((Pending::Leased(_, lease), ..)) if lease.blocking)
    }

    /// A blocking command is still waiting for its reply, which may never come.
    pub fn waits_on_blocking(&self) -> bool {
        self.items.iter().any(|(p, ..)| matches!(p, Pending::Leased(_, lease) if lease.blocking))
    }

    /// Sets `CLIENT REPLY` mode; `ON` answers `+OK`, `OFF` and `SKIP` answer nothing.
    pub fn set_mode(&mut self, mode: ReplyMode) {
        self.mode = mode;
        if mode == ReplyMode::On {
            self.push_ready(Bytes::from_static(b"+OK\r\n"));
        }
    }

    /// `RESET` ends `CLIENT REPLY OFF`, so its own `+RESET` is seen. (A pending
    /// `SKIP` still hides it: Redis has already moved that to the command running.)
    pub fn reset_mode(&mut self) {
        if self.mode == ReplyMode::Off {
            self.mode = ReplyMode::On;
        }
    }

    /// Replies are counted, timed and logged through `observer` from now on.
    pub fn observe(&mut self, observer: ClientObserver) {
        self.observer = Some(observer);
    }

    /// The replies queued from now on answer the request of `origin`.
    pub fn begin(&mut self, origin: Origin) {
        self.current = origin;
    }

    fn push(&mut self, pending: Pending) {
        let shown = match self.mode {
            ReplyMode::On => true,
            ReplyMode::Off => false,
            ReplyMode::SkipNext => {
                self.mode = ReplyMode::On;
                false
            }
        };
        self.items.push_back((pending, shown, std::mem::take(&mut self.current)));
    }

    pub fn push_ready(&mut self, reply: Bytes) {
        self.push(Pending::Ready(reply));
    }

    pub fn push_waiting(&mut self, rx: oneshot::Receiver<ReplyResult>) {
        self.push(Pending::Waiting(rx));
    }

    pub fn push_leased(&mut self, rx: oneshot::Receiver<ReplyResult>, lease: Lease) {
        self.push(Pending::Leased(rx, Box::new(lease)));
    }

    /// Waits until every queued reply has arrived (they stay queued, in order).
    /// Cancel-safe: arrived replies are kept in place.
    pub async fn settle(&mut self) {
        poll_fn(|cx| {
            let mut pending = false;
            for (item, ..) in self.items.iter_mut() {
                match item.poll_reply(cx) {
                    Poll::Ready(bytes) => *item = Pending::Ready(bytes),
                    Poll::Pending => pending = true,
                }
            }
            if pending { Poll::Pending } else { Poll::Ready(()) }
        })
        .await
    }

    pub fn push_merging(&mut self, parts: Vec<Part>, merge: Merge) {
        self.push_merging_leased(parts, merge, Vec::new());
    }

    /// Like [`ReplyQueue::push_merging`], for parts sent on `leases`.
    pub fn push_merging_leased(&mut self, parts: Vec<Part>, merge: Merge, leases: Vec<Lease>) {
        self.push(Pending::Merging(Box::new(Merging { parts, merge: Gather::Merge(merge), _leases: leases })));
    }

    /// `INFO` sent to the primaries: answered once they all replied.
    pub fn push_info(&mut self, parts: Vec<Part>, gather: info::Gather) {
        let merge = Gather::Info(Box::new(gather));
        self.push(Pending::Merging(Box::new(Merging { parts, merge, _leases: Vec::new() })));
    }

    /// Waits for the front reply, then moves it and every reply after it that is
    /// already complete into `out`. Cancel-safe: nothing is removed until it is ready.
    pub async fn take_ready(&mut self, out: &mut BytesMut) {
        poll_fn(|cx| {
            let mut taken = 0;
            let mut now = None;
            while out.len() < MAX_WRITE {
                let Some((front, shown, _)) = self.items.front_mut() else { break };
                let shown = *shown;
                let Poll::Ready(reply) = front.poll_reply(cx) else { break };
                if shown {
                    out.extend_from_slice(&reply);
                }
                if let Some((_, _, origin)) = self.items.pop_front()
                    && let Some(observer) = &self.observer
                {
                    observer.replied(origin, &reply, &mut now);
                }
                taken += 1;
            }
            if taken > 0 { Poll::Ready(()) } else { Poll::Pending }
        })
        .await
    }
}

use std::future::Future as _;
