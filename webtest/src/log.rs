//! Writing log lines to stdout: the startup line, the shutdown lines and the access log.
//!
//! In a container stdout is a pipe read by the log driver, so every line is written whole and
//! flushed at once; that way `docker logs` shows it immediately and lines from different
//! requests never interleave.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use axum::body::HttpBody as _;
use axum::extract::{ConnectInfo, Request};
use axum::http::{Method, StatusCode, Version};
use axum::middleware::Next;
use axum::response::Response;

/// Writes one line to stdout and flushes it.
///
/// Errors are ignored on purpose: `println!` panics when stdout is closed, and with
/// `panic = "abort"` that would kill the server because nobody reads its log any more.
pub fn line(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out
        .write_all(text.as_bytes())
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
}

/// Formats one access-log line, e.g. `127.0.0.1:53422 "GET /healthz HTTP/1.1" 200 2 0.120ms`.
///
/// The peer is `-` when unknown, and so is the body length when the body is streamed.
pub fn access_line(
    peer: Option<SocketAddr>,
    method: &Method,
    target: &str,
    version: Version,
    status: StatusCode,
    body_len: Option<u64>,
    elapsed: Duration,
) -> String {
    let peer = peer.map_or_else(|| "-".to_owned(), |p| p.to_string());
    let len = body_len.map_or_else(|| "-".to_owned(), |n| n.to_string());
    let millis = elapsed.as_secs_f64() * 1000.0;
    format!(
        "{peer} \"{method} {target} {version:?}\" {} {len} {millis:.3}ms",
        status.as_u16()
    )
}

/// Middleware that writes one access-log line for every request, including 404s and 405s.
pub async fn access_log(request: Request, next: Next) -> Response {
    let start = std::time::Instant::now();
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0);
    let method = request.method().clone();
    let version = request.version();
    let target = request
        .uri()
        .path_and_query()
        .map_or_else(|| request.uri().path().to_owned(), |pq| pq.to_string());

    let response = next.run(request).await;

    // Axum drops the body of a HEAD response only after this middleware has run, so the
    // length logged here is made to match what actually goes on the wire.
    let body_len = if method == Method::HEAD {
        Some(0)
    } else {
        response.body().size_hint().exact()
    };
    line(&access_line(
        peer,
        &method,
        &target,
        version,
        response.status(),
        body_len,
        start.elapsed(),
    ));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_line_has_the_documented_shape() {
        let line = access_line(
            Some("127.0.0.1:53422".parse().unwrap()),
            &Method::GET,
            "/healthz",
            Version::HTTP_11,
            StatusCode::OK,
            Some(2),
            Duration::from_micros(120),
        );
        assert_eq!(
            line,
            "127.0.0.1:53422 \"GET /healthz HTTP/1.1\" 200 2 0.120ms"
        );

        let line = access_line(
            None,
            &Method::POST,
            "/x?y=1",
            Version::HTTP_10,
            StatusCode::NOT_FOUND,
            None,
            Duration::from_millis(3),
        );
        assert_eq!(line, "- \"POST /x?y=1 HTTP/1.0\" 404 - 3.000ms");
    }
}
