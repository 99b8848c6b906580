//! Drives the real server on an ephemeral loopback port with a real HTTP client: every route,
//! the error statuses, graceful shutdown, and the `healthcheck` probe.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::routing::get;
use axum::Router;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use webtest::{AppInfo, Stopped};

use crate::common::Running;

impl Running {
    /// Starts the product's router for `info` on a fresh loopback port.
    async fn product(info: AppInfo) -> Self {
        Self::spawn(|listener, stop| webtest::serve(listener, stop, info)).await
    }

    /// Starts any router, with the given drain timeout.
    async fn router(router: Router, drain: Duration) -> Self {
        Self::spawn(|listener, stop| webtest::serve_router(listener, router, stop, drain)).await
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Waits for the server to stop, failing the test if that takes more than a second.
    async fn stopped_within_a_second(self) -> Stopped {
        self.stopped_within(Duration::from_secs(1)).await
    }
}

fn test_info(variant: Option<&str>, revision: Option<&str>) -> AppInfo {
    AppInfo {
        name: "webtest".into(),
        version: webtest::VERSION.into(),
        variant: variant.map(Into::into),
        revision: revision.map(Into::into),
        hostname: "testhost".into(),
    }
}

fn client() -> Client<HttpConnector, Empty<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

/// Sends one request and returns its status, headers and body.
async fn send(
    client: &Client<HttpConnector, Empty<Bytes>>,
    method: Method,
    url: &str,
) -> (StatusCode, HeaderMap, String) {
    let request = Request::builder()
        .method(method)
        .uri(url)
        .body(Empty::new())
        .unwrap();
    let response = client.request(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8(body.to_vec()).unwrap())
}

async fn get_url(url: &str) -> (StatusCode, HeaderMap, String) {
    send(&client(), Method::GET, url).await
}

#[tokio::test]
async fn root_greets_with_name_version_and_host() {
    let server = Running::product(test_info(None, None)).await;
    let (status, headers, body) = get_url(&server.url("/")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert_eq!(
        body,
        format!("Hello from webtest {} on testhost\n", webtest::VERSION)
    );
}

#[tokio::test]
async fn healthz_says_ok() {
    let server = Running::product(test_info(None, None)).await;
    let (status, _, body) = get_url(&server.url("/healthz")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "ok");
}

#[tokio::test]
async fn info_reports_all_fields_as_json() {
    let server = Running::product(test_info(Some("alpine"), Some("abc123"))).await;
    let (status, headers, body) = get_url(&server.url("/info")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "name": "webtest",
            "version": webtest::VERSION,
            "variant": "alpine",
            "revision": "abc123",
            "hostname": "testhost",
        })
    );
    // The keys come in the documented order, which people reading `curl` output rely on.
    assert!(body.starts_with(r#"{"name":"webtest","version":"#));
}

#[tokio::test]
async fn info_reports_missing_variant_and_revision_as_null() {
    let server = Running::product(test_info(None, None)).await;
    let (_, _, body) = get_url(&server.url("/info")).await;
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(json["variant"].is_null());
    assert!(json["revision"].is_null());
    assert_eq!(json["hostname"], "testhost");
}

#[tokio::test]
async fn unknown_path_is_404() {
    let server = Running::product(test_info(None, None)).await;
    for path in ["/nope", "/healthz/extra", "/info.json"] {
        let (status, _, _) = get_url(&server.url(path)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn wrong_method_on_known_path_is_405_with_allow() {
    let server = Running::product(test_info(None, None)).await;
    let client = client();
    for path in ["/", "/healthz", "/info"] {
        for method in [Method::POST, Method::PUT, Method::DELETE] {
            let (status, headers, _) = send(&client, method.clone(), &server.url(path)).await;
            assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            assert_eq!(headers[header::ALLOW], "GET,HEAD", "{method} {path}");
        }
    }
}

#[tokio::test]
async fn head_answers_like_get_without_a_body() {
    let server = Running::product(test_info(None, None)).await;
    let client = client();
    let (_, _, get_body) = send(&client, Method::GET, &server.url("/")).await;
    let (status, headers, body) = send(&client, Method::HEAD, &server.url("/")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "");
    assert_eq!(
        headers[header::CONTENT_LENGTH],
        get_body.len().to_string().as_str()
    );
    let (status, _, _) = send(&client, Method::HEAD, &server.url("/nope")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn shutdown_closes_idle_connections_and_stops_accepting() {
    let mut server = Running::product(test_info(None, None)).await;
    let addr = server.addr;

    // A keep-alive connection that has finished a request must not hold up shutdown.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200 OK\r\n"));

    server.begin_shutdown();
    assert_eq!(server.stopped_within_a_second().await, Stopped::Drained);

    // The server closed the idle connection, and the port no longer accepts new ones.
    let n = tokio::time::timeout(Duration::from_secs(1), idle.read(&mut buf))
        .await
        .expect("idle connection was not closed")
        .unwrap_or(0);
    assert_eq!(n, 0);
    assert!(TcpStream::connect(addr).await.is_err());
}

/// A router with one route that waits until the test releases it, standing in for a slow
/// request; it lives only in this test, to check that the shared serving code drains.
fn router_with_gate(entered: Arc<Notify>, release: Arc<Notify>) -> Router {
    webtest::router(test_info(None, None)).route(
        "/gate",
        get(move || async move {
            entered.notify_one();
            release.notified().await;
            "released"
        }),
    )
}

#[tokio::test]
async fn shutdown_lets_an_in_flight_request_finish() {
    let entered = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let mut server = Running::router(
        router_with_gate(entered.clone(), release.clone()),
        Duration::from_secs(5),
    )
    .await;

    let url = server.url("/gate");
    let request = tokio::spawn(async move { get_url(&url).await });
    entered.notified().await;

    server.begin_shutdown();
    // The request is still running, so the server must still be draining.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!server.task.is_finished(), "server stopped mid-request");
    // But it no longer accepts new connections.
    assert!(TcpStream::connect(server.addr).await.is_err());

    release.notify_one();
    let (status, _, body) = request.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "released");
    assert_eq!(server.stopped_within_a_second().await, Stopped::Drained);
}

#[tokio::test]
async fn shutdown_gives_up_on_a_stuck_request_after_the_drain_timeout() {
    let entered = Arc::new(Notify::new());
    let never = Arc::new(Notify::new());
    let mut server = Running::router(
        router_with_gate(entered.clone(), never),
        Duration::from_millis(200),
    )
    .await;

    let url = server.url("/gate");
    let _request = tokio::spawn(async move { get_url(&url).await });
    entered.notified().await;

    server.begin_shutdown();
    assert_eq!(
        server.stopped_within_a_second().await,
        Stopped::DrainTimedOut
    );
}

#[tokio::test]
async fn healthcheck_succeeds_against_a_running_server() {
    let server = Running::product(test_info(None, None)).await;
    let addr = server.addr;
    let result = tokio::task::spawn_blocking(move || {
        webtest::healthcheck(addr, webtest::healthcheck::TIMEOUT)
    })
    .await
    .unwrap();
    result.unwrap();
}

#[tokio::test]
async fn healthcheck_fails_against_a_closed_port() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let error = webtest::healthcheck(addr, Duration::from_secs(2)).unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[tokio::test]
async fn healthcheck_fails_on_a_non_200_answer() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut conn, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 1024];
        let _ = conn.read(&mut buf).await;
        let _ = conn
            .write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n")
            .await;
    });
    let error =
        tokio::task::spawn_blocking(move || webtest::healthcheck(addr, Duration::from_secs(2)))
            .await
            .unwrap()
            .unwrap_err();
    assert!(error.to_string().contains("503"), "{error}");
}

#[tokio::test]
async fn healthcheck_times_out_on_a_silent_server() {
    // A listener that accepts (through the kernel's backlog) but never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let start = std::time::Instant::now();
    let error = webtest::healthcheck(addr, Duration::from_millis(300)).unwrap_err();
    let elapsed = start.elapsed();
    assert!(
        matches!(
            error.kind(),
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
        ),
        "{error:?}"
    );
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");
    drop(listener);
}
