//! Each connection's byte stream, watched on the way in and bounded on the way out.
//!
//! **Heads.** Hyper accepts a request that carries both `Content-Length` and
//! `Transfer-Encoding`, and drops the `Content-Length` before the service sees the request, so
//! no route could tell. Such a request is the shape of request smuggling, which RFC 9112
//! (sections 6.1 and 6.3) lets a server refuse; so [`Guarded`] scans the request heads as hyper reads
//! them, with `httparse`, the parser hyper itself uses (same configuration, same header limit),
//! so that both see the same heads, and [`Heads`] tells the service, request by request, what
//! the scan found.
//!
//! The scan stops after the first head that announces a body (a `Transfer-Encoding`, or a
//! `Content-Length` other than 0). No route reads a body, so such a request is made the last
//! one of its connection (its answer says `Connection: close`), and the scanner never has to
//! follow a body to find where the next head begins. The same holds after a head the scanner
//! cannot parse or that outgrows hyper's buffer: hyper refuses those itself, and should it not,
//! the connection still ends after that request rather than going on unwatched.
//!
//! **Writes.** A client that sends requests but never reads the answers fills the socket
//! buffers, after which hyper waits to write for ever, holding a connection slot and its
//! buffers; hyper has no write timeout. So a write that makes no progress for the write
//! timeout ([`crate::server::WRITE_TIMEOUT`]) fails, and hyper drops the connection. Only
//! progress counts, not the time a whole answer takes, so a slow reader is never cut off.

use std::future::Future;
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// The most header fields the scanner can hold; hyper keeps up to 100 on the stack too, and
/// the server never asks hyper for more (see `serve_router_with`).
pub const MAX_SCANNED_HEADERS: usize = 100;

/// What the service should do with the request it is about to handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Serve it, and keep the connection for more.
    Serve,
    /// Serve it, and close the connection after the answer: the scan stops at this request.
    ServeLast,
    /// Answer 400 and close: its head carries both `Content-Length` and `Transfer-Encoding`.
    Refuse,
}

/// What the scanner of one connection found, shared with that connection's service.
///
/// Hyper hands the requests of a connection to the service one at a time and in order, each
/// only after its whole head went through the scanner, so the n-th request the service takes
/// is the n-th head the scanner saw. The scanner and the service run in the same task; the
/// atomics are only there because the connection's future must be `Send`.
#[derive(Debug)]
pub struct Heads {
    /// How many requests the service has taken.
    taken: AtomicU64,
    /// The 1-based index of the head that carried both framing headers, or 0.
    refused: AtomicU64,
    /// The index of the last head the scan vouches for; `u64::MAX` while the scan goes on.
    last: AtomicU64,
}

impl Default for Heads {
    fn default() -> Self {
        Heads {
            taken: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            last: AtomicU64::new(u64::MAX),
        }
    }
}

impl Heads {
    /// Takes the next request of the connection, and says what to do with it.
    pub fn next_request(&self) -> Verdict {
        let index = self.taken.fetch_add(1, Relaxed) + 1;
        if index == self.refused.load(Relaxed) {
            Verdict::Refuse
        } else if index >= self.last.load(Relaxed) {
            Verdict::ServeLast
        } else {
            Verdict::Serve
        }
    }
}

/// What the scan of one complete head found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Framing {
    content_length: bool,
    transfer_encoding: bool,
    body: bool,
}

/// The outcome of parsing the start of a byte stream as a request head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Parsed {
    /// A whole head of `len` bytes (leading empty lines included).
    Complete { len: usize, framing: Framing },
    /// The head has not fully arrived yet.
    Partial,
    /// Not a head hyper would accept.
    Invalid,
}

/// Parses a request head at the start of `bytes`, as hyper does, and notes its framing.
fn parse_head(bytes: &[u8], max_headers: usize) -> Parsed {
    let mut headers =
        [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_SCANNED_HEADERS];
    let mut request = httparse::Request::new(&mut []);
    let max_headers = max_headers.min(MAX_SCANNED_HEADERS);
    match request.parse_with_uninit_headers(bytes, &mut headers[..max_headers]) {
        Ok(httparse::Status::Complete(len)) => {
            let mut framing = Framing::default();
            for header in request.headers.iter() {
                if header.name.eq_ignore_ascii_case("transfer-encoding") {
                    framing.transfer_encoding = true;
                    framing.body = true;
                } else if header.name.eq_ignore_ascii_case("content-length") {
                    framing.content_length = true;
                    // Hyper takes only plain digits; anything else it refuses, and then the
                    // scan has stopped as well, since this counts as a body.
                    let zero = !header.value.is_empty() && header.value.iter().all(|&b| b == b'0');
                    framing.body |= !zero;
                }
            }
            Parsed::Complete { len, framing }
        }
        Ok(httparse::Status::Partial) => Parsed::Partial,
        Err(_) => Parsed::Invalid,
    }
}

/// The scanner of one connection's request heads.
#[derive(Debug)]
struct Scan {
    heads: Arc<Heads>,
    /// How many complete heads went by.
    seen: u64,
    /// The start of a head that spans reads; empty between heads. It never holds more than
    /// `max_head_bytes`, the size of hyper's own buffer for the same bytes.
    partial: Vec<u8>,
    /// Hyper's read buffer size: a head that does not fit is refused with 431.
    max_head_bytes: usize,
    max_headers: usize,
    stopped: bool,
}

impl Scan {
    /// Stops the scan after head number `last`, which is the connection's last request.
    fn stop(&mut self, last: u64) {
        self.heads.last.store(last, Relaxed);
        self.stopped = true;
        self.partial = Vec::new();
    }

    /// Takes bytes just read from the client, in order.
    fn feed(&mut self, mut data: &[u8]) {
        while !self.stopped && !data.is_empty() {
            // Most heads arrive whole in one read and are parsed where they lie; only a head
            // split across reads is gathered in `partial`, up to hyper's own limit.
            let (parsed, carried) = if self.partial.is_empty() {
                (parse_head(data, self.max_headers), 0)
            } else {
                let carried = self.partial.len();
                let room = self.max_head_bytes.saturating_sub(carried);
                self.partial
                    .extend_from_slice(&data[..data.len().min(room)]);
                (parse_head(&self.partial, self.max_headers), carried)
            };
            match parsed {
                Parsed::Complete { len, framing } => {
                    self.seen += 1;
                    self.partial.clear();
                    data = &data[len - carried..];
                    if framing.content_length && framing.transfer_encoding {
                        self.heads.refused.store(self.seen, Relaxed);
                    }
                    if framing.body {
                        self.stop(self.seen);
                    }
                }
                Parsed::Partial => {
                    if carried == 0 {
                        let take = data.len().min(self.max_head_bytes);
                        self.partial.extend_from_slice(&data[..take]);
                    }
                    if self.partial.len() >= self.max_head_bytes {
                        self.stop(self.seen + 1);
                    }
                    return;
                }
                Parsed::Invalid => self.stop(self.seen + 1),
            }
        }
    }
}

/// A connection's stream with its request heads scanned and its writes bounded in time.
#[derive(Debug)]
pub struct Guarded<S> {
    inner: S,
    scan: Scan,
    write_timeout: Duration,
    /// Running while a write waits without progress; gone once a write goes through.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<S> Guarded<S> {
    /// Wraps `inner`; the scan of its heads is reported to the returned [`Heads`].
    ///
    /// `max_head_bytes` and `max_headers` must be hyper's limits for this connection.
    pub fn new(
        inner: S,
        max_head_bytes: usize,
        max_headers: usize,
        write_timeout: Duration,
    ) -> (Self, Arc<Heads>) {
        let heads = Arc::new(Heads::default());
        let scan = Scan {
            heads: heads.clone(),
            seen: 0,
            partial: Vec::new(),
            max_head_bytes,
            max_headers,
            stopped: false,
        };
        let guarded = Guarded {
            inner,
            scan,
            write_timeout,
            stalled: None,
        };
        (guarded, heads)
    }

    /// Passes on the outcome of a write: progress resets the stall clock, and waiting too long
    /// without progress is an error.
    fn bound_write<T>(
        &mut self,
        cx: &mut Context<'_>,
        outcome: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if outcome.is_ready() {
            self.stalled = None;
            return outcome;
        }
        let timeout = self.write_timeout;
        let stalled = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        ready!(stalled.as_mut().poll(cx));
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the client read nothing for the write timeout",
        )))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        this.scan.feed(&buf.filled()[before..]);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let outcome = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.bound_write(cx, outcome)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let outcome = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.bound_write(cx, outcome)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let outcome = Pin::new(&mut this.inner).poll_flush(cx);
        this.bound_write(cx, outcome)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let outcome = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.bound_write(cx, outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan() -> Scan {
        Scan {
            heads: Arc::new(Heads::default()),
            seen: 0,
            partial: Vec::new(),
            max_head_bytes: 1024,
            max_headers: 64,
            stopped: false,
        }
    }

    fn verdicts(heads: &Heads, n: usize) -> Vec<Verdict> {
        (0..n).map(|_| heads.next_request()).collect()
    }

    const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n";
    const SMUGGLE: &[u8] =
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";

    #[test]
    fn pipelined_heads_are_counted_and_the_smuggling_one_is_refused() {
        let mut scan = scan();
        let stream = [GET, GET, SMUGGLE, GET].concat();
        scan.feed(&stream);
        let heads = scan.heads.clone();
        use Verdict::*;
        assert_eq!(verdicts(&heads, 3), [Serve, Serve, Refuse]);
    }

    #[test]
    fn heads_split_anywhere_across_reads_are_seen_the_same() {
        let stream = [GET, b"\r\n", GET, SMUGGLE].concat();
        for split in 0..=stream.len() {
            for second in split..=stream.len() {
                let mut scan = scan();
                scan.feed(&stream[..split]);
                scan.feed(&stream[split..second]);
                scan.feed(&stream[second..]);
                let heads = scan.heads.clone();
                use Verdict::*;
                assert_eq!(
                    verdicts(&heads, 3),
                    [Serve, Serve, Refuse],
                    "{split} {second}"
                );
            }
        }
    }

    #[test]
    fn the_scan_stops_at_a_body_or_at_what_it_cannot_parse() {
        use Verdict::*;
        let cases: [(&[u8], [Verdict; 2]); 6] = [
            (
                b"GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
                [Serve, Serve],
            ),
            (
                b"GET / HTTP/1.1\r\nContent-Length: 000\r\n\r\n",
                [Serve, Serve],
            ),
            (
                b"GET / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
                [ServeLast, ServeLast],
            ),
            (
                b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                [ServeLast, ServeLast],
            ),
            (
                b"GET / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nCONTENT-LENGTH: 0\r\n\r\n",
                [Refuse, ServeLast],
            ),
            (
                b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
                [ServeLast, ServeLast],
            ),
        ];
        for (first, expected) in cases {
            let mut scan = scan();
            scan.feed(&[first, GET].concat());
            let heads = scan.heads.clone();
            assert_eq!(
                verdicts(&heads, 2),
                expected,
                "{:?}",
                String::from_utf8_lossy(first)
            );
        }
    }

    #[test]
    fn a_head_beyond_the_limit_stops_the_scan_and_bounds_its_memory() {
        let mut scan = scan();
        scan.feed(b"GET / HTTP/1.1\r\nX-Long: ");
        for _ in 0..100 {
            scan.feed(&[b'a'; 100]);
        }
        assert!(scan.stopped);
        assert!(scan.partial.capacity() == 0);
        assert_eq!(scan.heads.next_request(), Verdict::ServeLast);
    }
}
