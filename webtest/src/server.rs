//! Running the router on a listener, and stopping it gracefully on a signal.
//!
//! The service runs as PID 1 in its container, where the kernel delivers no signal whose
//! action is the default; so the process must install its own SIGTERM and SIGINT handlers, or
//! `docker stop` would wait its full timeout and then kill it.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::oneshot;

use crate::info::AppInfo;

/// How long in-flight requests may take to finish once shutdown has begun.
///
/// Idle keep-alive connections are closed at once, so this bounds only stuck or very slow
/// requests; it is well below Docker's 10-second stop timeout, so the process still exits with
/// its own code rather than being killed.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// How the server stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stopped {
    /// Every in-flight request finished before the drain timeout.
    Drained,
    /// Some connections were still busy when the drain timeout ran out, and were dropped.
    DrainTimedOut,
}

/// Serves the `webtest` routes for `info` on `listener` until `shutdown` completes.
///
/// Once `shutdown` completes the listener is closed, idle connections are closed, and requests
/// in flight get up to [`DRAIN_TIMEOUT`] to finish.
pub async fn serve(
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    info: AppInfo,
) -> io::Result<Stopped> {
    serve_router(listener, crate::app::router(info), shutdown, DRAIN_TIMEOUT).await
}

/// Serves any `router` on `listener` until `shutdown` completes, then drains for up to
/// `drain_timeout`.
///
/// The peer address of every connection is available to handlers and middleware as
/// `ConnectInfo<SocketAddr>`.
pub async fn serve_router(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    drain_timeout: Duration,
) -> io::Result<Stopped> {
    // Axum's graceful shutdown waits for every connection without limit, so the shutdown
    // future is relayed through a channel that also starts the drain clock.
    let (begin_tx, begin_rx) = oneshot::channel::<()>();
    let server = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        // A dropped sender also means "stop": nobody is left to say otherwise.
        let _ = begin_rx.await;
    });
    let drain_clock = async move {
        shutdown.await;
        let _ = begin_tx.send(());
        tokio::time::sleep(drain_timeout).await;
    };

    tokio::select! {
        result = server => result.map(|()| Stopped::Drained),
        () = drain_clock => Ok(Stopped::DrainTimedOut),
    }
}

/// Installs SIGTERM and SIGINT handlers, and returns a future that completes with the name of
/// the first of the two signals that arrives.
///
/// The handlers are installed before this returns, not on the first poll, so a signal sent
/// right after startup is not lost. Must be called from within a Tokio runtime.
pub fn shutdown_signal() -> io::Result<impl Future<Output = &'static str> + Send + 'static> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        }
    })
}
