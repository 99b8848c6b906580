//! The HTTP routes of the service, and the router that ties them together.
//!
//! The access log is written by the server around this router (see [`crate::server`]), so that
//! it covers the answers the server gives on its own as well.

use std::num::IntErrorKind;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{RawPathParams, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::info::AppInfo;

/// The response bodies, rendered once at startup because they never change.
#[derive(Clone)]
struct Bodies {
    greeting: Bytes,
    info_json: Bytes,
}

/// The content types of the answers, as ready header values: made from a `&str` at each
/// request, a header value would be checked and copied every time.
const TEXT_PLAIN: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");

/// The longest wait `GET /delay/{ms}` grants; larger values are cut down to it.
///
/// Ten seconds is enough to keep a request in flight across a `docker stop`, and the cap keeps
/// a client from parking requests on the server for arbitrarily long.
pub const MAX_DELAY_MS: u64 = 10_000;

/// Builds the service's router:
///
/// - `GET /`: a greeting naming the service, its version and host;
/// - `GET /healthz`: `ok`, for health probes;
/// - `GET /info`: the service's facts as JSON;
/// - `GET /delay/{ms}`: `ok` after `ms` milliseconds (at most [`MAX_DELAY_MS`]; not a number
///   is 400), for testing timeouts and graceful shutdown.
///
/// Axum answers `HEAD` on every `GET` route (same headers, no body), a method other than
/// `GET` or `HEAD` on a known path with 405 and an `Allow` header, and any other path with 404.
pub fn router(info: AppInfo) -> Router {
    let bodies = Bodies {
        greeting: Bytes::from(info.greeting()),
        info_json: Bytes::from(info.to_json()),
    };
    Router::new()
        .route("/", get(root))
        .route("/healthz", get(healthz))
        .route("/info", get(info_route))
        .route("/delay/{ms}", get(delay))
        .fallback(not_found)
        .with_state(bodies)
}

/// `GET /`: a greeting naming the service, its version and the host it runs on.
async fn root(State(bodies): State<Bodies>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, TEXT_PLAIN)], bodies.greeting)
}

/// `GET /healthz`: the liveness probe, used by `webtest healthcheck`.
async fn healthz() -> &'static str {
    "ok"
}

/// `GET /info`: the service's facts as JSON.
async fn info_route(State(bodies): State<Bodies>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, APPLICATION_JSON)], bodies.info_json)
}

/// `GET /delay/{ms}`: answers `ok` after `ms` milliseconds, capped at [`MAX_DELAY_MS`].
///
/// A slow request on demand, for testing timeouts and graceful shutdown. `RawPathParams` is
/// used rather than `Path<u64>` because it needs no deserializer in the binary and lets the
/// error be a plain sentence.
async fn delay(params: RawPathParams) -> (StatusCode, &'static str) {
    let value = params.iter().next().map_or("", |(_, value)| value);
    let Some(ms) = parse_delay_ms(value) else {
        return (
            StatusCode::BAD_REQUEST,
            "delay: expected a number of milliseconds\n",
        );
    };
    tokio::time::sleep(Duration::from_millis(ms)).await;
    (StatusCode::OK, "ok")
}

/// Parses the `ms` of `/delay/{ms}`: a decimal number of milliseconds, cut down to
/// [`MAX_DELAY_MS`]; a number too large even for `u64` is cut down too, since it is still a
/// number. Anything else (empty, signs, letters, fractions) is `None`.
pub fn parse_delay_ms(value: &str) -> Option<u64> {
    if !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match value.parse::<u64>() {
        Ok(ms) => Some(ms.min(MAX_DELAY_MS)),
        Err(e) if *e.kind() == IntErrorKind::PosOverflow => Some(MAX_DELAY_MS),
        Err(_) => None,
    }
}

/// Any other path: a short plain-text 404, so that a person with curl sees what happened.
async fn not_found() -> (StatusCode, &'static str) {
    (StatusCode::NOT_FOUND, "not found\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_is_a_capped_number_of_milliseconds() {
        assert_eq!(parse_delay_ms("0"), Some(0));
        assert_eq!(parse_delay_ms("250"), Some(250));
        assert_eq!(parse_delay_ms("10000"), Some(MAX_DELAY_MS));
        assert_eq!(parse_delay_ms("20000"), Some(MAX_DELAY_MS));
        assert_eq!(
            parse_delay_ms("99999999999999999999999"),
            Some(MAX_DELAY_MS)
        );
        for bad in ["", "abc", "-1", "+1", "1.5", "1e3", " 1", "0x10"] {
            assert_eq!(parse_delay_ms(bad), None, "{bad:?}");
        }
    }
}
