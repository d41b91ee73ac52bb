//! One multiplexed, pipelined connection to a node, shared by all clients.
//!
//! A writer copies every queued request into one buffer and sends it with one write;
//! a reader frames the replies and hands each to the request at the front of the
//! in-flight FIFO. Redis answers in order, so the FIFO is all the matching needed.
//! Redirects and `NOSCRIPT` are not passed on: they go to routing, through the
//! [`Rerouter`].
//!
//! Connecting is lazy (on the first request). When the node cannot be reached,
//! requests fail at once with a clear error during a backoff, instead of queueing.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use tracing::{debug, warn};

use super::reach::NodeReach;
use super::reader::{InFlight, Reader, Sent};
use super::request::BackendRequest;
use super::reroute::{Rerouter, RerouterRef};
use crate::error::CommandError;
use crate::net::stream::{Stream, WriteHalf};
use crate::observe::nodes::NodeStats;
use crate::task::AbortOnDrop;

/// Settings a connection needs, copied out of the config.
#[derive(Debug, Clone)]
pub struct ConnSettings {
    /// How to connect and log in; its timeouts (connect, reply, unreachable node)
    /// change live on reload.
    pub reach: NodeReach,
    /// Send `HELLO 3` after connecting, so the node replies in RESP3.
    pub resp3: bool,
    /// Send `READONLY` after connecting (connections for replica reads).
    pub readonly: bool,
    /// Send `CLIENT NO-TOUCH ON` after connecting (for clients that said it).
    pub no_touch: bool,
    /// Set while the node can be reached, cleared while it cannot.
    pub reachable: Option<Arc<std::sync::atomic::AtomicBool>>,
    /// The node's latency histogram and connection count (shared connections only).
    pub stats: Option<Arc<NodeStats>>,
    /// Connect again after the connection breaks. Leased connections do not: the
    /// state their holder built (a `WATCH`) would be gone.
    pub reconnect: bool,
    /// Replies are bounded by the reply timeout; `false` for connections leased to
    /// blocking commands, which wait as long as the command asks.
    pub timed_replies: bool,
    /// Requests written and not yet answered, at most: the writer waits past it.
    pub max_in_flight: usize,
}

const ASKING: &[u8] = b"*1\r\n$6\r\nASKING\r\n";
/// What slotway says first on a new RESP3 node connection (already logged in: see
/// [`NodeConnector::connect`](crate::net::connect::NodeConnector::connect)).
const HELLO_3: &[u8] = b"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n";
const MAX_BATCH: usize = 512;

/// Runs the connection to `addr` until every sender of `rx` is gone.
pub async fn run(addr: Arc<str>, mut rx: mpsc::Receiver<BackendRequest>, settings: ConnSettings, router: RerouterRef) {
    let mut backoff = Duration::from_millis(50);
    // Requests that found the node unreachable, oldest first, each with the moment it
    // gives up: they wait (bounded by `unreachable_wait`) for the cluster to promote a
    // replica, then go to the new owner, still in order.
    let mut parked: VecDeque<(BackendRequest, Instant)> = VecDeque::new();
    loop {
        let first = match parked.pop_front() {
            Some(entry) => entry,
            None => match rx.recv().await {
                Some(req) => (req, Instant::now() + settings.reach.timeouts.unreachable_wait()),
                None => break,
            },
        };
        match settings
            .reach
            .connector
            .connect(&addr, settings.reach.timeouts.connect(), settings.reach.login.as_ref())
            .await
        {
            Ok(stream) => {
                backoff = Duration::from_millis(50);
                debug!(%addr, "connected to node");
                if let Some(flag) = &settings.reachable {
                    flag.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                let mut batch = vec![first.0];
                batch.extend(parked.drain(..).map(|(req, _)| req));
                let unsent = serve(stream, &addr, batch, &mut rx, &settings, &router).await;
                if !settings.reconnect {
                    unsent.into_iter().for_each(|req| req.fail(CommandError::ConnectionLost(addr.to_string())));
                    break;
                }
                if !unsent.is_empty() {
                    // Never written: they go first on the next connection, after a
                    // pause so a node that drops every connection at once is not
                    // reconnected to in a tight loop.
                    let give_up = Instant::now() + settings.reach.timeouts.unreachable_wait();
                    parked.extend(unsent.into_iter().map(|req| (req, give_up)));
                    tokio::time::sleep(PARKED_CHECK).await;
                }
            }
            Err(failure) => {
                if let Some(flag) = &settings.reachable {
                    flag.store(false, std::sync::atomic::Ordering::Relaxed);
                }
                warn!(%addr, why = %failure, "cannot reach node");
                // Said in the error the waiting requests get in the end.
                let why: Option<Arc<str>> = Some(failure.to_string().into());
                parked.push_front(first);
                let retry_at = Instant::now() + jitter(backoff);
                loop {
                    // Every wait asks for a refresh: the cluster may have promoted a
                    // replica since the last look, and the backoff (up to 3 s) must not
                    // decide when clients learn of it. Coalesced by the refresher.
                    if let Some(router) = router.upgrade() {
                        router.request_refresh();
                        settle_parked(&*router, &addr, &mut parked, settings.reconnect, why.as_ref());
                    }
                    let next_check = (Instant::now() + PARKED_CHECK).min(retry_at);
                    tokio::select! {
                        req = rx.recv() => match req {
                            Some(req) => parked.push_back((req, Instant::now() + settings.reach.timeouts.unreachable_wait())),
                            None => {
                                for (req, _) in parked.drain(..) {
                                    req.fail(unreachable(&addr, why.as_ref()));
                                }
                                return;
                            }
                        },
                        _ = sleep_until(next_check) => if Instant::now() >= retry_at { break },
                    }
                }
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
    // Not reconnecting: whatever still arrives fails.
    for (req, _) in parked.drain(..) {
        req.fail(CommandError::ConnectionLost(addr.to_string()));
    }
    while let Some(req) = rx.recv().await {
        req.fail(CommandError::ConnectionLost(addr.to_string()));
    }
}

/// How often requests waiting for an unreachable node look for a new owner.
const PARKED_CHECK: Duration = Duration::from_millis(25);

/// Sends waiting requests whose slot has a new owner there (in order), and fails,
/// with a clear error, those that waited as long as allowed.
fn settle_parked(
    router: &dyn Rerouter,
    addr: &Arc<str>,
    parked: &mut VecDeque<(BackendRequest, Instant)>,
    reroutable: bool,
    why: Option<&Arc<str>>,
) {
    let now = Instant::now();
    let mut kept = VecDeque::with_capacity(parked.len());
    for (req, give_up) in parked.drain(..) {
        // A leased request's state (WATCH) lives on this connection: never elsewhere.
        let req = if reroutable && !req.leased { router.reroute_from(req, addr) } else { Err(req) };
        match req {
            Ok(()) => {}
            Err(req) if now >= give_up => req.fail(unreachable(addr, why)),
            Err(req) => kept.push_back((req, give_up)),
        }
    }
    *parked = kept;
}

/// `CLUSTERDOWN`, saying why the node could not be reached when that is known.
fn unreachable(addr: &str, why: Option<&Arc<str>>) -> CommandError {
    match why {
        Some(why) => CommandError::NodeUnreachableBecause(addr.to_string(), why.clone()),
        None => CommandError::NodeUnreachable(addr.to_string()),
    }
}

/// Spreads reconnects of many connections over time.
fn jitter(d: Duration) -> Duration {
    // The wall clock's nanoseconds differ from call to call (`Instant::now().elapsed()`,
    // used before, is always about zero: every connection retried in lockstep).
    let seed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |t| t.subsec_nanos() as u64);
    let noise = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 16;
    d + Duration::from_nanos(noise % (d.as_nanos() as u64 / 2 + 1))
}

/// Pumps requests and replies over one established connection until it fails.
/// Returns the requests taken off the queue but never written to this connection:
/// they are safe to send on the next one (a request written and not answered is
/// failed by the reader instead, since it may have run).
async fn serve(
    stream: Stream,
    addr: &Arc<str>,
    first: Vec<BackendRequest>,
    rx: &mut mpsc::Receiver<BackendRequest>,
    settings: &ConnSettings,
    router: &RerouterRef,
) -> Vec<BackendRequest> {
    let _open = settings.stats.as_ref().map(NodeStats::connection_open);
    let (rd, mut wr) = stream.into_split();
    // The in-flight FIFO is an unbounded channel with its own counter: a bounded
    // channel takes a semaphore lock per message (9% of instructions per GET at -P 16).
    // The counter bounds it: the writer takes no new batch while max_in_flight are out.
    let (inflight_tx, inflight_rx) = mpsc::unbounded_channel();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let reader = Reader {
        inflight_rx,
        in_flight: in_flight.clone(),
        addr: addr.clone(),
        reply_timeout: settings.timed_replies.then(|| settings.reach.timeouts.clone()),
        rerouter: router.clone(),
        stats: settings.stats.clone(),
    };
    let mut reader = AbortOnDrop(tokio::spawn(reader.run(rd)));
    let mut out = BytesMut::with_capacity(16 * 1024);
    if settings.resp3 {
        out.extend_from_slice(HELLO_3);
        if inflight_tx.send(InFlight::Discard).is_err() {
            return first;
        }
    }
    if settings.readonly {
        out.extend_from_slice(b"*1\r\n$8\r\nREADONLY\r\n");
        if inflight_tx.send(InFlight::Discard).is_err() {
            return first;
        }
    }
    if settings.no_touch {
        // A server without it (before 7.2) answers an error, dropped with the reply.
        out.extend_from_slice(b"*3\r\n$6\r\nCLIENT\r\n$8\r\nNO-TOUCH\r\n$2\r\nON\r\n");
        if inflight_tx.send(InFlight::Discard).is_err() {
            return first;
        }
    }
    let mut batch = first;
    let writer = async {
        loop {
            if batch.is_empty() {
                if rx.recv_many(&mut batch, MAX_BATCH).await == 0 {
                    return; // the node left the topology
                }
                // Let the other clients that are ready now queue their requests too,
                // so they share this write: one syscall for many requests.
                tokio::task::yield_now().await;
                take_queued(rx, &mut batch);
            }
            while in_flight.load(Ordering::Acquire) >= settings.max_in_flight {
                // The node is far behind: wait for replies before sending more.
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            in_flight.fetch_add(batch.len(), Ordering::AcqRel);
            if write_batch(&mut wr, &mut out, &mut batch, &inflight_tx).await.is_err() {
                return;
            }
        }
    };
    // The reader ends first when the connection broke: what the writer holds then
    // was never written.
    let reader_ended = tokio::select! {
        _ = writer => false,
        _ = &mut reader.0 => true,
    };
    if !reader_ended {
        drop(inflight_tx);
        let _ = wr.shutdown().await;
        let _ = (&mut reader.0).await;
    }
    batch
}

/// Moves what is queued now into `batch` (up to [`MAX_BATCH`]) without waiting.
/// One `poll_recv_many` hands the channel's permits back once for the lot, where a
/// `try_recv` per request takes the channel's semaphore lock each time.
fn take_queued(rx: &mut mpsc::Receiver<BackendRequest>, batch: &mut Vec<BackendRequest>) {
    let room = MAX_BATCH.saturating_sub(batch.len());
    if room > 0 {
        // Polled once: `Pending` (nothing queued) registers the no-op waker only.
        let _ = rx.poll_recv_many(&mut std::task::Context::from_waker(std::task::Waker::noop()), batch, room);
    }
}

/// Writes a batch of requests with one write, registering each as in flight first.
/// When the reader is gone (the connection broke), the requests not registered are
/// left in `batch`, and nothing of the batch is written.
async fn write_batch(
    wr: &mut WriteHalf,
    out: &mut BytesMut,
    batch: &mut Vec<BackendRequest>,
    inflight: &mpsc::UnboundedSender<InFlight>,
) -> std::io::Result<()> {
    let now = Instant::now();
    // The batch's buffer is kept for the next batch (a new one per batch would be an
    // allocation per request at low pipeline depth).
    let mut taken = std::mem::take(batch);
    let mut pending = taken.drain(..);
    while let Some(req) = pending.next() {
        if req.asking {
            if inflight.send(InFlight::Discard).is_err() {
                return unwritten(out, batch, req, pending);
            }
            out.extend_from_slice(ASKING);
        }
        out.extend_from_slice(&req.bytes);
        if let Err(mpsc::error::SendError(InFlight::Request(sent))) =
            inflight.send(InFlight::Request(Sent::new(req, now)))
        {
            return unwritten(out, batch, sent.req, pending);
        }
    }
    drop(pending);
    *batch = taken;
    let result = wr.send(out).await;
    out.clear();
    if out.capacity() > 1024 * 1024 {
        *out = BytesMut::with_capacity(16 * 1024);
    }
    result
}

/// The reader is gone: `req` and the rest go back to `batch`, unwritten.
fn unwritten(
    out: &mut BytesMut,
    batch: &mut Vec<BackendRequest>,
    req: BackendRequest,
    rest: impl Iterator<Item = BackendRequest>,
) -> std::io::Result<()> {
    out.clear();
    batch.push(req);
    batch.extend(rest);
    Err(std::io::ErrorKind::BrokenPipe.into())
}
