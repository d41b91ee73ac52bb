//! One task per client connection: read requests, route them, and write the replies
//! back strictly in request order.

pub mod dispatch;
pub mod info;
pub mod local;
pub mod reply_queue;
pub mod session;
mod settings;
pub mod single_node;
mod subscribed;
pub mod subscriptions;
pub mod transaction;
