//! Running the router on a listener with bounded resources, and stopping it gracefully on a
//! signal.
//!
//! The server is an explicit accept loop around hyper's HTTP/1 connection builder rather than
//! `axum::serve`, because `axum::serve` offers no way to set the limits that keep the service
//! alive under abuse: a header read timeout, a cap on the request head, and a cap on concurrent
//! connections. Every limit is a field of [`Limits`], whose [`Default`] is what the binary uses;
//! the tests shorten the timeouts so that they run in about a second.
//!
//! Request bodies are never buffered: no route reads one, and a request that announces a body
//! is the last one of its connection (see [`crate::guard`]), so hyper answers it, discards
//! whatever part of the body is already in its (bounded) read buffer, and closes the connection
//! instead of reading the rest. A client that announces a huge `Content-Length` gets its answer
//! and a closed connection, and costs no more memory than any other client. A request that
//! carries both `Content-Length` and `Transfer-Encoding` is answered 400, and its connection
//! closed, whatever its method and path.
//!
//! The access log is written here, around the router, rather than as a router middleware: so
//! it covers the answers the server gives itself too, and costs no boxed future per request.
//!
//! The service runs as PID 1 in its container, where the kernel delivers no signal whose
//! action is the default; so the process must install its own SIGTERM and SIGINT handlers, or
//! `docker stop` would wait its full timeout and then kill it.

use std::future::Future;
use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::pin::pin;
use std::time::{Duration, Instant};

use axum::body::HttpBody as _;
use axum::http::{header, HeaderValue, Method, Request, StatusCode};
use axum::response::{IntoResponse as _, Response};
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpSocket};
use tokio::signal::unix::{signal, SignalKind};
use tokio::task::JoinSet;
use tower_service::Service as _;

use crate::guard::{Guarded, Verdict, MAX_SCANNED_HEADERS};
use crate::info::AppInfo;
use crate::log;

/// How long in-flight requests may take to finish once shutdown has begun.
///
/// Idle keep-alive connections are closed at once, so this bounds only stuck or very slow
/// requests; it is well below Docker's 10-second stop timeout, so the process still exits with
/// its own code rather than being killed.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a client may take to send a complete request head, counted from the moment the
/// server starts waiting for it.
///
/// Without it, a client that connects and stays silent, or sends half a header and stops (a
/// "slowloris"), would hold a connection slot and its buffers for ever. Hyper restarts this
/// clock whenever it waits for the next request on a keep-alive connection, so it is also the
/// idle timeout of keep-alive connections. Five seconds is generous for any real client, whose
/// request head arrives in one packet, and short enough that a few hundred silent connections
/// are gone before they could crowd out real ones.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The largest request head (request line and headers) the server reads, in bytes; it is also
/// the size of each connection's read buffer.
///
/// A larger head is answered with 431 and the connection closed, so a client can never make
/// the server buffer without limit. Real request heads are well under 2 KiB; 16 KiB leaves room
/// for long cookies and URLs. Hyper does not accept less than 8 KiB here.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// The most header fields a request may carry; a request with more is answered with 431 and
/// the connection closed.
///
/// Browsers send about twenty and curl three, so 64 leaves room for proxies. Hyper keeps up to
/// 100 parsed headers on the stack, so any value up to 100 costs no allocation per request.
pub const MAX_HEADERS: usize = 64;

/// How long a write to a client may wait without any progress before the connection is
/// dropped.
///
/// A write only waits once the client has left unread everything the kernel buffers for it on
/// both ends (hundreds of kilobytes at least, thousands of this service's answers), so a
/// client that reads at all never comes near it. Without it, a client that pipelines requests
/// and never reads the answers would hold its connection slot for ever: hyper has no write
/// timeout, and the header read timeout does not run while hyper waits to write. Ten seconds
/// is twice the header read timeout and outlasts the worst stall of a live but lossy link (TCP
/// retransmits after 1, 2 and 4 s: 7 s in all), and it still frees a stuck slot well within a
/// minute.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// The most connections served at once.
///
/// At the cap the server stops calling `accept` until a connection ends, so new connections
/// wait in the kernel's listen backlog (up to [`LISTEN_BACKLOG`] more; see [`bind`]) instead
/// of being refused or reset: under a burst a client then sees a slower answer rather than an
/// error, and the header read timeout guarantees that silent connections free their slots
/// within seconds. Together with [`MAX_HEAD_BYTES`] this bounds the server's memory to a few
/// tens of MiB even when every slot is taken. It stays just under the common default of 1024
/// open files per process; if that limit is lower, `accept` fails with "too many open files"
/// and the loop waits and retries, which leaves the extra connections in the backlog all the
/// same.
pub const MAX_CONNECTIONS: usize = 1000;

/// How many connections the kernel may hold ready for `accept` on a listener made by [`bind`].
///
/// Tokio's own `TcpListener::bind` asks for 128, like the standard library; a burst of more
/// new connections than that, while the server is at [`MAX_CONNECTIONS`] or busy, would make
/// the kernel drop handshakes and the clients retransmit after a second or more. 1024 absorbs
/// such bursts at a cost of kernel memory only; Linux cuts it to `net.core.somaxconn`.
pub const LISTEN_BACKLOG: u32 = 1024;

/// How long the accept loop pauses after an error that is not about one connection, such as
/// running out of file descriptors, before it tries again.
///
/// Retrying at once would spin at full CPU while the condition lasts; the pause lets running
/// connections finish and give their descriptors back.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// The resource limits of the server; [`Limits::default`] holds the documented constants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// See [`HEADER_READ_TIMEOUT`].
    pub header_read_timeout: Duration,
    /// See [`MAX_HEAD_BYTES`]; values below 8 KiB are raised to 8 KiB, hyper's minimum.
    pub max_head_bytes: usize,
    /// See [`MAX_HEADERS`]; values above 100 are lowered to 100, the most that hyper and the
    /// scan of request heads keep on the stack.
    pub max_headers: usize,
    /// See [`MAX_CONNECTIONS`]; 0 is taken as 1.
    pub max_connections: usize,
    /// See [`DRAIN_TIMEOUT`].
    pub drain_timeout: Duration,
    /// See [`WRITE_TIMEOUT`].
    pub write_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout: HEADER_READ_TIMEOUT,
            max_head_bytes: MAX_HEAD_BYTES,
            max_headers: MAX_HEADERS,
            max_connections: MAX_CONNECTIONS,
            drain_timeout: DRAIN_TIMEOUT,
            write_timeout: WRITE_TIMEOUT,
        }
    }
}

/// Hyper's smallest allowed read buffer; it panics on less, and with `panic = "abort"` that
/// would take the whole process down.
const MIN_HEAD_BYTES: usize = 8 * 1024;

/// How the server stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stopped {
    /// Every in-flight request finished before the drain timeout.
    Drained,
    /// Some connections were still busy when the drain timeout ran out, and were dropped.
    DrainTimedOut,
}

/// Binds a TCP listener on `addr` with a backlog of [`LISTEN_BACKLOG`].
///
/// `SO_REUSEADDR` is set, as Tokio's own `bind` does, so that a restarted server can bind the
/// port again while connections of the previous one linger in `TIME_WAIT`.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Serves the `webtest` routes for `info` on `listener` until `shutdown` completes, with the
/// default [`Limits`].
///
/// Once `shutdown` completes the listener is closed, idle connections are closed, and requests
/// in flight get up to [`DRAIN_TIMEOUT`] to finish.
pub async fn serve(
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    info: AppInfo,
) -> io::Result<Stopped> {
    serve_router_with(
        listener,
        crate::app::router(info),
        shutdown,
        Limits::default(),
    )
    .await
}

/// Serves any `router` on `listener` until `shutdown` completes, then drains for up to
/// `drain_timeout`; the other limits are the defaults.
pub async fn serve_router(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    drain_timeout: Duration,
) -> io::Result<Stopped> {
    let limits = Limits {
        drain_timeout,
        ..Limits::default()
    };
    serve_router_with(listener, router, shutdown, limits).await
}

/// Serves any `router` on `listener` with the given `limits` until `shutdown` completes.
///
/// When `shutdown` completes the listener is closed at once, so new connections are refused;
/// connections waiting for a request are closed, and those with a request in flight finish it
/// (with `Connection: close`) for up to `limits.drain_timeout`, after which they are dropped.
///
/// The peer address goes to the access log only: no route needs it, and axum's
/// `ConnectInfo` extension would cost two allocations per request.
pub async fn serve_router_with(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: Limits,
) -> io::Result<Stopped> {
    // The scan of request heads must use the same limits as hyper, so that both see the same
    // heads (see `crate::guard`).
    let max_head_bytes = limits.max_head_bytes.max(MIN_HEAD_BYTES);
    let max_headers = limits.max_headers.min(MAX_SCANNED_HEADERS);
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(max_head_bytes)
        .max_headers(max_headers)
        .keep_alive(true);
    let max_connections = limits.max_connections.max(1);

    // The graceful-shutdown helper tells every connection to finish its current request and
    // close; the join set owns the connection tasks, so that they can be counted against the
    // cap and dropped if the drain times out.
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    let mut shutdown = pin!(shutdown);

    loop {
        // Finished tasks stay in the set until they are collected, so collect them each time
        // round; otherwise the set would grow with every connection ever served.
        while connections.try_join_next().is_some() {}
        if connections.len() >= max_connections {
            // At the cap, wait for a connection to end rather than accept a new one: the new
            // ones wait in the kernel's backlog meanwhile.
            tokio::select! {
                () = &mut shutdown => break,
                _ = connections.join_next() => continue,
            }
        }
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                report_accept_error(&e);
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => continue,
                }
            }
        };
        // Responses are written whole, so Nagle's algorithm would only delay them, waiting for
        // the acknowledgement of the previous segment. A failure here costs only latency.
        let _ = stream.set_nodelay(true);

        let (stream, heads) =
            Guarded::new(stream, max_head_bytes, max_headers, limits.write_timeout);
        let router = router.clone();
        let service = service_fn(move |request: Request<Incoming>| {
            let verdict = heads.next_request();
            serve_request(router.clone(), request, peer, verdict)
        });
        let connection = http.serve_connection(TokioIo::new(stream), service);
        // A connection that fails (a parse error, a timeout, a reset) is simply closed; hyper
        // has already answered it with a 4xx where HTTP allows an answer.
        connections.spawn(graceful.watch(connection));
    }

    // Closing the listener makes the kernel refuse new connections from now on, and reset any
    // that were still waiting in its backlog, unseen by the server.
    drop(listener);
    let drained = tokio::time::timeout(limits.drain_timeout, graceful.shutdown())
        .await
        .is_ok();
    // After a timeout this aborts the connections still busy, closing their sockets; after a
    // full drain there is nothing left to abort.
    connections.shutdown().await;
    Ok(if drained {
        Stopped::Drained
    } else {
        Stopped::DrainTimedOut
    })
}

/// Answers one request through `router`, or refuses it as `verdict` says, and writes its
/// access-log line.
async fn serve_request(
    mut router: Router,
    request: Request<Incoming>,
    peer: SocketAddr,
    verdict: Verdict,
) -> Result<Response, std::convert::Infallible> {
    let started = Instant::now();
    // The request goes to the router, so what the log line needs is kept aside: cloning a
    // method and a URI copies no bytes, their text is shared.
    let method = request.method().clone();
    let uri = request.uri().clone();
    let version = request.version();

    let mut response = match verdict {
        Verdict::Refuse => (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "bad request: both Content-Length and Transfer-Encoding\n",
        )
            .into_response(),
        // A router is always ready, so it may be called without waiting for readiness.
        Verdict::Serve | Verdict::ServeLast => router.call(request).await?,
    };
    if verdict != Verdict::Serve {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }

    // Hyper sends no body in answer to HEAD, so the length logged is what goes on the wire.
    let body_len = if method == Method::HEAD {
        Some(0)
    } else {
        response.body().size_hint().exact()
    };
    log::access(&log::Access {
        peer: Some(peer),
        method: &method,
        target: uri
            .path_and_query()
            .map_or(uri.path(), |target| target.as_str()),
        version,
        status: response.status(),
        body_len,
        elapsed: started.elapsed(),
    });
    Ok(response)
}

/// Whether an `accept` error concerns only the one connection being accepted (which the peer
/// already gave up on), so that the next `accept` can follow at once.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

/// Writes an `accept` failure to stderr.
///
/// Errors of the write itself are ignored, for the same reason as in [`crate::log::line`]. The
/// pause after each failure limits this to a few lines a second.
fn report_accept_error(e: &io::Error) {
    let _ = writeln!(
        io::stderr().lock(),
        "{}: accept failed: {e}; retrying",
        crate::NAME
    );
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
