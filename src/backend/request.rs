//! A request on its way to a node: the client's bytes, where its reply goes, and
//! what routing needs to send it again after a redirect.

use std::time::Duration;

use bytes::Bytes;
use tokio::sync::oneshot;

use crate::error::CommandError;

/// Who a request is for, as far as routing cares: the client's id picks its pinned
/// connection; RESP3 clients use the nodes' RESP3 connections, and clients with
/// `CLIENT NO-TOUCH ON` connections that sent it.
#[derive(Debug, Clone, Copy)]
pub struct ClientTag {
    pub id: u64,
    pub resp3: bool,
    pub no_touch: bool,
}

/// Who slotway's own requests (replica lag, node version checks) are for.
pub const OWN_REQUESTS: ClientTag = ClientTag { id: 0, resp3: false, no_touch: false };

/// The text of a bulk-string reply (`INFO ...`) to one of slotway's own requests, or
/// `None` when it does not come within `wait` or is not a bulk string.
pub async fn reply_text(rx: oneshot::Receiver<ReplyResult>, wait: Duration) -> Option<String> {
    let reply = tokio::time::timeout(wait, rx).await.ok()?.ok()?.ok()?;
    let body = crate::protocol::reply::bulk_body(&reply)?;
    Some(String::from_utf8_lossy(body).into_owned())
}

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
    /// The client said `CLIENT NO-TOUCH ON`: use connections that said it too.
    pub no_touch: bool,
}

impl BackendRequest {
    /// An ordinary one-reply request for `client`: its id picks the client's own
    /// connection to a node (one of its worker's), also after a redirect.
    pub fn new(bytes: Bytes, reply: oneshot::Sender<ReplyResult>, slot: Option<u16>, client: ClientTag) -> Self {
        let (client_id, resp3, no_touch) = (client.id, client.resp3, client.no_touch);
        BackendRequest {
            bytes,
            reply,
            slot,
            hops: 0,
            asking: false,
            resp3,
            no_touch,
            frames: 1,
            leased: false,
            client_id,
        }
    }

    /// The client it is for.
    pub fn tag(&self) -> ClientTag {
        ClientTag { id: self.client_id, resp3: self.resp3, no_touch: self.no_touch }
    }
}

impl BackendRequest {
    pub fn fail(self, err: CommandError) {
        let _ = self.reply.send(Err(err));
    }
}
