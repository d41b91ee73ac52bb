//! Subscribed mode: `(P|S)SUBSCRIBE` and `(P|S)UNSUBSCRIBE` answered from the
//! client's own subscriptions (the hub keeps the nodes' side), `PING` as Redis
//! answers it in RESP2 subscribed mode, the commands refused there, and the feed of
//! messages the socket loop writes between replies.

use bytes::Bytes;

use super::dispatch::Client;
use super::subscriptions::Subscriptions;
use crate::command::classify::Action;
use crate::command::keys::request_slot;
use crate::command::table::{CommandSpec, Local};
use crate::error::CommandError;
use crate::protocol::request::Args;
use crate::pubsub::{Kind, push_frame};

impl Client {
    /// `SUBSCRIBE`, `PSUBSCRIBE`, `SSUBSCRIBE` (whose channels must share a slot).
    pub(super) fn subscribe(&mut self, kind: Kind, spec: Option<&'static CommandSpec>, args: Args<'_>) {
        if kind == Kind::Shard
            && let Some(Err(e)) = spec.map(|spec| request_slot(spec, args))
        {
            return self.replies.push_ready(e.to_reply());
        }
        let names = args.iter().skip(1).map(Bytes::copy_from_slice).collect();
        let (id, resp3) = (self.state.id, self.state.resp3);
        let rx = self.subs.subscribe(&self.proxy.hub, id, resp3, kind, names);
        self.replies.push_waiting(rx);
    }

    /// `UNSUBSCRIBE`, `PUNSUBSCRIBE`, `SUNSUBSCRIBE`.
    pub(super) fn unsubscribe(&mut self, kind: Kind, args: Args<'_>) {
        let names = args.iter().skip(1).map(Bytes::copy_from_slice).collect();
        let (id, resp3) = (self.state.id, self.state.resp3);
        let reply = self.subs.unsubscribe(&self.proxy.hub, id, resp3, kind, names);
        self.replies.push_ready(reply);
    }

    /// In RESP2 subscribed mode Redis answers `PING` with a `["pong", arg]` array
    /// (and more arguments with the usual error, `local.rs`).
    pub(super) fn subscribed_ping(&mut self, args: Args<'_>) {
        let arg = if args.len() > 1 { args.get(1) } else { b"" };
        self.replies.push_ready(push_frame(false, &[Some(b"pong"), Some(arg)], None));
    }
}

/// In RESP2 subscribed mode Redis allows only a few commands; the error for the rest.
pub(super) fn subscribed_mode_refusal(action: &Action, spec: Option<&CommandSpec>, args: Args<'_>) -> Option<Bytes> {
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
    Some(CommandError::NotInSubscribedContext(name).to_reply())
}

/// Waits for the next message for this client (`None`: the hub dropped it).
pub(super) async fn next_push(subs: &mut Subscriptions) -> Option<Bytes> {
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
