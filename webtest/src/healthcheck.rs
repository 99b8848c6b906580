//! `webtest healthcheck`: a probe of our own server, for Docker's `HEALTHCHECK`.
//!
//! An image `FROM scratch` has no curl or wget, so the binary probes itself. A real HTTP
//! client would add far more to the binary than this needs: it sends one fixed request to a
//! server we wrote and only reads the status line of the answer.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// The overall time limit of `webtest healthcheck`.
pub const TIMEOUT: Duration = Duration::from_secs(2);

/// Sends `GET /healthz` to `addr` and succeeds iff the answer's status is 200.
///
/// The whole exchange, connecting included, must finish within `timeout`.
pub fn healthcheck(addr: SocketAddr, timeout: Duration) -> io::Result<()> {
    let deadline = Instant::now() + timeout;
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;

    stream.set_write_timeout(Some(remaining(deadline)?))?;
    let request = format!(
        "GET /healthz HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: webtest-healthcheck\r\n\
         Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes())?;

    // Only the status line matters, so reading stops at the first line break; the rest of the
    // answer is left unread and the connection dropped.
    let mut head = Vec::with_capacity(64);
    let mut buf = [0u8; 256];
    while !head.contains(&b'\n') {
        if head.len() > 1024 {
            return Err(bad_status(&head));
        }
        stream.set_read_timeout(Some(remaining(deadline)?))?;
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let status_line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    if status_is_ok(status_line) {
        Ok(())
    } else {
        Err(bad_status(status_line))
    }
}

/// The time left until `deadline`, or a timeout error if there is none.
///
/// A zero duration cannot be used: the standard library rejects it as a socket timeout.
fn remaining(deadline: Instant) -> io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(io::Error::new(io::ErrorKind::TimedOut, "timed out"))
    } else {
        Ok(left)
    }
}

/// Whether `line` is the status line of an HTTP/1.x 200 response (`HTTP/1.1 200 OK\r`).
pub fn status_is_ok(line: &[u8]) -> bool {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    match line.strip_prefix(b"HTTP/1.") {
        Some([minor, rest @ ..]) if minor.is_ascii_digit() => {
            rest == b" 200" || rest.starts_with(b" 200 ")
        }
        _ => false,
    }
}

fn bad_status(line: &[u8]) -> io::Error {
    let shown: String = String::from_utf8_lossy(line).chars().take(80).collect();
    io::Error::other(format!("unexpected answer: {:?}", shown.trim_end()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http1_200_is_ok() {
        assert!(status_is_ok(b"HTTP/1.1 200 OK\r"));
        assert!(status_is_ok(b"HTTP/1.0 200 OK"));
        assert!(status_is_ok(b"HTTP/1.1 200\r"));
        assert!(!status_is_ok(b"HTTP/1.1 2000 OK\r"));
        assert!(!status_is_ok(b"HTTP/1.1 503 Service Unavailable\r"));
        assert!(!status_is_ok(b"HTTP/2 200\r"));
        assert!(!status_is_ok(b"HTTP/1.x 200 OK\r"));
        assert!(!status_is_ok(b""));
    }
}
