//! One multiplexed, pipelined connection to a node, shared by all clients.
//!
//! A writer copies every queued request into one buffer and sends it with one write;
//! a reader frames the replies and hands each to the request at the front of the
//! in-flight FIFO. Redis answers in order, so the FIFO is all the matching needed.
//! Redirect replies are not passed on: they go back to the router.
//!
//! Connecting is lazy (on the first request). When the node cannot be reached,
//! requests fail at once with a clear error during a backoff, instead of queueing.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, sleep, sleep_until};
use tracing::{debug, warn};

use crate::error::CommandError;
use crate::net::connect::{NodeConnector, NodeLogin};
use crate::net::stream::{ReadHalf, Stream, WriteHalf};
use crate::observe::nodes::{NodeStats, ReplyClock};
use crate::protocol::reply::{Redirect, ReplyScanner};
use crate::route::dispatch::{ClientTag, Router};

/// What a client waits on: the node's reply bytes, or why there is none.
pub type ReplyResult = Result<Bytes, CommandError>;

/// A request on its way to a node.
#[derive(Debug)]
pub struct BackendRequest {
    /// The request exactly as the client sent it.
    pub bytes: Bytes,
    pub reply: oneshot::Sender<ReplyResult>,
    /// The slot it was routed by, if any (needed to route it again after `TRYAGAIN`).
    pub slot: Option<u16>,
    /// Redirects followed so far.
    pub hops: u8,
    /// Send `ASKING` first (after an `-ASK` redirect).
    pub asking: bool,
    /// The client speaks RESP3: use the node's RESP3 connections.
    pub resp3: bool,
    /// The client it is for: picks the client's own connection to a node, also
    /// after a redirect, so its commands to one node keep their order.
    pub client_id: u64,
    /// Replies the bytes produce: 1, or for a transaction block (`MULTI` ... `EXEC`)
    /// one per command; the last one (`EXEC`'s) is the reply.
    pub frames: u32,
    /// Sent on a connection leased to one client (its `WATCH` lives there): never
    /// redirected to another connection.
    pub leased: bool,
}

impl BackendRequest {
    /// An ordinary one-reply request for `client`: its id picks the client's own
    /// connection to a node (one of its worker's), also after a redirect.
    pub fn new(bytes: Bytes, reply: oneshot::Sender<ReplyResult>, slot: Option<u16>, client: ClientTag) -> Self {
        let (client_id, resp3) = (client.id, client.resp3);
        BackendRequest { bytes, reply, slot, hops: 0, asking: false, resp3, frames: 1, leased: false, client_id }
    }
}

impl BackendRequest {
    pub fn fail(self, err: CommandError) {
        let _ = self.reply.send(Err(err));
    }
}

/// Settings a connection needs, copied out of the config.
#[derive(Debug, Clone)]
pub struct ConnSettings {
    /// Send `HELLO 3` after connecting, so the node replies in RESP3.
    pub resp3: bool,
    /// Log in to the node after connecting.
    pub login: Option<NodeLogin>,
    /// Send `READONLY` after connecting (connections for replica reads).
    pub readonly: bool,
    /// Set while the node can be reached, cleared while it cannot.
    pub reachable: Option<Arc<std::sync::atomic::AtomicBool>>,
    /// The node's latency histogram and connection count (shared connections only).
    pub stats: Option<Arc<NodeStats>>,
    /// Plain TCP or TLS; the connect timeout covers the handshake too.
    pub connector: NodeConnector,
    /// Connect, reply and unreachable-node timeouts, changed live by a reload.
    pub timeouts: Arc<super::timeouts::Timeouts>,
    /// How long a request waits for an unreachable node (or its replacement) before
    /// it fails with `CLUSTERDOWN`.
    /// Connect again after the connection breaks. Leased connections do not: the
    /// state their holder built (a `WATCH`) would be gone.
    pub reconnect: bool,
    /// `None` for connections leased to blocking commands, which wait as long as asked.
    pub timed_replies: bool,
    pub max_in_flight: usize,
}

const ASKING: &[u8] = b"*1\r\n$6\r\nASKING\r\n";
/// What slotway says first on a new RESP3 node connection (already logged in: see
/// [`NodeConnector::connect`](crate::net::connect::NodeConnector::connect)).
const HELLO_3: &[u8] = b"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n";
const READ_CHUNK: usize = 64 * 1024;
const MAX_BATCH: usize = 512;

/// A request written to the node whose reply has not arrived yet.
enum InFlight {
    Request(Sent),
    /// A reply slotway asked for itself and drops: the `+OK` of an `ASKING` sent
    /// before the next request, or the reply to `HELLO 3` on a new connection.
    Discard,
}

/// Runs the connection to `addr` until every sender of `rx` is gone.
pub async fn run(addr: Arc<str>, mut rx: mpsc::Receiver<BackendRequest>, settings: ConnSettings, router: Weak<Router>) {
    let mut backoff = Duration::from_millis(50);
    // Requests that found the node unreachable, oldest first, each with the moment it
    // gives up: they wait (bounded by `unreachable_wait`) for the cluster to promote a
    // replica, then go to the new owner, still in order.
    let mut parked: VecDeque<(BackendRequest, Instant)> = VecDeque::new();
    loop {
        let first = match parked.pop_front() {
            Some(entry) => entry,
            None => match rx.recv().await {
                Some(req) => (req, Instant::now() + settings.timeouts.unreachable_wait()),
                None => break,
            },
        };
        match settings.connector.connect(&addr, settings.timeouts.connect(), settings.login.as_ref()).await {
            Ok(stream) => {
                backoff = Duration::from_millis(50);
                debug!(%addr, "connected to node");
                if let Some(flag) = &settings.reachable {
                    flag.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                let mut batch = vec![first.0];
                batch.extend(parked.drain(..).map(|(req, _)| req));
                serve(stream, &addr, batch, &mut rx, &settings, &router).await;
                if !settings.reconnect {
                    break;
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
                        settle_parked(&router, &addr, &mut parked, settings.reconnect, why.as_ref());
                    }
                    let next_check = (Instant::now() + PARKED_CHECK).min(retry_at);
                    tokio::select! {
                        req = rx.recv() => match req {
                            Some(req) => parked.push_back((req, Instant::now() + settings.timeouts.unreachable_wait())),
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
    router: &Arc<Router>,
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
async fn serve(
    stream: Stream,
    addr: &Arc<str>,
    first: Vec<BackendRequest>,
    rx: &mut mpsc::Receiver<BackendRequest>,
    settings: &ConnSettings,
    router: &Weak<Router>,
) {
    let _open = settings.stats.as_ref().map(NodeStats::connection_open);
    let (rd, mut wr) = stream.into_split();
    // The in-flight FIFO is an unbounded channel with its own counter: a bounded
    // channel takes a semaphore lock per message (9% of instructions per GET at -P 16).
    // The counter bounds it: the writer takes no new batch while max_in_flight are out.
    let (inflight_tx, inflight_rx) = mpsc::unbounded_channel();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let mut reader = AbortOnDrop(tokio::spawn(read_replies(
        rd,
        inflight_rx,
        in_flight.clone(),
        addr.clone(),
        settings.timed_replies.then(|| settings.timeouts.clone()),
        router.clone(),
        settings.stats.clone(),
    )));
    let mut out = BytesMut::with_capacity(16 * 1024);
    if settings.resp3 {
        out.extend_from_slice(HELLO_3);
        if inflight_tx.send(InFlight::Discard).is_err() {
            return;
        }
    }
    if settings.readonly {
        out.extend_from_slice(b"*1\r\n$8\r\nREADONLY\r\n");
        if inflight_tx.send(InFlight::Discard).is_err() {
            return;
        }
    }
    let writer = async {
        let mut batch = first;
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
            if write_batch(&mut wr, &mut out, &mut batch, &inflight_tx, addr).await.is_err() {
                return;
            }
        }
    };
    // Requests dropped here unanswered are seen by their clients as a lost connection.
    tokio::select! {
        _ = writer => {}
        _ = &mut reader.0 => return,
    }
    drop(inflight_tx);
    let _ = wr.shutdown().await;
    let _ = (&mut reader.0).await;
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
async fn write_batch(
    wr: &mut WriteHalf,
    out: &mut BytesMut,
    batch: &mut Vec<BackendRequest>,
    inflight: &mpsc::UnboundedSender<InFlight>,
    addr: &Arc<str>,
) -> std::io::Result<()> {
    let now = Instant::now();
    for req in batch.drain(..) {
        if req.asking {
            out.extend_from_slice(ASKING);
            if inflight.send(InFlight::Discard).is_err() {
                req.fail(CommandError::ConnectionLost(addr.to_string()));
                continue;
            }
        }
        out.extend_from_slice(&req.bytes);
        let sent = Sent { req, at: now, seen: 0, redirect: None };
        if let Err(mpsc::error::SendError(InFlight::Request(sent))) = inflight.send(InFlight::Request(sent)) {
            sent.req.fail(CommandError::ConnectionLost(addr.to_string()));
        }
    }
    let result = wr.send(out).await;
    out.clear();
    if out.capacity() > 1024 * 1024 {
        *out = BytesMut::with_capacity(16 * 1024);
    }
    result
}

/// Frames replies and answers in-flight requests in order. On a broken connection,
/// a timeout or bad bytes, every request still in flight gets an error (its outcome
/// is unknown) and the connection is dropped.
async fn read_replies(
    mut rd: ReadHalf,
    mut inflight_rx: mpsc::UnboundedReceiver<InFlight>,
    in_flight: Arc<AtomicUsize>,
    addr: Arc<str>,
    reply_timeout: Option<Arc<super::timeouts::Timeouts>>,
    router: Weak<Router>,
    stats: Option<Arc<NodeStats>>,
) {
    let mut waiting: VecDeque<InFlight> = VecDeque::new();
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let mut scanner = ReplyScanner::default();
    // One timer, armed for the oldest request in flight and armed again only when it
    // fires early (a later request is the oldest by then; the FIFO's deadlines only
    // grow). A timer armed per reply took the time driver's lock for every request.
    let timer = sleep(Duration::ZERO);
    tokio::pin!(timer);
    let mut armed = false;
    let error = loop {
        while let Ok(item) = inflight_rx.try_recv() {
            waiting.push_back(item);
        }
        if !armed && let Some(deadline) = oldest_deadline(&waiting, reply_timeout.as_deref()) {
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
                    let mut clock = ReplyClock::new(stats.as_deref());
                    if let Err(e) = deliver(&mut buf, &mut scanner, &mut waiting, &mut inflight_rx, &in_flight, &addr, &router, &mut clock) {
                        warn!(%addr, error = %e, "closing node connection");
                        break CommandError::ConnectionLost(addr.to_string());
                    }
                    if buf.capacity() < READ_CHUNK / 4 {
                        buf.reserve(READ_CHUNK);
                    }
                }
            },
            item = inflight_rx.recv(), if waiting.is_empty() => match item {
                Some(item) => waiting.push_back(item),
                None => return, // writer closed and nothing is in flight
            },
            _ = &mut timer, if armed => {
                armed = false;
                if oldest_deadline(&waiting, reply_timeout.as_deref()).is_some_and(|d| d <= Instant::now()) {
                    warn!(%addr, "node did not reply in time; closing its connection");
                    break CommandError::ReplyTimeout(addr.to_string());
                }
            }
        }
    };
    inflight_rx.close();
    while let Ok(item) = inflight_rx.try_recv() {
        waiting.push_back(item);
    }
    for item in waiting {
        if let InFlight::Request(sent) = item {
            sent.req.fail(error.clone());
        }
    }
    if let Some(router) = router.upgrade() {
        router.request_refresh();
    }
}

/// When the oldest request in flight runs out of time (`None`: nothing is in flight,
/// or no reply timeout applies).
fn oldest_deadline(waiting: &VecDeque<InFlight>, timeouts: Option<&super::timeouts::Timeouts>) -> Option<Instant> {
    let timeout = timeouts?.reply();
    waiting.iter().find_map(|w| match w {
        InFlight::Request(sent) => Some(sent.at + timeout),
        InFlight::Discard => None,
    })
}

/// Hands every complete reply in `buf` to its request.
#[allow(clippy::too_many_arguments)] // the reader's state, borrowed apart; a struct would only rename it
fn deliver(
    buf: &mut BytesMut,
    scanner: &mut ReplyScanner,
    waiting: &mut VecDeque<InFlight>,
    inflight_rx: &mut mpsc::UnboundedReceiver<InFlight>,
    in_flight: &AtomicUsize,
    addr: &Arc<str>,
    router: &Weak<Router>,
    clock: &mut ReplyClock<'_>,
) -> Result<(), String> {
    while let Some(len) = scanner.next_len(buf).map_err(|e| e.to_string())? {
        let reply = buf.split_to(len).freeze();
        if waiting.is_empty() {
            while let Ok(item) = inflight_rx.try_recv() {
                waiting.push_back(item);
            }
        }
        match waiting.front_mut() {
            None => return Err("reply with no request waiting for it".into()),
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
        in_flight.fetch_sub(1, Ordering::AcqRel);
        clock.replied(sent.at.into_std());
        let (req, block_redirect) = (sent.req, sent.redirect);
        let redirect = match block_redirect {
            // The node refused the queued commands (slot moved): EXEC aborted, nothing ran.
            Some(r) if reply.starts_with(b"-EXECABORT") => Some(r),
            Some(_) => None,
            None if reply.first() == Some(&b'-') && req.frames == 1 => Redirect::parse(&reply),
            None => None,
        };
        // The router is needed (and upgraded: two atomic operations) only for errors.
        let router = match &redirect {
            Some(_) => router.upgrade(),
            None if reply.starts_with(b"-NOSCRIPT") => router.upgrade(),
            None => None,
        };
        match (redirect, router) {
            (Some(redirect), Some(router)) => router.follow(req, redirect, addr),
            (None, Some(router)) => router.heal_noscript(req, reply, addr),
            _ => {
                let _ = req.reply.send(Ok(reply));
            }
        }
    }
    Ok(())
}

/// A request on the wire, and what its replies so far said.
struct Sent {
    req: BackendRequest,
    at: Instant,
    /// Replies of a transaction block received so far.
    seen: u32,
    /// The first redirect among a block's replies.
    redirect: Option<Redirect>,
}

/// Aborts a task when dropped: a connection's reader ends with its connection,
/// also when the connection task itself is aborted (a lease given back).
pub(crate) struct AbortOnDrop(pub(crate) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
