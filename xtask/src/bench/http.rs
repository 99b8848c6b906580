//! The Rust and the Go service served the same way: each production binary runs on the host
//! (no container, so no docker-proxy and no veth between client and server), pinned to one core,
//! writing its access log, while wrk loads it over loopback from another core. The services take
//! turns, run after run, so that a disturbance of the machine falls on both.

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::model::bench::{HttpBench, LoadSample, ServiceFigures};

/// Where a service's access log goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogSink {
    /// A file per service in the output folder: the log is written and kept.
    File(PathBuf),
    /// `/dev/null`: written, and thrown away by the kernel.
    Null,
}

/// What the HTTP benchmark does, decided from the flags before anything runs.
#[derive(Debug, Clone)]
pub struct Settings {
    pub duration: Duration,
    pub connections: u32,
    pub runs: u32,
    pub server_cpu: usize,
    pub load_cpu: usize,
    /// Requests wrk sends at once on each connection (HTTP/1.1 pipelining); 1 sends the next
    /// only after the answer. One wrk thread on one core cannot keep a fast server busy one
    /// request at a time, so its rate would be wrk's; a few requests at a time let the server's
    /// core be what limits the rate.
    pub pipeline: u32,
    pub log: LogSink,
    /// Build the binaries first (otherwise they must exist).
    pub build: bool,
    /// Where the Go binary is written.
    pub out: PathBuf,
}

/// A service binary and how to build it as its image does.
pub struct Binary {
    pub service: &'static str,
    pub path: PathBuf,
}

/// The host triple the Rust binary is built for, as the image's builder stage does.
const RUST_TARGET: &str = "x86_64-unknown-linux-gnu";

/// Builds both production binaries with the flags their multistage images use: the Rust one
/// static (`+crt-static`, the release profile), the Go one with `CGO_ENABLED=0 -ldflags="-s -w"`.
pub fn build(sh: &Shell, root: &Path, settings: &Settings) -> Result<Vec<Binary>> {
    let rust = root
        .join("target")
        .join(RUST_TARGET)
        .join("release")
        .join("webtest");
    let go = settings.out.join("webtest-go");
    if settings.build {
        let _env = sh.push_env("RUSTFLAGS", "-C target-feature=+crt-static");
        let _dir = sh.push_dir(root);
        cmd!(
            sh,
            "cargo build --release --locked -p webtest --target {RUST_TARGET}"
        )
        .run()
        .context("build the Rust service (cargo build --release -p webtest)")?;
        std::fs::create_dir_all(&settings.out)?;
        let _go_dir = sh.push_dir(root.join("webtest-go"));
        let _cgo = sh.push_env("CGO_ENABLED", "0");
        // `-s -w` as the image's builder passes it: one argument.
        let ldflags = "-ldflags=-s -w";
        cmd!(sh, "go build {ldflags} -o {go} .").run().context(
            "build the Go service (go build in webtest-go/; Debian's golang-go provides go)",
        )?;
    }
    for path in [&rust, &go] {
        if !path.exists() {
            bail!(
                "there is no {}: run without --no-build to build it",
                path.display()
            );
        }
    }
    Ok(vec![
        Binary {
            service: "rust",
            path: rust,
        },
        Binary {
            service: "go",
            path: go,
        },
    ])
}

/// Loads every binary `settings.runs` times, taking turns, and returns the figures.
pub fn measure(sh: &Shell, binaries: &[Binary], settings: &Settings) -> Result<HttpBench> {
    // `wrk -v` prints its version and usage to stdout and exits 1.
    let wrk_version = cmd!(sh, "wrk -v")
        .ignore_status()
        .quiet()
        .ignore_stderr()
        .read()
        .ok()
        .and_then(|text| text.lines().next().map(|l| l.trim().to_string()))
        .filter(|l| l.starts_with("wrk"))
        .context("wrk is needed for the load (Debian: apt-get install wrk)")?;
    let wrk_version = wrk_version
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    let mut services: Vec<ServiceFigures> = binaries
        .iter()
        .map(|b| {
            Ok(ServiceFigures {
                service: b.service.to_string(),
                binary: b.path.display().to_string(),
                binary_bytes: std::fs::metadata(&b.path)?.len(),
                log: match &settings.log {
                    LogSink::File(dir) => dir
                        .join(format!("{}.access.log", b.service))
                        .display()
                        .to_string(),
                    LogSink::Null => "/dev/null".into(),
                },
                runs: Vec::new(),
            })
        })
        .collect::<Result<_>>()?;
    for _ in 0..settings.runs {
        for (binary, figures) in binaries.iter().zip(services.iter_mut()) {
            let sample = run_once(sh, binary, settings, Path::new(&figures.log))?;
            figures.runs.push(sample);
        }
    }
    Ok(HttpBench {
        load: format!(
            "{wrk_version}, 1 thread, {} keep-alive connections, {}, {} s per run",
            settings.connections,
            match settings.pipeline {
                1 => "one request at a time".to_string(),
                depth => format!("{depth} pipelined requests at a time"),
            },
            settings.duration.as_secs()
        ),
        pipeline: settings.pipeline,
        duration_s: settings.duration.as_secs_f64(),
        server_cpu: settings.server_cpu,
        load_cpu: settings.load_cpu,
        services,
    })
}

/// The server, stopped (SIGTERM, then waited for) when this goes out of scope.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM lets the service flush its log and end as it does under `docker stop`.
        let pid = self.0.id().to_string();
        if let Ok(sh) = Shell::new() {
            let _ = cmd!(sh, "kill -TERM {pid}").quiet().run();
        }
        let _ = self.0.wait();
    }
}

fn run_once(sh: &Shell, binary: &Binary, settings: &Settings, log: &Path) -> Result<LoadSample> {
    let port = crate::runner::host_port(Ipv4Addr::LOCALHOST.into(), 0)?.to_string();
    let log_file = std::fs::File::create(log).with_context(|| format!("open {}", log.display()))?;
    let (server_cpu, load_cpu) = (
        settings.server_cpu.to_string(),
        settings.load_cpu.to_string(),
    );
    let path = &binary.path;
    // xshell runs a command to its end; a server must run beside the load, so the command is
    // turned into a `std::process::Command` and spawned with its stdout on the log.
    let mut command = std::process::Command::from(
        cmd!(sh, "taskset -c {server_cpu} {path}")
            .env("PORT", &port)
            .env("WEBTEST_VARIANT", "bench"),
    );
    let child = command
        .stdout(log_file)
        .stderr(std::process::Stdio::null())
        .spawn()
        .with_context(|| format!("start {}", path.display()))?;
    let pid = child.id();
    let server = Server(child);
    wait_until_listening(&port)?;
    let cpu_before = cpu_ms(pid)?;
    let url = format!("http://127.0.0.1:{port}/");
    let (connections, seconds) = (
        settings.connections.to_string(),
        format!("{}s", settings.duration.as_secs()),
    );
    let pipelining = pipeline_args(settings)?;
    let output = cmd!(
        sh,
        "taskset -c {load_cpu} wrk -t1 -c{connections} -d{seconds} --latency {url} {pipelining...}"
    )
    .quiet()
    .read()
    .context("run wrk")?;
    let cpu = cpu_ms(pid)? - cpu_before;
    drop(server);
    let mut sample = parse_wrk(&output).with_context(|| format!("read wrk's output:\n{output}"))?;
    sample.log_lines = count_lines(log);
    sample.server_cpu_ms = cpu;
    Ok(sample)
}

/// wrk's arguments for pipelining: its script (written beside the logs) and the depth it reads
/// after `--`; none for one request at a time.
fn pipeline_args(settings: &Settings) -> Result<Vec<String>> {
    if settings.pipeline <= 1 {
        return Ok(Vec::new());
    }
    let script = settings.out.join("pipeline.lua");
    std::fs::write(&script, PIPELINE_LUA).with_context(|| format!("write {}", script.display()))?;
    Ok(vec![
        "-s".into(),
        script.display().to_string(),
        "--".into(),
        settings.pipeline.to_string(),
    ])
}

/// wrk's own pipelining example (`scripts/pipeline.lua`): every call of `request` sends `depth`
/// copies of the request at once, and wrk counts each answer.
const PIPELINE_LUA: &str = r#"init = function(args)
   local r = {}
   local depth = tonumber(args[1]) or 1
   for i = 1, depth do
      r[i] = wrk.format()
   end
   req = table.concat(r)
end

request = function()
   return req
end
"#;

/// The CPU time a process has used so far (user and system, all its threads), in milliseconds,
/// from `/proc/PID/stat`, whose times are in clock ticks of 1/100 s (`USER_HZ`, 100 on Linux).
fn cpu_ms(pid: u32) -> Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
    cpu_ticks(&text)
        .map(|ticks| ticks as f64 * 10.0)
        .with_context(|| format!("read the CPU times of {path}"))
}

/// `utime + stime` of a `/proc/PID/stat` line: fields 14 and 15, counted after the command name
/// in parentheses (which may hold spaces).
fn cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (the state).
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Waits until the service accepts connections, for at most five seconds.
fn wait_until_listening(port: &str) -> Result<()> {
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(5) {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!("the service did not listen on {addr} within 5 s")
}

fn count_lines(path: &Path) -> u64 {
    std::fs::read(path)
        .map(|bytes| bytecount(&bytes))
        .unwrap_or(0)
}

fn bytecount(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

/// Reads wrk's summary: requests, errors, requests per second, and the 50 % and 99 % latencies
/// of `--latency`.
pub fn parse_wrk(text: &str) -> Result<LoadSample> {
    let mut sample = LoadSample {
        requests: 0,
        errors: 0,
        requests_per_second: 0.0,
        p50_ms: 0.0,
        p99_ms: 0.0,
        log_lines: 0,
        server_cpu_ms: 0.0,
    };
    let (mut rps, mut p50, mut p99, mut requests) = (false, false, false, false);
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("Requests/sec:") {
            sample.requests_per_second = rest.trim().parse()?;
            rps = true;
        } else if let Some(rest) = line.strip_prefix("50%") {
            sample.p50_ms = millis(rest.trim())?;
            p50 = true;
        } else if let Some(rest) = line.strip_prefix("99%") {
            sample.p99_ms = millis(rest.trim())?;
            p99 = true;
        } else if line.contains(" requests in ") {
            sample.requests = line.split_whitespace().next().unwrap_or("").parse()?;
            requests = true;
        } else if let Some(rest) = line.strip_prefix("Non-2xx or 3xx responses:") {
            sample.errors += rest.trim().parse::<u64>()?;
        } else if let Some(rest) = line.strip_prefix("Socket errors:") {
            // `connect 0, read 0, write 0, timeout 0`
            for part in rest.split(',') {
                if let Some(count) = part.split_whitespace().nth(1) {
                    sample.errors += count.parse::<u64>()?;
                }
            }
        }
    }
    if !(rps && p50 && p99 && requests) {
        bail!("wrk's output lacks the requests, the rate or the latency distribution");
    }
    Ok(sample)
}

/// wrk's durations: `812.00us`, `1.23ms`, `2.00s`.
fn millis(text: &str) -> Result<f64> {
    let (number, factor) = if let Some(n) = text.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60_000.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1000.0)
    } else {
        bail!("`{text}` is not a duration of wrk's")
    };
    Ok(number.trim().parse::<f64>()? * factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WRK: &str = "Running 5s test @ http://127.0.0.1:18081/
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.58ms  614.21us  12.90ms   93.51%
    Req/Sec    40.87k     1.60k   43.12k    80.00%
  Latency Distribution
     50%    1.48ms
     75%    1.60ms
     90%    1.82ms
     99%   12.80ms
  203384 requests in 5.00s, 38.01MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  40675.13
Transfer/sec:      7.60MB
";

    #[test]
    fn wrk_summary_is_read() {
        let sample = parse_wrk(WRK).unwrap();
        assert_eq!(sample.requests, 203_384);
        assert_eq!(sample.errors, 7);
        assert!((sample.requests_per_second - 40_675.13).abs() < 1e-6);
        assert!((sample.p50_ms - 1.48).abs() < 1e-9);
        assert!((sample.p99_ms - 12.8).abs() < 1e-9);
    }

    #[test]
    fn cpu_times_are_read_from_proc_stat() {
        let stat = "1234 (web test) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 1 0";
        assert_eq!(cpu_ticks(stat), Some(325));
        assert!(cpu_ms(std::process::id()).unwrap() >= 0.0);
    }

    #[test]
    fn wrk_durations_are_read_in_every_unit() {
        assert!((millis("812.00us").unwrap() - 0.812).abs() < 1e-9);
        assert!((millis("2.00s").unwrap() - 2000.0).abs() < 1e-9);
        assert!(millis("3h").is_err());
        assert!(parse_wrk("nothing").is_err());
    }
}
