//! One subscription connection to a node: it sends the hub's (un)subscribe commands,
//! reports when subscriptions are confirmed, and hands every message to the hub.

use std::collections::VecDeque;
use std::sync::{Arc, Weak};

use bytes::{Bytes, BytesMut};
use redis_protocol::resp2::decode::decode;
use redis_protocol::resp2::types::OwnedFrame;
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};

use super::Kind;
use super::hub::Hub;
use crate::backend::reach::NodeReach;
use crate::task::AbortOnDrop;

/// A command for the node, with the number of confirmations it will produce and
/// who to tell when they have all arrived.
pub struct SubCommand {
    pub bytes: Bytes,
    pub acks: usize,
    pub done: Option<oneshot::Sender<()>>,
}

/// The handle the hub keeps; dropping it closes the connection.
pub struct SubConn {
    pub tx: mpsc::UnboundedSender<SubCommand>,
    _task: AbortOnDrop,
}

/// Largest message frame accepted from a node (Redis's own bulk limit).
const MAX_FRAME: usize = 512 * 1024 * 1024 + 1024;

impl SubConn {
    pub fn start(addr: Arc<str>, hub: Weak<Hub>, node: NodeReach) -> SubConn {
        // Unbounded on purpose: the hub holds a lock while queueing and must not wait;
        // what it queues is bounded by the number of distinct subscriptions.
        let (tx, rx) = mpsc::unbounded_channel();
        let task = AbortOnDrop(tokio::spawn(run(addr, rx, hub, node)));
        SubConn { tx, _task: task }
    }
}

async fn run(
    addr: Arc<str>,
    mut rx: mpsc::UnboundedReceiver<SubCommand>,
    hub: Weak<Hub>,
    NodeReach { connector, timeouts, login }: NodeReach,
) {
    let stream = match connector.connect(&addr, timeouts.connect(), login.as_ref()).await {
        Ok(s) => s,
        Err(e) => {
            warn!(%addr, error = %e, "cannot open a subscription connection");
            if let Some(hub) = hub.upgrade() {
                hub.conn_failed(&addr);
            }
            return;
        }
    };
    let (mut rd, mut wr) = stream.into_split();
    let mut acks: VecDeque<(usize, Option<oneshot::Sender<()>>)> = VecDeque::new();
    let mut buf = BytesMut::with_capacity(16 * 1024);
    loop {
        tokio::select! {
            cmd = rx.recv() => {
                let Some(cmd) = cmd else { return };
                if wr.send(&cmd.bytes).await.is_err() {
                    break;
                }
                if cmd.acks > 0 {
                    acks.push_back((cmd.acks, cmd.done));
                } else if let Some(done) = cmd.done {
                    let _ = done.send(());
                }
            }
            read = rd.read_buf(&mut buf) => {
                if !matches!(read, Ok(n) if n > 0) {
                    break;
                }
                let Some(hub) = hub.upgrade() else { return };
                loop {
                    let (frame, len) = match decode(&buf) {
                        Ok(Some(pair)) => pair,
                        Ok(None) if buf.len() <= MAX_FRAME => break,
                        _ => {
                            warn!(%addr, "subscription connection got bad bytes");
                            hub.conn_failed(&addr);
                            return;
                        }
                    };
                    let _ = buf.split_to(len);
                    handle(&hub, frame, &mut acks);
                }
            }
        }
    }
    debug!(%addr, "subscription connection closed");
    if let Some(hub) = hub.upgrade() {
        hub.conn_failed(&addr);
    }
}

fn handle(hub: &Hub, frame: OwnedFrame, acks: &mut VecDeque<(usize, Option<oneshot::Sender<()>>)>) {
    let items = match frame {
        OwnedFrame::Array(items) => items,
        OwnedFrame::Error(e) => {
            // A refused (un)subscribe, e.g. `MOVED` for a shard channel: count the
            // command as answered and let the hub place the subscription again.
            debug!(error = %e, "node refused a subscription command");
            if let Some((_, done)) = acks.pop_front() {
                done.map(|d| d.send(()));
            }
            hub.reconcile_soon();
            return;
        }
        _ => return,
    };
    let bulk = |i: usize| match items.get(i) {
        Some(OwnedFrame::BulkString(b)) | Some(OwnedFrame::SimpleString(b)) => Some(Bytes::copy_from_slice(b)),
        _ => None,
    };
    let Some(kind) = bulk(0) else { return };
    match &kind[..] {
        b"message" | b"smessage" => {
            if let (Some(channel), Some(payload)) = (bulk(1), bulk(2)) {
                let k = if &kind[..] == b"message" { Kind::Channel } else { Kind::Shard };
                hub.deliver(k, None, &channel, &payload);
            }
        }
        b"pmessage" => {
            if let (Some(pattern), Some(channel), Some(payload)) = (bulk(1), bulk(2), bulk(3)) {
                hub.deliver(Kind::Pattern, Some(&pattern), &channel, &payload);
            }
        }
        b"subscribe" | b"psubscribe" | b"ssubscribe" => {
            if let Some(front) = acks.front_mut() {
                front.0 -= 1;
                if front.0 == 0
                    && let Some((_, Some(done))) = acks.pop_front()
                {
                    let _ = done.send(());
                }
            }
        }
        // The node dropped a shard channel (its slot moved away): place it again.
        b"sunsubscribe" => hub.reconcile_soon(),
        _ => {}
    }
}
