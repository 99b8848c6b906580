//! Abuses the real server over real TCP on a loopback port: oversized and malformed requests,
//! silent and half-open connections, huge bodies, requests shaped for smuggling, a client that
//! never reads, a full connection table, and a shutdown with slow requests in flight. After
//! each abuse the server must still answer `/healthz`.
//!
//! The tests shorten the header read timeout and the write timeout to one second through
//! [`Limits`], so they wait about a second rather than the production five and ten; every
//! other bound they check is generous (things happen "within 10 s"), so that a loaded machine
//! does not make them flaky.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use webtest::{AppInfo, Limits, Stopped};

use crate::common::Running;

/// The generous bound on anything the server is expected to do "soon".
const SOON: Duration = Duration::from_secs(10);

/// The header read timeout the tests run with.
const TEST_HEADER_TIMEOUT: Duration = Duration::from_secs(1);

/// The write timeout the test of a client that never reads runs with.
const TEST_WRITE_TIMEOUT: Duration = Duration::from_secs(1);

impl Running {
    /// Starts the product's router with `limits` on a fresh loopback port.
    async fn start(limits: Limits) -> Self {
        Self::spawn(|listener, stop| {
            webtest::serve_router_with(listener, webtest::router(test_info()), stop, limits)
        })
        .await
    }

    /// Starts the product's router with the default limits but a one-second header timeout.
    async fn with_short_header_timeout() -> Self {
        Self::start(Limits {
            header_read_timeout: TEST_HEADER_TIMEOUT,
            ..Limits::default()
        })
        .await
    }

    /// Waits for the server to stop.
    async fn stopped(self) -> Stopped {
        self.stopped_within(SOON).await
    }

    /// Asserts that the server still answers `GET /healthz` on a fresh connection.
    async fn assert_healthy(&self) {
        let response = exchange(
            self.addr,
            b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert!(
            response.bytes.starts_with(b"HTTP/1.1 200 OK\r\n"),
            "healthz after abuse: {}",
            response.text()
        );
    }
}

fn test_info() -> AppInfo {
    AppInfo {
        name: "webtest".into(),
        version: webtest::VERSION.into(),
        variant: None,
        revision: None,
        hostname: "testhost".into(),
    }
}

/// What came back on a connection until the server closed it.
struct Response {
    bytes: Vec<u8>,
}

impl Response {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes[..self.bytes.len().min(200)]).into_owned()
    }

    /// All of it as text, for the tests that look beyond the first response.
    fn full_text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    /// The status code of the first response, if any arrived.
    fn status(&self) -> Option<u16> {
        let rest = self.bytes.strip_prefix(b"HTTP/1.1 ")?;
        std::str::from_utf8(rest.get(..3)?).ok()?.parse().ok()
    }

    /// The status codes of all the responses, in order. The bodies of the routes these tests
    /// call never contain `HTTP/1.1 `, so each one starts a response.
    fn statuses(&self) -> Vec<u16> {
        let text = String::from_utf8_lossy(&self.bytes);
        text.match_indices("HTTP/1.1 ")
            .filter_map(|(at, line)| text.get(at + line.len()..at + line.len() + 3))
            .map(|code| code.parse().unwrap())
            .collect()
    }
}

/// Reads from `stream` until the server closes it, failing the test if that takes longer than
/// [`SOON`]. A reset counts as a close: the server may reset a connection whose request it did
/// not read to the end.
async fn read_until_closed(stream: &mut TcpStream) -> Response {
    read_until_closed_within(stream, SOON).await
}

/// Reads from `stream` until the server closes it, failing the test if that takes longer than
/// `bound`.
async fn read_until_closed_within(stream: &mut TcpStream, bound: Duration) -> Response {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    let result = tokio::time::timeout(bound, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) => return,
                Ok(n) => bytes.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return,
                Err(e) => panic!("read failed: {e}"),
            }
        }
    })
    .await;
    assert!(
        result.is_ok(),
        "the server did not close the connection within {bound:?}; got {:?}",
        String::from_utf8_lossy(&bytes)
    );
    Response { bytes }
}

/// Sends `request` on a fresh connection and returns everything the server sends back before
/// closing the connection. Write errors are ignored: the server may close the connection
/// before the garbage is fully sent.
async fn exchange(addr: SocketAddr, request: &[u8]) -> Response {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let _ = stream.write_all(request).await;
    read_until_closed(&mut stream).await
}

/// A small deterministic pseudo-random generator (xorshift64*), so that a failing input can be
/// reproduced.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[tokio::test]
async fn oversized_heads_get_431_and_the_server_survives() {
    let server = Running::with_short_header_timeout().await;

    let big_header = format!(
        "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
        "a".repeat(webtest::server::MAX_HEAD_BYTES + 1024)
    );
    let response = exchange(server.addr, big_header.as_bytes()).await;
    assert_eq!(response.status(), Some(431), "{}", response.text());

    let many_headers = format!(
        "GET /healthz HTTP/1.1\r\nHost: t\r\n{}\r\n",
        (0..webtest::server::MAX_HEADERS + 10)
            .map(|i| format!("X-H{i}: v\r\n"))
            .collect::<String>()
    );
    let response = exchange(server.addr, many_headers.as_bytes()).await;
    assert_eq!(response.status(), Some(431), "{}", response.text());

    let long_uri = format!(
        "GET /{} HTTP/1.1\r\nHost: t\r\n\r\n",
        "x".repeat(webtest::server::MAX_HEAD_BYTES + 1024)
    );
    let response = exchange(server.addr, long_uri.as_bytes()).await;
    let status = response.status();
    assert!(
        matches!(status, Some(400 | 414 | 431)),
        "{}",
        response.text()
    );

    // A head that never ends, streamed as fast as the server takes it: the server stops
    // reading at the cap and closes, instead of buffering it all.
    let mut endless = TcpStream::connect(server.addr).await.unwrap();
    endless
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Endless: ")
        .await
        .unwrap();
    let chunk = vec![b'a'; 64 * 1024];
    let mut sent = 0usize;
    while sent < 64 * 1024 * 1024 {
        match tokio::time::timeout(SOON, endless.write_all(&chunk)).await {
            Ok(Ok(())) => sent += chunk.len(),
            Ok(Err(_)) => break,
            Err(_) => panic!("the server neither read nor closed the connection"),
        }
    }
    assert!(
        sent < 64 * 1024 * 1024,
        "the server swallowed a 64 MiB head"
    );

    server.assert_healthy().await;
}

/// One malformed input, and whether the client hangs up right after sending it.
struct Garbage {
    bytes: Vec<u8>,
    early_close: bool,
}

fn garbage(bytes: impl Into<Vec<u8>>) -> Garbage {
    Garbage {
        bytes: bytes.into(),
        early_close: false,
    }
}

fn early_close(bytes: impl Into<Vec<u8>>) -> Garbage {
    Garbage {
        bytes: bytes.into(),
        early_close: true,
    }
}

/// Two hundred malformed inputs of every kind the stress benchmark sends.
fn garbage_inputs() -> Vec<Garbage> {
    let big = "b".repeat(webtest::server::MAX_HEAD_BYTES * 2);
    let many: String = (0..200).map(|i| format!("X-{i}: {i}\r\n")).collect();
    let mut inputs = vec![
        // Bad request lines.
        garbage("GET\r\n\r\n"),
        garbage("GET / HTTP/1.1 extra\r\nHost: t\r\n\r\n"),
        garbage("GET / HTTP/9.9\r\nHost: t\r\n\r\n"),
        garbage("GET / HTTX/1.1\r\nHost: t\r\n\r\n"),
        garbage(" / HTTP/1.1\r\nHost: t\r\n\r\n"),
        garbage("GET  / HTTP/1.1\r\nHost: t\r\n\r\n"),
        garbage("GET /\x00 HTTP/1.1\r\nHost: t\r\n\r\n"),
        garbage("GET /a b HTTP/1.1\r\nHost: t\r\n\r\n"),
        garbage("GET http://[::1 HTTP/1.1\r\nHost: t\r\n\r\n"),
        garbage("\r\nGET\r\n\r\n"),
        // Bad methods.
        garbage("G(T / HTTP/1.1\r\nHost: t\r\n\r\n"),
        garbage("\x7fGET / HTTP/1.1\r\nHost: t\r\n\r\n"),
        garbage("G\u{e4}T / HTTP/1.1\r\nHost: t\r\n\r\n"),
        garbage("FOO / HTTP/1.1\r\nHost: t\r\n\r\n"),
        garbage("CONNECT t:443 HTTP/1.1\r\nHost: t\r\n\r\n"),
        garbage("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
        garbage(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03".to_vec()),
        // Huge heads and too many headers.
        garbage(format!("GET / HTTP/1.1\r\nHost: t\r\nX-Big: {big}\r\n\r\n")),
        garbage(format!("GET /{big} HTTP/1.1\r\nHost: t\r\n\r\n")),
        garbage(format!("GET / HTTP/1.1\r\nHost: t\r\n{many}\r\n")),
        // Malformed header lines.
        garbage("GET / HTTP/1.1\r\nHost t\r\n\r\n"),
        garbage("GET / HTTP/1.1\r\nHost: t\r\n Folded: yes\r\n\r\n"),
        garbage("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n"),
        garbage("GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n"),
        garbage("GET / HTTP/1.1\r\n: empty\r\n\r\n"),
        // Bad Content-Length.
        garbage("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n"),
        garbage("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n"),
        garbage("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1, 2\r\n\r\nxx"),
        garbage("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx"),
        garbage("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999999999999999\r\n\r\n"),
        // Bad transfer codings: chunked must come last, and HTTP/1.0 has none.
        garbage("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\nxx"),
        garbage("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n"),
        garbage("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        // HTTP/0.9-style request lines.
        garbage("GET /\r\n"),
        garbage("GET /\r\n\r\n"),
        garbage("GET /\n\n"),
        garbage("GET\n"),
        // Lone line ends, which the server skips and then times out on.
        garbage("\r\n"),
        garbage("\r\n\r\n\r\n\r\n"),
        garbage("\n\n\n"),
        garbage("\r"),
        // Early closes: the client hangs up mid-request.
        early_close(""),
        early_close("G"),
        early_close("GET /heal"),
        early_close("GET /healthz HTTP/1.1\r\n"),
        early_close("GET /healthz HTTP/1.1\r\nHost: t\r\n"),
        early_close("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nabc"),
        early_close("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"),
    ];
    // Fill up to 200 with random bytes of random lengths, some of them ended like a head.
    let mut rng = Rng(0x5eed_cafe_f00d_0001);
    while inputs.len() < 200 {
        let len = 1 + rng.below(4096) as usize;
        let mut bytes = rng.bytes(len);
        match rng.below(4) {
            0 => bytes.extend_from_slice(b"\r\n\r\n"),
            1 => inputs.push(early_close(bytes.clone())),
            _ => {}
        }
        inputs.push(garbage(bytes));
    }
    inputs.truncate(200);
    inputs
}

#[tokio::test]
async fn garbage_gets_4xx_or_a_close_and_the_server_survives() {
    let server = Running::with_short_header_timeout().await;
    let inputs = garbage_inputs();
    assert_eq!(inputs.len(), 200);

    // All at once, as a burst; each connection must end within the bound.
    let mut clients = JoinSet::new();
    for (index, input) in inputs.into_iter().enumerate() {
        let addr = server.addr;
        clients.spawn(async move {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            let _ = stream.write_all(&input.bytes).await;
            if input.early_close {
                return;
            }
            let response = read_until_closed(&mut stream).await;
            if !response.bytes.is_empty() {
                let status = response.status();
                assert!(
                    matches!(status, Some(400..=499)),
                    "input #{index} {:?} got {}",
                    String::from_utf8_lossy(&input.bytes[..input.bytes.len().min(80)]),
                    response.text()
                );
            }
        });
    }
    while let Some(result) = clients.join_next().await {
        result.unwrap();
    }

    server.assert_healthy().await;
}

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_header_timeout() {
    let server = Running::with_short_header_timeout().await;
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    let start = std::time::Instant::now();
    let response = read_until_closed(&mut silent).await;
    assert!(response.bytes.is_empty(), "{}", response.text());
    // It is the timeout that closed it, not something else at once.
    assert!(start.elapsed() >= TEST_HEADER_TIMEOUT / 2);
    server.assert_healthy().await;
}

#[tokio::test]
async fn a_half_sent_head_is_closed_after_the_header_timeout() {
    let server = Running::with_short_header_timeout().await;
    let mut half = TcpStream::connect(server.addr).await.unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Partial: ab")
        .await
        .unwrap();
    let response = read_until_closed(&mut half).await;
    assert!(
        response.bytes.is_empty() || matches!(response.status(), Some(400..=499)),
        "{}",
        response.text()
    );
    server.assert_healthy().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let server = Running::with_short_header_timeout().await;
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    // The one response, then nothing until the server closes the idle connection.
    let response = read_until_closed(&mut idle).await;
    assert!(
        response.bytes.starts_with(b"HTTP/1.1 200 OK\r\n"),
        "{}",
        response.text()
    );
    assert!(
        response.bytes.ends_with(b"\r\n\r\nok"),
        "{}",
        response.text()
    );
}

#[tokio::test]
async fn a_huge_or_malformed_body_is_never_read() {
    let server = Running::with_short_header_timeout().await;

    // A terabyte announced, 256 KiB sent: the route answers without reading the body, and the
    // server closes the connection rather than reading the rest.
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000000000\r\n\r\n")
        .await
        .unwrap();
    let _ = stream.write_all(&vec![b'x'; 256 * 1024]).await;
    let response = read_until_closed(&mut stream).await;
    assert!(
        response.bytes.is_empty() || response.status() == Some(200),
        "{}",
        response.text()
    );

    // The same with a chunked body that is garbage.
    let response = exchange(
        server.addr,
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nnot a chunk\r\n",
    )
    .await;
    assert!(
        response.bytes.is_empty() || response.status() == Some(200),
        "{}",
        response.text()
    );

    // On a path that does not exist the answer is the 404, body or not.
    let response = exchange(
        server.addr,
        b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000000000\r\n\r\nabc",
    )
    .await;
    assert_eq!(response.status(), Some(404), "{}", response.text());

    server.assert_healthy().await;
}

#[tokio::test]
async fn at_the_connection_cap_new_connections_wait_in_the_backlog() {
    let server = Running::start(Limits {
        max_connections: 2,
        ..Limits::default()
    })
    .await;

    // Two silent connections take both slots; the header timeout (5 s by default) keeps them.
    let mut first = TcpStream::connect(server.addr).await.unwrap();
    let _second = TcpStream::connect(server.addr).await.unwrap();
    // Let the server accept both before the third arrives.
    tokio::time::sleep(Duration::from_millis(200)).await;

    // The third connects (the kernel completes the handshake) but is not served yet.
    let mut third = TcpStream::connect(server.addr).await.unwrap();
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 256];
    let early = tokio::time::timeout(Duration::from_millis(300), third.read(&mut buf)).await;
    assert!(early.is_err(), "served above the connection cap");

    // Once a slot frees up, the waiting connection is served.
    first.shutdown().await.unwrap();
    drop(first);
    let response = read_until_closed(&mut third).await;
    assert!(
        response.bytes.starts_with(b"HTTP/1.1 200 OK\r\n"),
        "{}",
        response.text()
    );
}

#[tokio::test]
async fn delay_answers_ok_and_rejects_non_numbers() {
    let server = Running::with_short_header_timeout().await;
    let response = exchange(
        server.addr,
        b"GET /delay/50 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        response.bytes.starts_with(b"HTTP/1.1 200 OK\r\n"),
        "{}",
        response.text()
    );
    assert!(
        response.bytes.ends_with(b"\r\n\r\nok"),
        "{}",
        response.text()
    );

    for bad in ["abc", "-5", "1.5", "%20"] {
        let request = format!("GET /delay/{bad} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        let response = exchange(server.addr, request.as_bytes()).await;
        assert_eq!(response.status(), Some(400), "{bad}: {}", response.text());
    }
    let response = exchange(
        server.addr,
        b"POST /delay/1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(response.status(), Some(405), "{}", response.text());
}

/// With the clock paused, Tokio jumps over sleeps whenever nothing else can run, so the test
/// sees exactly how long the server slept without waiting for it.
#[tokio::test(start_paused = true)]
async fn delay_is_capped_at_ten_seconds() {
    let server = Running::start(Limits::default()).await;
    let start = tokio::time::Instant::now();
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /delay/20000 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    // The bound is on the paused clock, and must lie beyond the 20 s asked for, so that an
    // uncapped delay fails the assertion below rather than this read.
    let response = read_until_closed_within(&mut stream, Duration::from_secs(60)).await;
    let slept = start.elapsed();
    assert!(
        response.bytes.starts_with(b"HTTP/1.1 200 OK\r\n"),
        "{}",
        response.text()
    );
    assert!(
        slept >= Duration::from_millis(webtest::app::MAX_DELAY_MS),
        "{slept:?}"
    );
    assert!(slept < Duration::from_secs(20), "not capped: {slept:?}");
}

#[tokio::test]
async fn delays_in_flight_at_shutdown_all_finish_while_new_connections_are_refused() {
    let mut server = Running::with_short_header_timeout().await;

    let mut requests = JoinSet::new();
    for _ in 0..20 {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream
            .write_all(b"GET /delay/1500 HTTP/1.1\r\nHost: t\r\n\r\n")
            .await
            .unwrap();
        requests.spawn(async move { read_until_closed(&mut stream).await });
    }
    // Give the server a moment to read the twenty requests, well inside their 1.5 s.
    tokio::time::sleep(Duration::from_millis(300)).await;

    server.begin_shutdown();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!server.task.is_finished(), "server stopped mid-request");
    let refused = TcpStream::connect(server.addr).await;
    assert!(
        refused.is_err(),
        "a new connection was accepted while draining"
    );

    while let Some(response) = requests.join_next().await {
        let response = response.unwrap();
        assert!(
            response.bytes.starts_with(b"HTTP/1.1 200 OK\r\n"),
            "{}",
            response.text()
        );
        assert!(
            response.bytes.ends_with(b"\r\n\r\nok"),
            "{}",
            response.text()
        );
        // The answer tells the client not to reuse the connection, which is closing.
        assert!(
            response.text().contains("connection: close\r\n"),
            "{}",
            response.text()
        );
    }
    assert_eq!(server.stopped().await, Stopped::Drained);
}

#[tokio::test]
async fn content_length_with_transfer_encoding_is_refused_with_400_and_a_close() {
    let server = Running::with_short_header_timeout().await;
    // Every kind of route: a page, HEAD, a path that does not exist, a method that is not
    // allowed, and a slow route; hyper would answer all of them 200, 404 or 405 otherwise.
    let lines = [
        "GET / HTTP/1.1",
        "HEAD / HTTP/1.1",
        "GET /nope HTTP/1.1",
        "POST /healthz HTTP/1.1",
        "DELETE / HTTP/1.1",
        "GET /delay/5000 HTTP/1.1",
    ];
    // Chunked or not, last or not, and either header first.
    let codings = ["chunked", "gzip", "gzip, chunked", "identity"];
    for line in lines {
        for coding in codings {
            for length_first in [true, false] {
                let length = "Content-Length: 5\r\n";
                let transfer = format!("Transfer-Encoding: {coding}\r\n");
                let (first, second) = if length_first {
                    (length, transfer.as_str())
                } else {
                    (transfer.as_str(), length)
                };
                let request = format!("{line}\r\nHost: t\r\n{first}{second}\r\n0\r\n\r\n");
                // `exchange` reads until the server closes the connection.
                let response = exchange(server.addr, request.as_bytes()).await;
                assert_eq!(
                    response.statuses(),
                    [400],
                    "{request:?}: {}",
                    response.full_text()
                );
                assert!(
                    response.full_text().contains("connection: close\r\n"),
                    "{request:?}: {}",
                    response.full_text()
                );
            }
        }
    }
    // HTTP/1.0 knows no transfer codings at all.
    let response = exchange(
        server.addr,
        b"GET / HTTP/1.0\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    )
    .await;
    assert!(
        response.bytes.starts_with(b"HTTP/1.0 400 ")
            || response.bytes.starts_with(b"HTTP/1.1 400 "),
        "{}",
        response.full_text()
    );
    server.assert_healthy().await;
}

#[tokio::test]
async fn a_smuggling_request_behind_pipelined_ones_is_refused_alone() {
    let server = Running::with_short_header_timeout().await;
    let get = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
    let smuggling =
        "GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n";
    // All in one write: the two before it are answered, it is refused, and what follows it is
    // never read.
    let stream = [get, get, smuggling, get].concat();
    let response = exchange(server.addr, stream.as_bytes()).await;
    assert_eq!(
        response.statuses(),
        [200, 200, 400],
        "{}",
        response.full_text()
    );
    assert!(
        response
            .full_text()
            .ends_with("bad request: both Content-Length and Transfer-Encoding\n"),
        "{}",
        response.full_text()
    );
    server.assert_healthy().await;
}

#[tokio::test]
async fn a_request_with_a_body_is_the_last_one_of_its_connection() {
    let server = Running::with_short_header_timeout().await;
    let get = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
    let last = "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";

    // No route reads a body, so the server answers and closes rather than look for the end of
    // the body; what follows it is never taken for a request.
    for with_body in [
        "GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello",
        "GET /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    ] {
        let stream = [get, with_body, get, last].concat();
        let response = exchange(server.addr, stream.as_bytes()).await;
        assert_eq!(response.statuses(), [200, 200], "{}", response.full_text());
        assert!(
            response.full_text().contains("connection: close\r\n"),
            "{}",
            response.full_text()
        );
    }

    // An empty body announced as such is no body: the connection goes on.
    let empty = "GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n";
    let stream = [empty, get, last].concat();
    let response = exchange(server.addr, stream.as_bytes()).await;
    assert_eq!(
        response.statuses(),
        [200, 200, 200],
        "{}",
        response.full_text()
    );
}

#[tokio::test]
async fn a_client_that_never_reads_is_dropped_after_the_write_timeout() {
    // The header read timeout is made long, so that only the write timeout can end the
    // connection within the test's bound.
    let server = Running::start(Limits {
        write_timeout: TEST_WRITE_TIMEOUT,
        header_read_timeout: Duration::from_secs(60),
        ..Limits::default()
    })
    .await;

    // Pipelined requests, sent as fast as the server takes them and never read: the answers
    // fill the socket buffers, then the server's writes stall, and so, soon, do the client's.
    let mut stuck = TcpStream::connect(server.addr).await.unwrap();
    let burst = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n".repeat(2048);
    let start = std::time::Instant::now();
    let writer = tokio::spawn(async move {
        let mut sent = 0usize;
        loop {
            match stuck.write_all(&burst).await {
                Ok(()) => sent += burst.len(),
                // The server dropped the connection with requests unread, so the kernel
                // resets it, and the client's next write fails.
                Err(e) => return (start.elapsed(), sent, e),
            }
        }
    });

    // Meanwhile other clients are served.
    tokio::time::sleep(TEST_WRITE_TIMEOUT / 2).await;
    server.assert_healthy().await;

    let (elapsed, sent, error) = tokio::time::timeout(SOON, writer)
        .await
        .expect("the server still holds a connection whose client never reads")
        .unwrap();
    assert!(
        matches!(
            error.kind(),
            ErrorKind::ConnectionReset | ErrorKind::BrokenPipe
        ),
        "{error:?}"
    );
    // The server waited for the timeout before it gave up, and the client had sent requests
    // enough to fill the buffers.
    assert!(elapsed >= TEST_WRITE_TIMEOUT, "closed after {elapsed:?}");
    assert!(sent > 64 * 1024, "only {sent} bytes sent");
    server.assert_healthy().await;
}
