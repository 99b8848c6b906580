//! `webtest`: a small HTTP service that the multistage-build demo packs into container images.
//!
//! The binary serves four routes (`/`, `/healthz`, `/info`, and `/delay/{ms}` for testing
//! timeouts and graceful shutdown), writes one access-log line per request to stdout, bounds
//! what each client may cost (see [`Limits`]), stops gracefully on SIGTERM or SIGINT, and
//! doubles as its own health probe (`webtest healthcheck`) so that an image `FROM scratch` can
//! carry a `HEALTHCHECK`.
//!
//! The pieces are public so that the integration tests can start the real server on an
//! ephemeral port and talk real HTTP to it.

pub mod app;
pub mod cli;
pub mod guard;
pub mod healthcheck;
pub mod info;
pub mod log;
pub mod server;

pub use app::router;
pub use healthcheck::healthcheck;
pub use info::AppInfo;
pub use server::{
    serve, serve_router, serve_router_with, shutdown_signal, Limits, Stopped, DRAIN_TIMEOUT,
    WRITE_TIMEOUT,
};

/// The package name, reported by `/`, `/info` and `--version`.
pub const NAME: &str = env!("CARGO_PKG_NAME");

/// The package version, reported by `/`, `/info` and `--version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The port the service listens on when `PORT` is not set.
pub const DEFAULT_PORT: u16 = 8080;
