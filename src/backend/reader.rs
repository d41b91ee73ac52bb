//! The reading half of a node connection: frames the node's replies and hands each
//! to the request at the front of the in-flight FIFO. Redis answers in order, so the
//! FIFO is all the matching needed. Replies that need routing's decision (a
//! redirect, a `NOSCRIPT`) go to the [`Rerouter`] instead of the client.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use thiserror::Error;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep};
use tracing::{debug, warn};

use super::request::BackendRequest;
use super::reroute::{Rerouter, RerouterRef};
use super::timeouts::Timeouts;
use crate::error::CommandError;
use crate::net::stream::ReadHalf;
use crate::observe::nodes::{NodeStats, ReplyClock};
use crate::protocol::reply::{BadReply, Redirect, ReplyScanner};

const READ_CHUNK: usize = 64 * 1024;

/// Why a node's byte stream cannot be trusted any more: its connection is closed.
#[derive(Debug, Error)]
pub enum StreamError {
    #[error("{0}")]
    BadReply(#[from] BadReply),
    #[error("reply with no request waiting for it")]
    Unrequested,
}

/// A request written to the node whose reply has not arrived yet.
pub(super) enum InFlight {
    Request(Sent),
    /// A reply slotway asked for itself and drops: the `+OK` of an `ASKING` sent
    /// before the next request, or the reply to `HELLO 3` on a new connection.
    Discard,
}

/// A request on the wire, and what its replies so far said.
pub(super) struct Sent {
    pub(super) req: BackendRequest,
    pub(super) at: Instant,
    /// Replies of a transaction block received so far.
    pub(super) seen: u32,
    /// The first redirect among a block's replies.
    pub(super) redirect: Option<Redirect>,
}

impl Sent {
    pub(super) fn new(req: BackendRequest, at: Instant) -> Self {
        Sent { req, at, seen: 0, redirect: None }
    }
}

/// The reader's state: what it waits for and whom it tells.
pub(super) struct Reader {
    /// Requests the writer sent, in the order it sent them.
    pub(super) inflight_rx: mpsc::UnboundedReceiver<InFlight>,
    /// Requests sent and not answered; the writer adds, the reader subtracts.
    pub(super) in_flight: Arc<AtomicUsize>,
    pub(super) addr: Arc<str>,
    /// `None`: replies may take as long as they take (blocking commands).
    pub(super) reply_timeout: Option<Arc<Timeouts>>,
    pub(super) rerouter: RerouterRef,
    pub(super) stats: Option<Arc<NodeStats>>,
}

impl Reader {
    /// Reads until the connection breaks, times out or sends bad bytes; then every
    /// request still in flight gets an error (its outcome is unknown).
    pub(super) async fn run(mut self, mut rd: ReadHalf) {
        let mut waiting: VecDeque<InFlight> = VecDeque::new();
        let mut buf = BytesMut::with_capacity(READ_CHUNK);
        let mut scanner = ReplyScanner::default();
        // One timer, armed for the oldest request in flight and armed again only when it
        // fires early (a later request is the oldest by then; the FIFO's deadlines only
        // grow). A timer armed per reply took the time driver's lock for every request.
        let timer = sleep(Duration::ZERO);
        tokio::pin!(timer);
        let mut armed = false;
        let addr = self.addr.clone();
        let error = loop {
            while let Ok(item) = self.inflight_rx.try_recv() {
                waiting.push_back(item);
            }
            if !armed && let Some(deadline) = self.oldest_deadline(&waiting) {
                timer.as_mut().reset(deadline);
                armed = true;
            }
            tokio::select! {
                biased;
                read = rd.read_buf(&mut buf) => match read {
                    Ok(0) => break CommandError::ConnectionLost(addr.to_string()),
                    Err(e) => {
                        debug!(%addr, error = %e, "node connection failed");
                        break CommandError::ConnectionLost(addr.to_string());
                    }
                    Ok(_) => {
                        if let Err(e) = self.deliver(&mut buf, &mut scanner, &mut waiting) {
                            warn!(%addr, error = %e, "closing node connection");
                            break CommandError::ConnectionLost(addr.to_string());
                        }
                        if buf.capacity() < READ_CHUNK / 4 {
                            buf.reserve(READ_CHUNK);
                        }
                    }
                },
                item = self.inflight_rx.recv(), if waiting.is_empty() => match item {
                    Some(item) => waiting.push_back(item),
                    None => return, // writer closed and nothing is in flight
                },
                _ = &mut timer, if armed => {
                    armed = false;
                    if self.oldest_deadline(&waiting).is_some_and(|d| d <= Instant::now()) {
                        warn!(%addr, "node did not reply in time; closing its connection");
                        break CommandError::ReplyTimeout(addr.to_string());
                    }
                }
            }
        };
        self.fail_all(waiting, error);
    }

    /// Fails every request in flight with `error`, and asks for a topology refresh:
    /// a lost node may have been replaced.
    fn fail_all(mut self, mut waiting: VecDeque<InFlight>, error: CommandError) {
        self.inflight_rx.close();
        while let Ok(item) = self.inflight_rx.try_recv() {
            waiting.push_back(item);
        }
        for item in waiting {
            if let InFlight::Request(sent) = item {
                sent.req.fail(error.clone());
            }
        }
        if let Some(rerouter) = self.rerouter.upgrade() {
            rerouter.request_refresh();
        }
    }

    /// When the oldest request in flight runs out of time (`None`: nothing is in
    /// flight, or no reply timeout applies).
    fn oldest_deadline(&self, waiting: &VecDeque<InFlight>) -> Option<Instant> {
        let timeout = self.reply_timeout.as_deref()?.reply();
        waiting.iter().find_map(|w| match w {
            InFlight::Request(sent) => Some(sent.at + timeout),
            InFlight::Discard => None,
        })
    }

    /// Hands every complete reply in `buf` to its request.
    fn deliver(
        &mut self,
        buf: &mut BytesMut,
        scanner: &mut ReplyScanner,
        waiting: &mut VecDeque<InFlight>,
    ) -> Result<(), StreamError> {
        let mut clock = ReplyClock::new(self.stats.as_deref());
        while let Some(len) = scanner.next_len(buf)? {
            let reply = buf.split_to(len).freeze();
            if waiting.is_empty() {
                while let Ok(item) = self.inflight_rx.try_recv() {
                    waiting.push_back(item);
                }
            }
            match waiting.front_mut() {
                None => return Err(StreamError::Unrequested),
                // Inside a transaction block: remember a redirect, wait for EXEC's reply.
                Some(InFlight::Request(sent)) if sent.seen + 1 < sent.req.frames => {
                    sent.seen += 1;
                    if sent.redirect.is_none() && reply.first() == Some(&b'-') {
                        sent.redirect = Redirect::parse(&reply);
                    }
                    continue;
                }
                Some(_) => {}
            }
            let Some(InFlight::Request(sent)) = waiting.pop_front() else {
                continue; // a discarded reply (`ASKING`, `HELLO 3`); an error shows in the next one anyway
            };
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            clock.replied(sent.at.into_std());
            self.answer(sent, reply);
        }
        Ok(())
    }

    /// Gives `reply` to its request, or to routing when it is a redirect or a
    /// `NOSCRIPT` slotway can heal.
    fn answer(&self, sent: Sent, reply: bytes::Bytes) {
        let (req, block_redirect) = (sent.req, sent.redirect);
        let redirect = match block_redirect {
            // The node refused the queued commands (slot moved): EXEC aborted, nothing ran.
            Some(r) if reply.starts_with(b"-EXECABORT") => Some(r),
            Some(_) => None,
            None if reply.first() == Some(&b'-') && req.frames == 1 => Redirect::parse(&reply),
            None => None,
        };
        // Routing is needed (and upgraded: two atomic operations) only for errors.
        let rerouter: Option<Arc<dyn Rerouter>> = match &redirect {
            Some(_) => self.rerouter.upgrade(),
            None if reply.starts_with(b"-NOSCRIPT") => self.rerouter.upgrade(),
            None => None,
        };
        match (redirect, rerouter) {
            (Some(redirect), Some(rerouter)) => rerouter.follow(req, redirect, &self.addr),
            (None, Some(rerouter)) => rerouter.heal_noscript(req, reply, &self.addr),
            _ => {
                let _ = req.reply.send(Ok(reply));
            }
        }
    }
}
