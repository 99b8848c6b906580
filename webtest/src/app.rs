//! The HTTP routes of the service and the router that ties them to the access log.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{middleware, Router};

use crate::info::AppInfo;

/// The response bodies, rendered once at startup because they never change.
#[derive(Clone)]
struct Bodies {
    greeting: Bytes,
    info_json: Bytes,
}

/// Builds the service's router: `GET /`, `GET /healthz`, `GET /info`, with access logging.
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
        .fallback(not_found)
        .with_state(bodies)
        .layer(middleware::from_fn(crate::log::access_log))
}

/// `GET /`: a greeting naming the service, its version and the host it runs on.
async fn root(State(bodies): State<Bodies>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        bodies.greeting,
    )
}

/// `GET /healthz`: the liveness probe, used by `webtest healthcheck`.
async fn healthz() -> &'static str {
    "ok"
}

/// `GET /info`: the service's facts as JSON.
async fn info_route(State(bodies): State<Bodies>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        bodies.info_json,
    )
}

/// Any other path: a short plain-text 404, so that a person with curl sees what happened.
async fn not_found() -> (StatusCode, &'static str) {
    (StatusCode::NOT_FOUND, "not found\n")
}
