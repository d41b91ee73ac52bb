//! Sockets: plain TCP or TLS (rustls) on both sides.
//!
//! - [`stream`]: a connection that is either, split into read and write halves.
//! - [`tls`]: the TLS settings read into rustls configurations (listener and nodes).
//! - [`connect`]: opening node connections (TCP + handshake within one timeout).
//! - [`accept`]: the TLS handshake with a client, bounded in time.

pub mod accept;
pub mod connect;
pub mod stream;
pub mod tls;
