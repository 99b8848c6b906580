//! Writing log lines to stdout: the startup line, the shutdown lines and the access log.
//!
//! Access-log lines are gathered in one process-wide buffer and written in batches: a `write`
//! per request was a third of the system calls the server made, and in a container each one
//! also wakes the log reader on the other end of the pipe. The
//! buffer is written out [`FLUSH_DELAY`] after its first line arrives, or at once when it
//! holds [`FLUSH_BYTES`], and before any other line (see [`line`]), so lines keep their order.
//! The server flushes it when it stops (see [`flush`]), so a graceful stop on SIGTERM or SIGINT
//! loses no line. Every write hands whole lines to the kernel under one lock, so lines never
//! interleave.
//!
//! Errors of the writes are ignored on purpose: `println!` panics when stdout is closed, and
//! with `panic = "abort"` that would kill the server because nobody reads its log any more.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use axum::http::{Method, StatusCode, Version};

/// How long an access-log line may wait in the buffer before it is written out.
///
/// A tenth of a second is below what a person watching `docker logs -f` notices, while at a
/// few hundred requests a second it already folds dozens of lines into one write. Under heavy
/// load the buffer fills up to [`FLUSH_BYTES`] well before this, so the delay never bounds
/// throughput.
pub const FLUSH_DELAY: Duration = Duration::from_millis(100);

/// How many buffered bytes make the buffer be written out at once, without waiting.
///
/// This bounds the buffer's memory. It is half of a Linux pipe's default capacity (64 KiB),
/// so that one write fits whole into the pipe that a container's stdout is, even when the log
/// reader lags a little behind.
pub const FLUSH_BYTES: usize = 32 * 1024;

/// The buffered lines, and whether a delayed flush is already on its way.
struct Pending {
    bytes: Vec<u8>,
    flush_scheduled: bool,
}

/// The one buffer of the process: stdout is one stream, so its lines have one order.
static PENDING: Mutex<Pending> = Mutex::new(Pending {
    bytes: Vec::new(),
    flush_scheduled: false,
});

/// Locks the buffer. A panic while it was held (there is none in this module) would leave
/// whole lines in it at worst, so a poisoned lock is used as it is.
fn pending() -> std::sync::MutexGuard<'static, Pending> {
    PENDING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Writes whatever `pending` holds to stdout, and empties it.
fn write_out(pending: &mut Pending) {
    if pending.bytes.is_empty() {
        return;
    }
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(&pending.bytes).and_then(|()| out.flush());
    pending.bytes.clear();
}

/// Writes one line to stdout at once, after the access-log lines still buffered.
///
/// For the lines that matter on their own (startup, shutdown, `--version`), which must never
/// wait behind a timer.
pub fn line(text: &str) {
    let mut pending = pending();
    pending.bytes.extend_from_slice(text.as_bytes());
    pending.bytes.push(b'\n');
    write_out(&mut pending);
}

/// Writes out the buffered access-log lines now.
///
/// The server calls it when it stops, so that no line is lost when the process exits.
pub fn flush() {
    write_out(&mut pending());
}

/// What one access-log line says about one request.
#[derive(Clone, Copy, Debug)]
pub struct Access<'a> {
    /// The client's address, if known.
    pub peer: Option<SocketAddr>,
    pub method: &'a Method,
    /// The request target as sent: path and query.
    pub target: &'a str,
    pub version: Version,
    pub status: StatusCode,
    /// The length of the response body, if known before it is sent.
    pub body_len: Option<u64>,
    /// How long the request took, from its arrival to its response head.
    pub elapsed: Duration,
}

/// Buffers one access-log line, to be written out within [`FLUSH_DELAY`].
pub fn access(entry: &Access<'_>) {
    let schedule = {
        let mut pending = pending();
        format_access(&mut pending.bytes, entry);
        if pending.bytes.len() >= FLUSH_BYTES {
            write_out(&mut pending);
            false
        } else {
            !std::mem::replace(&mut pending.flush_scheduled, true)
        }
    };
    // Spawned with the lock released: a runtime that is shutting down drops the task at once,
    // and the flush in its drop takes the lock.
    if schedule {
        let flush = ScheduledFlush;
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    let _flush = flush;
                    tokio::time::sleep(FLUSH_DELAY).await;
                });
            }
            // Outside a runtime nothing could wait, so the line goes out at once.
            Err(_) => drop(flush),
        }
    }
}

/// The delayed flush: it writes the buffer out when it is dropped, which is when its task
/// has slept [`FLUSH_DELAY`], but also when the runtime drops the task unfinished because it
/// shuts down, so no line is left behind in either case.
struct ScheduledFlush;

impl Drop for ScheduledFlush {
    fn drop(&mut self) {
        let mut pending = pending();
        pending.flush_scheduled = false;
        write_out(&mut pending);
    }
}

/// Appends one access-log line to `out`, e.g.
/// `127.0.0.1:53422 "GET /healthz HTTP/1.1" 200 2 0.120ms`.
///
/// The peer is `-` when unknown, and so is the body length when the body is streamed. The
/// line is assembled from pieces rather than with `write!`, and the time from whole
/// microseconds rather than from a float, because formatting was a visible part of the cost of
/// a request.
pub fn format_access(out: &mut Vec<u8>, entry: &Access<'_>) {
    let mut numbers = itoa::Buffer::new();
    match entry.peer {
        Some(SocketAddr::V4(peer)) => {
            let [a, b, c, d] = peer.ip().octets();
            for (i, octet) in [a, b, c, d].into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                out.extend_from_slice(numbers.format(octet).as_bytes());
            }
            out.push(b':');
            out.extend_from_slice(numbers.format(peer.port()).as_bytes());
        }
        Some(peer) => {
            let _ = write!(out, "{peer}");
        }
        None => out.push(b'-'),
    }
    out.extend_from_slice(b" \"");
    out.extend_from_slice(entry.method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(entry.target.as_bytes());
    out.push(b' ');
    out.extend_from_slice(version_name(entry.version).as_bytes());
    out.extend_from_slice(b"\" ");
    out.extend_from_slice(entry.status.as_str().as_bytes());
    out.push(b' ');
    match entry.body_len {
        Some(len) => out.extend_from_slice(numbers.format(len).as_bytes()),
        None => out.push(b'-'),
    }
    out.push(b' ');
    // Milliseconds with three decimals, rounded to the nearest microsecond.
    let micros = (entry.elapsed.as_nanos() + 500) / 1000;
    out.extend_from_slice(numbers.format(micros / 1000).as_bytes());
    out.push(b'.');
    let fraction = (micros % 1000) as u16;
    out.extend_from_slice(&[
        b'0' + (fraction / 100) as u8,
        b'0' + (fraction / 10 % 10) as u8,
        b'0' + (fraction % 10) as u8,
    ]);
    out.extend_from_slice(b"ms\n");
}

/// The protocol name as it appears in a request line, e.g. `HTTP/1.1`.
fn version_name(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_11 => "HTTP/1.1",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/?",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn formatted(entry: &Access<'_>) -> String {
        let mut out = Vec::new();
        format_access(&mut out, entry);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn access_line_has_the_documented_shape() {
        let line = formatted(&Access {
            peer: Some("127.0.0.1:53422".parse().unwrap()),
            method: &Method::GET,
            target: "/healthz",
            version: Version::HTTP_11,
            status: StatusCode::OK,
            body_len: Some(2),
            elapsed: Duration::from_micros(120),
        });
        assert_eq!(
            line,
            "127.0.0.1:53422 \"GET /healthz HTTP/1.1\" 200 2 0.120ms\n"
        );

        let line = formatted(&Access {
            peer: None,
            method: &Method::POST,
            target: "/x?y=1",
            version: Version::HTTP_10,
            status: StatusCode::NOT_FOUND,
            body_len: None,
            elapsed: Duration::from_millis(3),
        });
        assert_eq!(line, "- \"POST /x?y=1 HTTP/1.0\" 404 - 3.000ms\n");

        let line = formatted(&Access {
            peer: Some("[::1]:8080".parse().unwrap()),
            method: &Method::HEAD,
            target: "/",
            version: Version::HTTP_11,
            status: StatusCode::BAD_REQUEST,
            body_len: Some(0),
            elapsed: Duration::from_nanos(12_345_678_500),
        });
        assert_eq!(line, "[::1]:8080 \"HEAD / HTTP/1.1\" 400 0 12345.679ms\n");
    }

    #[test]
    fn the_time_matches_the_old_float_formatting() {
        // The line used to print `elapsed.as_secs_f64() * 1000.0` with `{:.3}`; whole
        // microseconds must give the same text.
        for micros in [
            0u64, 1, 9, 10, 99, 100, 999, 1000, 1001, 123_456, 10_000_000,
        ] {
            let elapsed = Duration::from_micros(micros);
            let line = formatted(&Access {
                peer: None,
                method: &Method::GET,
                target: "/",
                version: Version::HTTP_11,
                status: StatusCode::OK,
                body_len: None,
                elapsed,
            });
            let old = format!("{:.3}ms\n", elapsed.as_secs_f64() * 1000.0);
            assert!(line.ends_with(&format!(" {old}")), "{line:?} vs {old:?}");
        }
    }
}
