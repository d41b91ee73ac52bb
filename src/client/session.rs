//! The per-client socket loop: read requests, frame them, hand each to the
//! client's [`dispatch`](super::dispatch), and write replies back in request
//! order; idle timeout, shutdown and pushed pub/sub messages between replies.
//!
//! Backpressure: the client is not read while it has `max_pipeline` replies
//! pending, and not while slotway is writing to it, so a client that stops reading
//! its replies stops being read (bounded memory), and nobody else is slowed.

use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::AsyncWriteExt;
use tracing::{debug, warn};

use super::dispatch::Client;
use super::subscribed::next_push;
use crate::config::Config;
use crate::error::CommandError;
use crate::metrics::Metrics;
use crate::net::stream::Stream;
use crate::observe::ClientObserver;
use crate::observe::clients::ClientRow;
use crate::protocol::request::RequestParser;
use crate::proxy::Proxy;

const READ_CHUNK: usize = 16 * 1024;

pub struct Session {
    client: Client,
    parser: RequestParser,
    max_pipeline: usize,
    idle_timeout: Option<Duration>,
    query_buffer_limit: usize,
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
    pub fn new(proxy: Arc<Proxy>, config: &Config, id: u64) -> Self {
        Session {
            client: Client::new(proxy, config, id),
            parser: RequestParser::new(config.proto_max_bulk_len),
            max_pipeline: config.max_pipeline.max(1),
            idle_timeout: (config.timeout > 0).then(|| Duration::from_secs(config.timeout)),
            query_buffer_limit: config.client_query_buffer_limit.max(1024),
        }
    }

    /// Serves the client until it disconnects, sends `QUIT`, or sends bad protocol.
    pub async fn run(mut self, stream: Stream) {
        let _ = stream.tcp().set_nodelay(true);
        self.client.state.local_addr = stream.tcp().local_addr().ok();
        let row = ClientRow::new(self.client.state.id, stream.tcp().peer_addr().ok(), self.client.state.local_addr);
        let row = self.client.proxy.clients.add(row);
        self.client.replies.observe(ClientObserver::new(
            self.client.proxy.observe.clone(),
            self.client.state.id,
            row.clone(),
        ));
        self.client.state.row = Some(row);
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
        let stopping = shutdown_signal(self.client.proxy.stopping.clone());
        tokio::pin!(stopping);
        loop {
            if self.client.state.closing && self.client.replies.is_empty() {
                break;
            }
            let can_read = !self.client.state.closing && self.client.replies.len() < self.max_pipeline;
            tokio::select! {
                biased;
                () = self.client.replies.take_ready(&mut output), if !self.client.replies.is_empty() => {
                    Metrics::add(&self.client.proxy.metrics.net_output_bytes, output.len() as u64);
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
                    if self.client.replies.is_empty() && !self.client.subs.active() {
                        debug!(id = self.client.state.id, "closing idle client");
                        break;
                    }
                    idle.as_mut().reset(tokio::time::Instant::now() + idle_limit.unwrap_or_default());
                }
                () = &mut stopping, if !self.client.state.closing => {
                    // Shutting down: answer what was asked, read nothing more.
                    self.client.state.closing = true;
                }
                push = next_push(&mut self.client.subs), if self.client.replies.is_empty() && self.client.subs.feed.is_some() => {
                    // Messages go out only between replies, never inside one.
                    let Some(push) = push else { break }; // too slow: the hub dropped this client
                    let Some(cut) = self.client.subs.feed.as_ref().map(|f| f.cut.clone()) else { continue };
                    // A client that stopped reading blocks this write; the hub's cut-off
                    // must still close it.
                    Metrics::add(&self.client.proxy.metrics.net_output_bytes, push.len() as u64);
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
                        Ok(0) | Err(_) if self.client.replies.waits_on_blocking() => break,
                        Ok(0) | Err(_) => self.client.state.closing = true,
                        Ok(n) => {
                            Metrics::add(&self.client.proxy.metrics.net_input_bytes, n as u64);
                            if input.len() > self.query_buffer_limit {
                                // As Redis: a client past client-query-buffer-limit is closed.
                                warn!(id = self.client.state.id, bytes = input.len(), "client query buffer over its limit: closing it");
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
        self.client.subs.clear(&self.client.proxy.hub, self.client.state.id);
        self.client.proxy.clients.remove(self.client.state.id);
        let _ = wr.shutdown().await;
        debug!(id = self.client.state.id, "client closed");
    }

    /// Routes every complete request in `input`, up to the pipeline limit.
    async fn handle_input(&mut self, input: &mut BytesMut) {
        let mut handled = 0;
        self.client.read_at = std::time::Instant::now();
        while !self.client.state.closing
            && self.client.replies.len() < self.max_pipeline
            && !self.client.replies.blocked()
        {
            match self.parser.next(input) {
                Ok(Some(raw)) => {
                    handled += 1;
                    self.client.handle(raw, self.parser.args()).await
                }
                Ok(None) => break,
                Err(e) => {
                    // As Redis: reply with the error, then close the connection.
                    self.client.replies.push_ready(CommandError::from(e).to_reply());
                    self.client.state.closing = true;
                }
            }
        }
        Metrics::add(&self.client.proxy.metrics.total_commands, handled);
    }
}
