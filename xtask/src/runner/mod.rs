//! The one way to run a variant's container as a service: published on a host port, hardened or
//! not, started and waited on until `GET /healthz` answers 200, with its logs at hand when it
//! never does. `compare` and `stress` both start their containers here, talk to them with the
//! client made here, and sum up latencies with [`stats`].

pub mod stats;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::engine::{Engine, Publish, RunSpec, Security};
use crate::labels;

pub use stats::{median, percentile};

/// The grace period `docker stop` gives before SIGKILL, as the CLI's default.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// How many of the last lines of a container's logs a [`NotReady`] keeps.
const LOG_LINES: usize = 30;

/// How a long measurement tells people how far it got, without knowing how they are shown:
/// the command layer puts `report::progress` behind it. Each piece of work begins, then ends
/// once, done or failed, before the next begins.
pub trait Watch: Sync {
    fn begin(&self, what: &str);
    fn done(&self, what: &str);
    fn failed(&self, what: &str);
}

/// The HTTP client that talks to the containers: straight to them, never through a proxy the
/// environment names, and giving up on a request after `timeout`. Each client keeps its own
/// pool of keep-alive connections.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(timeout)
        .build()
        .context("make an HTTP client")
}

/// The host port to publish on: `wanted`, checked to be free now rather than after minutes of
/// building, or any free port when `wanted` is 0. Nothing is held: the engine binds it later.
pub fn host_port(host_ip: IpAddr, wanted: u16) -> Result<u16> {
    match std::net::TcpListener::bind((host_ip, wanted)) {
        Ok(listener) => Ok(listener.local_addr()?.port()),
        Err(err) if err.kind() == std::io::ErrorKind::AddrInUse => {
            Err(crate::engine::port_taken(host_ip, wanted).into())
        }
        Err(err) => {
            Err(err).with_context(|| format!("check that port {wanted} on {host_ip} is free"))
        }
    }
}

/// `--probe-host`: an address, or a name resolved once, when the command line is read.
pub fn probe_host_arg(text: &str) -> Result<IpAddr, String> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(ip);
    }
    use std::net::ToSocketAddrs;
    (text, 0)
        .to_socket_addrs()
        .map_err(|err| format!("cannot resolve {text}: {err}"))?
        .next()
        .map(|addr| addr.ip())
        .ok_or_else(|| format!("{text} has no address"))
}

/// A variant's container as the runner starts it.
#[derive(Debug, Clone, Copy)]
pub struct Service<'a> {
    /// `repository:variant`.
    pub image: &'a str,
    pub publish: Publish,
    pub security: Security,
    /// The manifest's `tmpfs` of the variant: absolute paths, each mounted as a tmpfs of its
    /// own, where a hardened container may still write.
    pub tmpfs: &'a [String],
    /// How long it may take until `GET /healthz` answers 200.
    pub ready_timeout: Duration,
    /// Where the published port is reached: the engine's host (127.0.0.1 for a local engine),
    /// or `--probe-host`.
    pub probe_host: IpAddr,
}

impl Service<'_> {
    /// Where its HTTP service answers: the published port on the probe host, which is this
    /// machine's loopback unless the engine runs elsewhere.
    pub fn base(&self) -> String {
        format!(
            "http://{}",
            std::net::SocketAddr::new(self.probe_host, self.publish.host_port)
        )
    }
}

/// A container that answers: its ID, and how long it took from the request to create it until
/// `GET /healthz` answered 200.
#[derive(Debug, Clone)]
pub struct Started {
    pub id: String,
    pub ready: Duration,
}

/// Starts a container of `service` and waits until it is ready. When it never is, its logs are
/// read, it is removed (the caller has no ID to remove it by), and the error is [`NotReady`].
/// A container that is ready is the caller's to stop and remove.
pub async fn start(
    engine: &Engine,
    client: &reqwest::Client,
    service: &Service<'_>,
) -> Result<Started> {
    let labels = labels::container();
    let spec = RunSpec {
        image: service.image,
        publish: Some(service.publish),
        entrypoint: None,
        cmd: None,
        labels: &labels,
        security: service.security,
        tmpfs: service.tmpfs,
    };
    let started = Instant::now();
    let id = engine.start(&spec).await?;
    if let Err(err) = wait_ready(engine, &id, client, &service.base(), service.ready_timeout).await
    {
        let logs = engine.logs(&id).await.unwrap_or_default();
        // A removal that fails leaves the container tracked, and `Engine::guarded` removes it
        // at the end of the run: the reason it never got ready is what matters here.
        let _ = engine.remove(&id).await;
        return Err(NotReady {
            problem: format!("{err:#}"),
            logs: last_lines(&logs, LOG_LINES),
        }
        .into());
    }
    Ok(Started {
        id,
        ready: started.elapsed(),
    })
}

/// A container that did not become ready, with the end of what it printed: its logs say why.
#[derive(Debug)]
pub struct NotReady {
    pub problem: String,
    pub logs: String,
}

impl std::fmt::Display for NotReady {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.problem)?;
        if let Some(last) = self.logs.lines().rev().find(|l| !l.trim().is_empty()) {
            write!(f, "; its last log line: {}", last.trim())?;
        }
        Ok(())
    }
}

impl std::error::Error for NotReady {}

/// Waits until `GET /healthz` answers 200. An open port alone proves nothing: docker-proxy
/// accepts connections before the service listens. A container that exits is reported at once,
/// not after the whole timeout.
async fn wait_ready(
    engine: &Engine,
    id: &str,
    client: &reqwest::Client,
    base: &str,
    timeout: Duration,
) -> Result<()> {
    let started = Instant::now();
    let deadline = started + timeout;
    let url = format!("{base}/healthz");
    let mut last = String::from("no answer yet");
    let mut checked = Instant::now();
    while Instant::now() < deadline {
        match client
            .get(&url)
            .timeout(Duration::from_millis(500))
            .send()
            .await
        {
            Ok(response) if response.status() == reqwest::StatusCode::OK => return Ok(()),
            Ok(response) => last = format!("status {}", response.status().as_u16()),
            Err(err) => last = format!("{err}"),
        }
        if checked.elapsed() >= Duration::from_millis(100) {
            checked = Instant::now();
            let facts = engine.container(id).await?;
            if let Some(code) = facts.exit_code {
                bail!(
                    "the container exited with code {code}{} {} ms after it started, before GET {url} answered 200",
                    if facts.oom_killed { " (killed: out of memory)" } else { "" },
                    started.elapsed().as_millis()
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    bail!(
        "GET {url} did not answer 200 within {} s (last: {last})",
        timeout.as_secs()
    )
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_last_lines_of_logs_are_kept() {
        assert_eq!(last_lines("a\nb\nc\n", 2), "b\nc");
        assert_eq!(last_lines("a", 5), "a");
    }

    #[test]
    fn not_ready_names_the_last_line_the_container_printed() {
        let err = NotReady {
            problem: "GET /healthz did not answer 200".into(),
            logs: "starting\nbind: address in use\n\n".into(),
        };
        assert_eq!(
            err.to_string(),
            "GET /healthz did not answer 200; its last log line: bind: address in use"
        );
    }

    #[test]
    fn a_free_port_is_found_and_a_taken_one_refused() {
        let localhost = IpAddr::from([127, 0, 0, 1]);
        let held = std::net::TcpListener::bind((localhost, 0)).unwrap();
        let taken = held.local_addr().unwrap().port();
        assert!(host_port(localhost, taken).is_err());
        assert_ne!(host_port(localhost, 0).unwrap(), 0);
    }
}
