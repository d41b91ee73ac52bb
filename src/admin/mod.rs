//! The admin HTTP port (`--admin-listen`): Prometheus metrics at `/metrics`, a live
//! status page at `/`, and the data the page draws as JSON at `/api/cluster`.
//!
//! Everything is read when asked for, from what the data path keeps anyway (the
//! counters in [`crate::metrics`], the topology snapshot, the lease and client
//! counts), so the admin port costs the data path nothing.
//!
//! # Layout
//!
//! - [`status`]: one snapshot of slotway and its cluster, behind both JSON and metrics
//! - [`prometheus`]: that snapshot in Prometheus's text format
//! - `status.html`: the page, self-contained (inline CSS and JS: it must work with
//!   no network but the admin port)
//!
//! Plain hyper rather than a web framework: three fixed GET routes need no router,
//! extractors or middleware, and hyper is what a framework would run on anyway.

pub mod prometheus;
pub mod status;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tracing::{info, warn};

use crate::proxy::Proxy;
use crate::startup::Error;
use crate::task::AbortOnDrop;

/// The page, compiled in: the admin port serves no files from disk.
const STATUS_PAGE: &str = include_str!("status.html");
/// Admin connections at once; past it new ones are closed. A scraper and a few open
/// pages need far fewer, and the bound keeps a misbehaving client from piling up tasks.
const MAX_CONNECTIONS: usize = 64;
/// Time a client gets to send a request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Binds `addr` and serves the admin port until the returned guard drops.
pub(crate) async fn start(addr: &str, proxy: Arc<Proxy>) -> Result<AbortOnDrop, Error> {
    let listener = TcpListener::bind(addr).await.map_err(|source| Error::Listen { addr: addr.to_string(), source })?;
    info!(admin = %listener.local_addr()?, "admin port ready (/metrics, /, /api/cluster)");
    Ok(AbortOnDrop(tokio::spawn(serve(listener, proxy))))
}

/// Serves the admin endpoints on `listener` until the task is dropped or aborted;
/// the connections live in this task's `JoinSet`, so they end with it.
pub async fn serve(listener: TcpListener, proxy: Arc<Proxy>) {
    let mut conns = JoinSet::new();
    loop {
        let stream = tokio::select! {
            // Reap finished connections so the set only holds live ones.
            Some(_) = conns.join_next() => continue,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    warn!(error = %e, "admin accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        if conns.len() >= MAX_CONNECTIONS {
            continue; // dropping the stream closes it
        }
        let proxy = proxy.clone();
        conns.spawn(async move {
            let service = service_fn(move |req| {
                let response = respond(&req, &proxy);
                async move { Ok::<_, Infallible>(response) }
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            // A client that goes away mid-request is its own business.
            let _ = conn.await;
        });
    }
}

fn respond(req: &Request<Incoming>, proxy: &Proxy) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut resp = reply(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "only GET\n".into());
        resp.headers_mut().insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return resp;
    }
    match req.uri().path() {
        "/" => reply(StatusCode::OK, "text/html; charset=utf-8", STATUS_PAGE.into()),
        "/metrics" => {
            let text = prometheus::render(status::ClusterStatus::of(proxy));
            reply(StatusCode::OK, prometheus::CONTENT_TYPE, text.into())
        }
        "/api/cluster" => match serde_json::to_string(&status::ClusterStatus::of(proxy)) {
            Ok(json) => reply(StatusCode::OK, "application/json", json.into()),
            Err(e) => reply(StatusCode::INTERNAL_SERVER_ERROR, "text/plain", format!("{e}\n").into()),
        },
        _ => reply(StatusCode::NOT_FOUND, "text/plain", "not found: try /, /metrics or /api/cluster\n".into()),
    }
}

fn reply(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Every answer describes this moment; a cached one would show a stale cluster.
    resp.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
