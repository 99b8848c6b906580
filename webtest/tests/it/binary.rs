//! Runs the built `webtest` binary itself, as Docker would: startup line, signals, exit codes,
//! and the `healthcheck` mode.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_webtest");

/// A port that was free a moment ago; the small race with other processes is acceptable here.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The binary serving on `port`, with its stdout lines arriving on a channel.
struct Server {
    child: Child,
    lines: mpsc::Receiver<String>,
    port: u16,
}

impl Server {
    /// Starts the binary and waits for its startup line.
    fn start() -> Self {
        let port = free_port();
        let mut child = Command::new(BIN)
            .env("PORT", port.to_string())
            .env("WEBTEST_VARIANT", "binary-test")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        // Stdout is a pipe here, as in a container: lines only arrive if the server flushes.
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let server = Server { child, lines, port };
        let first = server.next_line();
        assert_eq!(
            first,
            format!(
                "webtest {} listening on 0.0.0.0:{port}",
                env!("CARGO_PKG_VERSION")
            )
        );
        server
    }

    fn next_line(&self) -> String {
        self.lines
            .recv_timeout(Duration::from_secs(5))
            .expect("no line on stdout within 5 s")
    }

    /// Sends `signal` and returns the exit status and how long the exit took.
    fn signal_and_wait(mut self, signal: libc::c_int) -> (ExitStatus, Duration, Vec<String>) {
        let pid = self.child.id() as libc::pid_t;
        let start = Instant::now();
        // SAFETY: kill() has no memory-safety preconditions; the pid is our own child's.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // The reader thread ends at the end of the pipe, which the exit closes, so this
                // gets every line the process wrote.
                let rest = self.lines.iter().collect();
                return (status, start.elapsed(), rest);
            }
            if start.elapsed() > Duration::from_secs(5) {
                let _ = self.child.kill();
                panic!("server did not exit within 5 s of the signal");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// A minimal GET over a fresh connection, returning the whole raw response.
fn raw_get(port: u16, path: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

fn exits_gracefully_on(signal: libc::c_int, name: &str) {
    let server = Server::start();
    let response = raw_get(server.port, "/healthz");
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.ends_with("\r\n\r\nok"), "{response}");

    // The access-log line arrives on its own, within the log's short flush delay, even though
    // stdout is a pipe and nothing else is logged after it.
    let log = server.next_line();
    assert!(log.starts_with("127.0.0.1:"), "{log}");
    assert!(log.contains("\"GET /healthz HTTP/1.1\" 200 2 "), "{log}");
    assert!(log.ends_with("ms"), "{log}");

    // A keep-alive connection left open must not delay the exit.
    let mut idle = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    write!(idle, "GET / HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
    let _ = idle.read(&mut [0u8; 256]).unwrap();
    let _ = server.next_line();

    let (status, elapsed, rest) = server.signal_and_wait(signal);
    assert_eq!(status.code(), Some(0), "{status}");
    assert!(elapsed < Duration::from_secs(1), "exit took {elapsed:?}");
    assert!(
        rest.iter()
            .any(|l| l == &format!("webtest: {name} received, shutting down")),
        "{rest:?}"
    );
}

#[test]
fn binary_exits_0_promptly_on_sigterm() {
    exits_gracefully_on(libc::SIGTERM, "SIGTERM");
}

#[test]
fn binary_exits_0_promptly_on_sigint() {
    exits_gracefully_on(libc::SIGINT, "SIGINT");
}

#[test]
fn binary_writes_every_access_line_before_it_exits() {
    let server = Server::start();
    // Answered just before the signal, so their lines are likely still in the log's buffer
    // when it arrives.
    let requests = 50;
    for _ in 0..requests {
        let response = raw_get(server.port, "/healthz");
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    }
    let (status, _, rest) = server.signal_and_wait(libc::SIGTERM);
    assert_eq!(status.code(), Some(0), "{status}");

    // Every line is there, and in order: the requests before the shutdown, the stop last.
    let access = |line: &String| line.contains("\"GET /healthz HTTP/1.1\" 200 2 ");
    let shutting_down = rest
        .iter()
        .position(|l| l == "webtest: SIGTERM received, shutting down")
        .unwrap_or_else(|| panic!("{rest:?}"));
    assert_eq!(
        rest[..shutting_down].iter().filter(|l| access(l)).count(),
        requests,
        "{rest:?}"
    );
    assert!(!rest[shutting_down..].iter().any(access), "{rest:?}");
    assert_eq!(rest.last().map(String::as_str), Some("webtest: stopped"));
}

#[test]
fn bad_port_exits_2_naming_port() {
    for bad in ["http", "0", "70000", ""] {
        let output = Command::new(BIN).env("PORT", bad).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "PORT={bad:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("PORT"), "PORT={bad:?}: {stderr}");
        assert!(
            stderr.contains(&format!("{bad:?}")),
            "PORT={bad:?}: {stderr}"
        );
    }
}

#[test]
fn healthcheck_mode_exit_codes() {
    let server = Server::start();
    let port = server.port.to_string();

    let ok = Command::new(BIN)
        .args(["healthcheck", "--port", &port])
        .output()
        .unwrap();
    assert_eq!(ok.status.code(), Some(0), "{ok:?}");

    // Without --port, the probe reads PORT like the server does.
    let ok = Command::new(BIN)
        .arg("healthcheck")
        .env("PORT", &port)
        .output()
        .unwrap();
    assert_eq!(ok.status.code(), Some(0), "{ok:?}");

    let (status, _, _) = server.signal_and_wait(libc::SIGTERM);
    assert_eq!(status.code(), Some(0));

    let down = Command::new(BIN)
        .args(["healthcheck", "--port", &port])
        .output()
        .unwrap();
    assert_eq!(down.status.code(), Some(1), "{down:?}");
    assert!(!down.stderr.is_empty());
}

#[test]
fn version_and_help() {
    let version = Command::new(BIN).arg("--version").output().unwrap();
    assert!(version.status.success());
    assert_eq!(
        String::from_utf8_lossy(&version.stdout),
        format!("webtest {}\n", env!("CARGO_PKG_VERSION"))
    );

    let help = Command::new(BIN).arg("--help").output().unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("healthcheck"));

    let bad = Command::new(BIN).arg("--bogus").output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
}
