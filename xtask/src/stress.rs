//! `cargo xtask stress`: the service under abuse, against the multistage container started
//! hardened and published on 127.0.0.1 only. Four phases, each with its own figures:
//!
//! 1. **load**: many keep-alive connections on `GET /` for a fixed time;
//! 2. **garbage**: thousands of malformed requests, each on its own connection, classified by
//!    what the server answered; then the container must still be the same, running one;
//! 3. **idle**: hundreds of connections that send nothing or half a request head, held open
//!    while `GET /healthz` must still answer, then counted as the server closes them;
//! 4. **stop under load**: a fresh container is stopped while requests are in flight, which
//!    must all finish.
//!
//! Every figure goes to a [`StressReport`], written as `stress.json` and rendered for people by
//! `report::stress_terminal`. Figures are measured, never asserted as timings: only the
//! verdicts (no load error, no crash, healthz after garbage, bounded memory, in-flight requests
//! finish, garbage never accepted) decide the exit code.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::build;
use crate::compare::{self, Build, NotReady};
use crate::ctx::Ctx;
use crate::engine::{root_cause, Engine, Publish, RunSpec, Security};
use crate::error::{ChecksFailed, UsageError};
use crate::labels;
use crate::manifest::Manifest;
use crate::model::Check;
use crate::report::progress::Progress;
use crate::report::{human_bytes, stress_healthz};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// How long the load phase lasts, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..))]
    pub duration: u64,
    /// How many keep-alive connections the load phase keeps busy.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub connections: u32,
    /// How many malformed requests the garbage phase sends, each on its own connection.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub garbage: u32,
    /// How many idle and half-open connections the idle phase holds.
    #[arg(long, value_name = "N", default_value_t = 300)]
    pub idle: u32,
    /// The host port the container publishes to on 127.0.0.1 (0 takes any free one).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub port: u16,
    /// Stress the image as it is, without building; a missing image is an error.
    #[arg(long)]
    pub no_build: bool,
    /// Where stress.json goes, relative to the workspace root (default: target/xtask).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// The variant under stress: the one that ships.
const VARIANT: &str = "multistage";
/// Only the loopback address: the garbage phase must never reach beyond this machine.
const HOST_IP: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// The seed of the garbage, fixed so that two runs send the same bytes in the same order.
const SEED: u64 = 0x5EED_0F57_E55E;
/// How many garbage requests are in flight at once.
const GARBAGE_CONCURRENCY: usize = 32;
/// How long a garbage request waits to connect, to write, and then for the first byte of an
/// answer. A server that waits for the rest of an incomplete request is `timed out`, which is
/// a correct reaction, so this stays short to keep the phase short.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(2);
/// The memory the container may use after the garbage: a server that buffers what it is sent,
/// or leaks per connection, goes far beyond this after ten thousand connections.
const MEMORY_BOUND: u64 = 64 * 1024 * 1024;
/// How long the idle phase watches its connections for the server to close them: three times
/// the service's header read timeout.
const IDLE_WATCH: Duration = Duration::from_secs(15);
/// The head the half-open connections send before they fall silent.
const PARTIAL_HEAD: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n";
/// The stop phase: load connections, slow requests and how slow, and when the stop comes.
const STOP_LOAD_CONNECTIONS: u32 = 50;
const DELAY_REQUESTS: u32 = 50;
const DELAY_MS: u64 = 1500;
const STOP_AFTER: Duration = Duration::from_millis(300);
/// The grace period of the stop, as `docker stop` gives by default.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// How long an HTTP request of the load may take before it counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// What `stress` does, decided once from the flags and the manifest.
pub struct Plan {
    pub out: PathBuf,
    /// The host port; 0 until [`compare::host_port`] has chosen a free one.
    pub port: u16,
    pub build: Build,
    pub duration: Duration,
    pub connections: u32,
    pub garbage: u32,
    pub idle: u32,
    pub ready_timeout: Duration,
}

impl Plan {
    pub fn new(ctx: &Ctx, manifest: &Manifest, args: &Args) -> Result<Plan> {
        if !manifest.variants.contains_key(VARIANT) {
            return Err(UsageError(format!(
                "stress runs the `{VARIANT}` variant, and {} has none",
                manifest.path.display()
            ))
            .into());
        }
        Ok(Plan {
            out: ctx.path_or(args.out.as_deref(), ctx.out_dir()),
            port: args.port,
            build: if args.no_build {
                Build::Skip
            } else {
                Build::Changed
            },
            duration: Duration::from_secs(args.duration),
            connections: args.connections,
            garbage: args.garbage,
            idle: args.idle,
            ready_timeout: Duration::from_secs(manifest.run.ready_timeout_secs),
        })
    }

    fn publish(&self, manifest: &Manifest) -> Publish {
        Publish {
            container_port: manifest.port,
            host_ip: HOST_IP,
            host_port: self.port,
        }
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::new(HOST_IP, self.port)
    }

    fn base(&self) -> String {
        format!("http://{}", self.addr())
    }
}

/// The version of `stress.json`'s shape; bumped only for a change that is not backward
/// compatible.
pub const STRESS_SCHEMA: u32 = 1;

/// Everything one `stress` run measured and decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StressReport {
    pub schema: u32,
    /// True when every check holds.
    pub ok: bool,
    /// `webtest:multistage`.
    pub image: String,
    pub image_id: String,
    /// The engine the figures come from, e.g. `20.10.24+dfsg1 (API 1.41)`.
    pub engine: String,
    /// How the containers ran, e.g. `hardened`.
    pub security: String,
    pub load: LoadFigures,
    pub garbage: GarbageFigures,
    pub idle: IdleFigures,
    pub stop: StopFigures,
    pub checks: Vec<Check>,
}

/// Phase 1: keep-alive connections looping on one path until a deadline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadFigures {
    pub path: String,
    pub connections: u32,
    pub duration_ms: f64,
    /// Every request sent, answered or not.
    pub requests: u64,
    /// Requests that failed or were answered with anything but 2xx.
    pub errors: u64,
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Memory in use before and after, as `docker stats` shows it; absent when unreadable.
    pub memory_before_bytes: Option<u64>,
    pub memory_after_bytes: Option<u64>,
}

/// How garbage requests ended, by class.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcomes {
    pub answered_2xx: u64,
    pub answered_4xx: u64,
    pub answered_5xx: u64,
    /// An answer that is not a 2xx, 4xx or 5xx status line: 1xx, 3xx, or not HTTP at all.
    pub answered_other: u64,
    /// The server closed (or reset) the connection without a byte of answer.
    pub closed: u64,
    /// No answer and no close within the answer timeout: the server waits for more.
    pub timed_out: u64,
    /// The connection could not even be opened.
    pub connect_failed: u64,
}

impl Outcomes {
    pub fn total(&self) -> u64 {
        self.answered_2xx
            + self.answered_4xx
            + self.answered_5xx
            + self.answered_other
            + self.closed
            + self.timed_out
            + self.connect_failed
    }

    fn add(&mut self, outcome: Outcome) {
        let slot = match outcome {
            Outcome::Status(200..=299) => &mut self.answered_2xx,
            Outcome::Status(400..=499) => &mut self.answered_4xx,
            Outcome::Status(500..=599) => &mut self.answered_5xx,
            Outcome::Status(_) | Outcome::NotHttp => &mut self.answered_other,
            Outcome::Closed => &mut self.closed,
            Outcome::TimedOut => &mut self.timed_out,
            Outcome::ConnectFailed => &mut self.connect_failed,
        };
        *slot += 1;
    }
}

/// The figures of one kind of garbage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KindFigures {
    /// Stable, e.g. `huge_header`.
    pub kind: String,
    /// For people, e.g. `a 100 KiB header`.
    pub description: String,
    /// Whether a 2xx answer is correct: the head is valid and only the body is bad, which
    /// `GET /` never reads. For every other kind a 2xx means the server accepted garbage.
    pub may_succeed: bool,
    pub sent: u64,
    pub outcomes: Outcomes,
    /// How many answers had each status code.
    pub statuses: BTreeMap<u16, u64>,
}

/// The state of the container after the abuse, as the engine and the service tell it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Survival {
    pub running: bool,
    pub oom_killed: bool,
    /// Set only when the container has exited.
    pub exit_code: Option<i64>,
    /// `GET /` names the container's host name, the start of its ID: the service that answers
    /// is the process of the container started for this phase, not a replacement.
    pub same_container: bool,
}

/// Phase 2: malformed requests, each on its own connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GarbageFigures {
    pub seed: u64,
    pub requests: u64,
    pub concurrency: u32,
    pub answer_timeout_ms: u64,
    pub duration_ms: f64,
    /// Every request, by how it ended; these add up to `requests`.
    pub outcomes: Outcomes,
    pub kinds: Vec<KindFigures>,
    pub memory_before_bytes: Option<u64>,
    pub memory_after_bytes: Option<u64>,
    pub memory_bound_bytes: u64,
    /// What `GET /healthz` answered afterwards.
    pub healthz: Healthz,
    pub container: Survival,
}

/// What `GET /healthz` on a fresh connection answered, and how fast; or why it failed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Healthz {
    pub status: Option<u16>,
    pub ms: Option<f64>,
    pub error: Option<String>,
}

impl Healthz {
    pub fn ok(&self) -> bool {
        self.status == Some(200)
    }
}

/// Phase 3: connections that send nothing or half a head, held open.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdleFigures {
    /// How many were asked for, and how many of them sent nothing or half a head.
    pub connections: u32,
    pub silent: u32,
    pub partial: u32,
    /// How many could be opened.
    pub opened: u32,
    pub memory_before_bytes: Option<u64>,
    pub memory_held_bytes: Option<u64>,
    /// `GET /healthz` on a fresh connection while they are held.
    pub healthz: Healthz,
    pub watch_ms: u64,
    /// How many of each the server closed within the watch.
    pub closed_silent: u32,
    pub closed_partial: u32,
    /// How many got an answer before the close (a 408, say), by status.
    pub answered: BTreeMap<u16, u64>,
    /// When the server closed them, from each connection's opening: the first, the median and
    /// the last; absent when none was closed.
    pub close_first_ms: Option<f64>,
    pub close_median_ms: Option<f64>,
    pub close_last_ms: Option<f64>,
    pub container: Survival,
}

/// Phase 4: a fresh container stopped with requests in flight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StopFigures {
    pub load_connections: u32,
    pub delay_requests: u32,
    pub delay_ms: u64,
    /// How long after the slow requests were sent the stop began.
    pub stop_after_ms: u64,
    /// How many slow requests were answered 200, and what the others got.
    pub delay_ok: u32,
    pub delay_failures: BTreeMap<String, u32>,
    /// Requests on `/` answered 2xx before the stop began, and those that failed then.
    pub ok_before_stop: u64,
    pub errors_before_stop: u64,
    /// Answered 2xx after the stop began: the in-flight requests of the drain.
    pub ok_during_drain: u64,
    /// Failed after the stop began: refused at connect, or closed or reset afterwards.
    pub refused_after: u64,
    pub failed_after: u64,
    /// How long `docker stop` took, and how the container ended.
    pub stop_ms: f64,
    pub exit_code: Option<i64>,
}

pub async fn run(ctx: &Ctx, manifest: &Manifest, engine: &Engine, args: Args) -> Result<()> {
    let plan = Plan::new(ctx, manifest, &args)?;
    let progress = Progress::new(ctx.style);
    let _lock = engine
        .exclusive("stress", |holder| progress.waiting_for(holder))
        .await?;
    // Checked once the engine is ours, since a run we waited for held the port until it ended.
    let port = compare::host_port(HOST_IP, plan.port)?;
    let plan = Plan { port, ..plan };
    // A signal must not leave a container behind: the work stops, then what it started goes.
    let report = engine
        .guarded(stress(ctx, engine, manifest, &plan, &progress))
        .await?;
    let path = write(&plan.out, &report)?;
    print!("{}", crate::report::stress_terminal(&report, ctx.style));
    progress.note(&format!("report: {}", path.display()));
    if report.ok {
        Ok(())
    } else {
        Err(ChecksFailed.into())
    }
}

/// Writes `stress.json` into `dir`, whole and then renamed, so that a reader never sees half.
fn write(dir: &std::path::Path, report: &StressReport) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let path = dir.join("stress.json");
    let partial = dir.join("stress.json.partial");
    let mut text = serde_json::to_string_pretty(report).context("serialize the stress report")?;
    text.push('\n');
    std::fs::write(&partial, text).with_context(|| format!("write {}", partial.display()))?;
    std::fs::rename(&partial, &path).with_context(|| format!("write {}", path.display()))?;
    Ok(path)
}

async fn stress(
    ctx: &Ctx,
    engine: &Engine,
    manifest: &Manifest,
    plan: &Plan,
    progress: &Progress,
) -> Result<StressReport> {
    if plan.build == Build::Changed {
        let build_plan = build::Plan {
            variants: vec![VARIANT.into()],
            cache: build::Cache::Use,
        };
        build::build_all(ctx, engine, manifest, &build_plan, progress).await?;
    }
    let tag = manifest.tag(VARIANT);
    let image = engine.image(&tag).await?.with_context(|| {
        format!("there is no image {tag}: build it with `cargo xtask build-images --variant {VARIANT}` or run stress without --no-build")
    })?;
    let client = http_client(REQUEST_TIMEOUT)?;
    let labels = labels::container();
    let spec = RunSpec {
        image: &tag,
        publish: Some(plan.publish(manifest)),
        entrypoint: None,
        cmd: None,
        labels: &labels,
        security: Security::Hardened,
    };

    // Phases 1 to 3 share one container, so that the idle phase meets the server as the
    // garbage left it.
    let id = start(engine, &spec, &client, plan, progress).await?;
    let abused = async {
        let load = load_phase(engine, &id, plan, progress).await?;
        let garbage = garbage_phase(engine, &id, &client, plan, progress).await?;
        let idle = idle_phase(engine, &id, &client, plan, progress).await?;
        Ok::<_, anyhow::Error>((load, garbage, idle))
    }
    .await;
    let removed = engine.remove(&id).await;
    let (load, garbage, idle) = abused?;
    removed?;

    // Phase 4 needs a container that has seen nothing yet: a stop is a one-way trip.
    let id = start(engine, &spec, &client, plan, progress).await?;
    let stopped = stop_phase(engine, &id, plan, progress).await;
    let removed = engine.remove(&id).await;
    let stop = stopped?;
    removed?;

    let checks = verdicts(&load, &garbage, &idle, &stop);
    Ok(StressReport {
        schema: STRESS_SCHEMA,
        ok: checks.iter().all(|c| c.ok),
        image: tag,
        image_id: image.id,
        engine: engine.describe().await?,
        security:
            "hardened (read-only root filesystem, every capability dropped, no-new-privileges)"
                .into(),
        load,
        garbage,
        idle,
        stop,
        checks,
    })
}

fn http_client(timeout: Duration) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(timeout)
        .build()
        .context("make an HTTP client")
}

/// Starts a container of the image and waits until it answers; its logs explain a failure.
async fn start(
    engine: &Engine,
    spec: &RunSpec<'_>,
    client: &reqwest::Client,
    plan: &Plan,
    progress: &Progress,
) -> Result<String> {
    let phase = progress.phase(&format!("start {} hardened on {}", spec.image, plan.addr()));
    let started = Instant::now();
    let id = engine.start(spec).await?;
    if let Err(err) =
        compare::wait_ready(engine, &id, client, &plan.base(), plan.ready_timeout).await
    {
        let logs = engine.logs(&id).await.unwrap_or_default();
        phase.fail(&format!("start {}: {err:#}", spec.image));
        let lines: Vec<&str> = logs.lines().collect();
        return Err(NotReady {
            problem: format!("{err:#}"),
            logs: lines[lines.len().saturating_sub(30)..].join("\n"),
        }
        .into());
    }
    phase.finish(&format!(
        "started {} ({}) in {} ms",
        spec.image,
        &id[..12.min(id.len())],
        started.elapsed().as_millis()
    ));
    Ok(id)
}

/// Phase 1: `plan.connections` tasks, each with a client of its own (so exactly one keep-alive
/// connection each), looping on `GET /` until the deadline.
async fn load_phase(
    engine: &Engine,
    id: &str,
    plan: &Plan,
    progress: &Progress,
) -> Result<LoadFigures> {
    let phase = progress.phase(&format!(
        "load: {} keep-alive connections on GET / for {} s",
        plan.connections,
        plan.duration.as_secs()
    ));
    let memory_before = engine.memory(id).await.ok();
    let url = format!("{}/", plan.base());
    // The clients are made before the clock starts: making one is not what is measured.
    let clients = (0..plan.connections)
        .map(|_| http_client(REQUEST_TIMEOUT))
        .collect::<Result<Vec<_>>>()?;
    let started = Instant::now();
    let deadline = started + plan.duration;
    let mut tasks = tokio::task::JoinSet::new();
    for client in clients {
        let url = url.clone();
        tasks.spawn(async move {
            // Microseconds in a u32 hold 71 minutes, far beyond any request timeout.
            let mut latencies: Vec<u32> = Vec::new();
            let mut errors = 0u64;
            while Instant::now() < deadline {
                let sent = Instant::now();
                match get_ok(&client, &url).await {
                    Ok(()) => latencies.push(sent.elapsed().as_micros() as u32),
                    Err(_) => errors += 1,
                }
            }
            (latencies, errors)
        });
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    while let Some(joined) = tasks.join_next().await {
        let (mine, my_errors) = joined.context("a load task failed")?;
        latencies.extend(mine);
        errors += my_errors;
    }
    let elapsed = started.elapsed();
    let memory_after = engine.memory(id).await.ok();
    latencies.sort_unstable();
    let requests = latencies.len() as u64 + errors;
    let figures = LoadFigures {
        path: "/".into(),
        connections: plan.connections,
        duration_ms: elapsed.as_secs_f64() * 1000.0,
        requests,
        errors,
        requests_per_second: requests as f64 / elapsed.as_secs_f64().max(1e-9),
        p50_ms: percentile_ms(&latencies, 0.50),
        p99_ms: percentile_ms(&latencies, 0.99),
        max_ms: latencies.last().map_or(0.0, |&us| f64::from(us) / 1000.0),
        memory_before_bytes: memory_before,
        memory_after_bytes: memory_after,
    };
    phase.finish(&format!(
        "load: {} requests, {} errors, {:.0} req/s",
        figures.requests, figures.errors, figures.requests_per_second
    ));
    Ok(figures)
}

/// One `GET` that must be answered 2xx with its whole body.
async fn get_ok(client: &reqwest::Client, url: &str) -> Result<(), reqwest::Error> {
    client
        .get(url)
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await
        .map(|_| ())
}

/// The nearest-rank percentile of sorted microseconds, in milliseconds; 0 when there are none.
fn percentile_ms(sorted_us: &[u32], q: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted_us.len() as f64).ceil() as usize;
    f64::from(sorted_us[rank.clamp(1, sorted_us.len()) - 1]) / 1000.0
}

/// Phase 2: the garbage, then the questions that matter: is it the same container, alive,
/// answering, and within its memory?
async fn garbage_phase(
    engine: &Engine,
    id: &str,
    client: &reqwest::Client,
    plan: &Plan,
    progress: &Progress,
) -> Result<GarbageFigures> {
    let phase = progress.phase(&format!(
        "garbage: {} malformed requests, {GARBAGE_CONCURRENCY} at a time, each on its own connection",
        plan.garbage
    ));
    let memory_before = engine.memory(id).await.ok();
    let addr = plan.addr();
    let started = Instant::now();
    // The requests are made in order from one generator, before they are sent out of order, so
    // that the bytes sent depend on the seed alone.
    let mut rng = Rng::new(SEED);
    let results: Vec<(Kind, Outcome)> = futures_util::stream::iter(0..plan.garbage)
        .map(|_| {
            let garbage = Garbage::random(&mut rng);
            async move { (garbage.kind, send_garbage(addr, &garbage).await) }
        })
        .buffer_unordered(GARBAGE_CONCURRENCY)
        .collect()
        .await;
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;

    let mut outcomes = Outcomes::default();
    let mut kinds: Vec<KindFigures> = Kind::ALL
        .iter()
        .map(|kind| KindFigures {
            kind: kind.name().into(),
            description: kind.description().into(),
            may_succeed: kind.may_succeed(),
            sent: 0,
            outcomes: Outcomes::default(),
            statuses: BTreeMap::new(),
        })
        .collect();
    for (kind, outcome) in results {
        outcomes.add(outcome);
        let figures = &mut kinds[kind as usize];
        figures.sent += 1;
        figures.outcomes.add(outcome);
        if let Outcome::Status(status) = outcome {
            *figures.statuses.entry(status).or_default() += 1;
        }
    }

    let healthz = healthz(client, plan).await;
    let memory_after = engine.memory(id).await.ok();
    let container = survival(engine, id, client, plan).await?;
    phase.finish(&format!(
        "garbage: {} requests in {:.1} s: {} 4xx, {} 5xx, {} 2xx, {} closed, {} timed out",
        outcomes.total(),
        duration_ms / 1000.0,
        outcomes.answered_4xx,
        outcomes.answered_5xx,
        outcomes.answered_2xx,
        outcomes.closed,
        outcomes.timed_out
    ));
    Ok(GarbageFigures {
        seed: SEED,
        requests: u64::from(plan.garbage),
        concurrency: GARBAGE_CONCURRENCY as u32,
        answer_timeout_ms: ANSWER_TIMEOUT.as_millis() as u64,
        duration_ms,
        outcomes,
        kinds,
        memory_before_bytes: memory_before,
        memory_after_bytes: memory_after,
        memory_bound_bytes: MEMORY_BOUND,
        healthz,
        container,
    })
}

/// `GET /healthz` on a fresh connection: its status and latency, or why it failed.
async fn healthz(client: &reqwest::Client, plan: &Plan) -> Healthz {
    let sent = Instant::now();
    let answer = async {
        let response = client
            .get(format!("{}/healthz", plan.base()))
            .send()
            .await?;
        let status = response.status().as_u16();
        response.bytes().await?;
        Ok::<_, reqwest::Error>(status)
    }
    .await;
    match answer {
        Ok(status) => Healthz {
            status: Some(status),
            ms: Some(sent.elapsed().as_secs_f64() * 1000.0),
            error: None,
        },
        Err(err) => Healthz {
            error: Some(root_cause(&err)),
            ..Healthz::default()
        },
    }
}

/// Whether the container is still the running one it was. The engine restarts a container
/// only under a restart policy, which this tool never sets: a crash would leave it exited.
async fn survival(
    engine: &Engine,
    id: &str,
    client: &reqwest::Client,
    plan: &Plan,
) -> Result<Survival> {
    let facts = engine.container(id).await?;
    let host = &id[..12.min(id.len())];
    let greeting = match client.get(format!("{}/", plan.base())).send().await {
        Ok(response) => response.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    Ok(Survival {
        running: facts.running,
        oom_killed: facts.oom_killed,
        exit_code: facts.exit_code,
        same_container: greeting.trim_end().ends_with(host),
    })
}

/// How one garbage request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Status(u16),
    /// Bytes came back, but not an HTTP/1 status line.
    NotHttp,
    Closed,
    TimedOut,
    ConnectFailed,
}

/// Sends one garbage request on a connection of its own and classifies the answer.
async fn send_garbage(addr: SocketAddr, garbage: &Garbage) -> Outcome {
    let mut stream = match tokio::time::timeout(ANSWER_TIMEOUT, TcpStream::connect(addr)).await {
        Ok(Ok(stream)) => stream,
        _ => return Outcome::ConnectFailed,
    };
    // A server may answer and close before reading everything (a 431 after 16 KiB of a 100 KiB
    // header), so a failed write is not the end: the answer may be waiting all the same.
    if tokio::time::timeout(ANSWER_TIMEOUT, stream.write_all(&garbage.bytes))
        .await
        .is_err()
    {
        return Outcome::TimedOut;
    }
    if garbage.close_early {
        // The write half closes: the server sees the end of the stream in mid-line.
        let _ = stream.shutdown().await;
    }
    read_status(&mut stream, ANSWER_TIMEOUT).await
}

/// Reads until the status line is in, the connection ends, or the time is up.
async fn read_status(stream: &mut TcpStream, timeout: Duration) -> Outcome {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut buf = [0u8; 64];
    let mut got = 0;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf[got..])).await {
            Err(_) if got == 0 => return Outcome::TimedOut,
            Ok(Ok(0)) | Ok(Err(_)) if got == 0 => return Outcome::Closed,
            Err(_) | Ok(Ok(0)) | Ok(Err(_)) => return parse_status(&buf[..got]),
            Ok(Ok(n)) => {
                got += n;
                if got >= b"HTTP/1.1 200".len() || got == buf.len() {
                    return parse_status(&buf[..got]);
                }
            }
        }
    }
}

/// `HTTP/1.x NNN` at the start of an answer, as a status code.
fn parse_status(answer: &[u8]) -> Outcome {
    let status = answer
        .strip_prefix(b"HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .filter(|digits| digits.iter().all(u8::is_ascii_digit))
        .and_then(|digits| std::str::from_utf8(digits).ok()?.parse().ok());
    status.map_or(Outcome::NotHttp, Outcome::Status)
}

/// The kinds of garbage, each with a share of the requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    RandomBytes,
    BadRequestLine,
    UnknownMethod,
    GarbageMethod,
    Http09,
    HugeHeader,
    ManyHeaders,
    BadContentLength,
    ConflictingContentLength,
    BadChunked,
    LengthAndChunked,
    LoneCrlfs,
    NulBytes,
    NoColon,
    EarlyClose,
}

impl Kind {
    /// In the order of the enum, so that `kind as usize` indexes it.
    const ALL: [Kind; 15] = [
        Kind::RandomBytes,
        Kind::BadRequestLine,
        Kind::UnknownMethod,
        Kind::GarbageMethod,
        Kind::Http09,
        Kind::HugeHeader,
        Kind::ManyHeaders,
        Kind::BadContentLength,
        Kind::ConflictingContentLength,
        Kind::BadChunked,
        Kind::LengthAndChunked,
        Kind::LoneCrlfs,
        Kind::NulBytes,
        Kind::NoColon,
        Kind::EarlyClose,
    ];

    fn name(self) -> &'static str {
        match self {
            Kind::RandomBytes => "random_bytes",
            Kind::BadRequestLine => "bad_request_line",
            Kind::UnknownMethod => "unknown_method",
            Kind::GarbageMethod => "garbage_method",
            Kind::Http09 => "http09",
            Kind::HugeHeader => "huge_header",
            Kind::ManyHeaders => "many_headers",
            Kind::BadContentLength => "bad_content_length",
            Kind::ConflictingContentLength => "conflicting_content_length",
            Kind::BadChunked => "bad_chunked",
            Kind::LengthAndChunked => "length_and_chunked",
            Kind::LoneCrlfs => "lone_crlfs",
            Kind::NulBytes => "nul_bytes",
            Kind::NoColon => "no_colon",
            Kind::EarlyClose => "early_close",
        }
    }

    fn description(self) -> &'static str {
        match self {
            Kind::RandomBytes => "random bytes",
            Kind::BadRequestLine => "a bad request line",
            Kind::UnknownMethod => "an unknown method",
            Kind::GarbageMethod => "a method of non-token bytes",
            Kind::Http09 => "HTTP/0.9 `GET /`",
            Kind::HugeHeader => "a 100 KiB header",
            Kind::ManyHeaders => "200 headers",
            Kind::BadContentLength => "a bad Content-Length",
            Kind::ConflictingContentLength => "conflicting Content-Lengths",
            Kind::BadChunked => "bad chunked encoding",
            Kind::LengthAndChunked => "Content-Length and chunked",
            Kind::LoneCrlfs => "lone CRLFs",
            Kind::NulBytes => "a NUL byte in the head",
            Kind::NoColon => "a header line without colon",
            Kind::EarlyClose => "close after a partial line",
        }
    }

    /// Percent of the requests. Random bytes are the bulk; lone CRLFs are few, since a server
    /// rightly waits for a request line after them, and each costs the whole answer timeout.
    fn weight(self) -> u64 {
        match self {
            Kind::RandomBytes => 35,
            Kind::BadRequestLine => 6,
            Kind::HugeHeader => 4,
            Kind::LengthAndChunked => 3,
            Kind::LoneCrlfs => 2,
            _ => 5,
        }
    }

    /// A head that is valid HTTP/1.1 and a body that is not: `GET /` reads no body, so the
    /// server may answer before it ever sees the bad part. RFC 9112 section 6.3 lets a server
    /// take `Transfer-Encoding` over `Content-Length` as well as reject the pair.
    fn may_succeed(self) -> bool {
        matches!(self, Kind::BadChunked | Kind::LengthAndChunked)
    }
}

/// One malformed request.
struct Garbage {
    kind: Kind,
    bytes: Vec<u8>,
    /// Close the write half after the bytes, in mid-line.
    close_early: bool,
}

/// A well-formed request head, the base of the kinds that break one thing in it.
const GOOD_HEAD: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";

impl Garbage {
    fn random(rng: &mut Rng) -> Garbage {
        let total: u64 = Kind::ALL.iter().map(|k| k.weight()).sum();
        let mut pick = rng.below(total);
        let kind = Kind::ALL
            .into_iter()
            .find(|k| {
                if pick < k.weight() {
                    true
                } else {
                    pick -= k.weight();
                    false
                }
            })
            .expect("the weights add up to the total");
        Garbage::of(kind, rng)
    }

    fn of(kind: Kind, rng: &mut Rng) -> Garbage {
        let head = |extra: &str, body: &str| {
            format!("GET / HTTP/1.1\r\nHost: x\r\n{extra}\r\n{body}").into_bytes()
        };
        let bytes = match kind {
            Kind::RandomBytes => {
                let len = 1 + rng.below(1024) as usize;
                (0..len).map(|_| rng.next() as u8).collect()
            }
            Kind::BadRequestLine => rng
                .pick(&[
                    "GET\r\n\r\n",
                    " / HTTP/1.1\r\n\r\n",
                    "/ GET HTTP/1.1\r\n\r\n",
                    "GET /a b HTTP/1.1\r\nHost: x\r\n\r\n",
                    "GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n",
                    "GET / HTTP/9.9\r\nHost: x\r\n\r\n",
                    "GET / FTP/1.1\r\nHost: x\r\n\r\n",
                    "GET / HTTP/1.\r\nHost: x\r\n\r\n",
                    "GET / HTTP/1.1\rHost: x\r\n\r\n",
                    "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
                ])
                .as_bytes()
                .to_vec(),
            Kind::UnknownMethod => {
                // Five letters or more: never GET or HEAD, the methods `/` answers.
                let len = 5 + rng.below(8) as usize;
                let method: String = (0..len)
                    .map(|_| char::from(b'A' + rng.below(26) as u8))
                    .collect();
                format!("{method} / HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes()
            }
            Kind::GarbageMethod => {
                let mut bytes: Vec<u8> = (0..1 + rng.below(8))
                    .map(|_| *rng.pick(b"\x01\x7f\x80\xff(){}@[]<>,;=\"/\\?"))
                    .collect();
                bytes.extend_from_slice(b" / HTTP/1.1\r\nHost: x\r\n\r\n");
                bytes
            }
            Kind::Http09 => rng
                .pick(&["GET /\r\n", "GET /healthz\r\n", "GET /\r\n\r\n"])
                .as_bytes()
                .to_vec(),
            Kind::HugeHeader => head(&format!("X-Big: {}\r\n", "a".repeat(100 * 1024)), ""),
            Kind::ManyHeaders => head(
                &(0..200)
                    .map(|i| format!("X-Header-{i}: v\r\n"))
                    .collect::<String>(),
                "",
            ),
            Kind::BadContentLength => {
                let value = rng.pick(&[
                    "abc",
                    "-1",
                    "1.5",
                    "0x10",
                    "",
                    "5 5",
                    "+5",
                    "99999999999999999999999",
                ]);
                head(&format!("Content-Length: {value}\r\n"), "hello")
            }
            Kind::ConflictingContentLength => {
                let first = rng.below(10);
                let second = first + 1 + rng.below(10);
                if rng.below(2) == 0 {
                    head(
                        &format!("Content-Length: {first}\r\nContent-Length: {second}\r\n"),
                        "hello",
                    )
                } else {
                    head(&format!("Content-Length: {first}, {second}\r\n"), "hello")
                }
            }
            Kind::BadChunked => {
                let body = rng.pick(&[
                    "ZZZ\r\nhello\r\n0\r\n\r\n",
                    "5\r\nhelloEXTRA\r\n0\r\n\r\n",
                    "-1\r\n\r\n",
                    "ffffffffffffffffffff\r\nx\r\n",
                    "5;\x00\r\nhello\r\n0\r\n\r\n",
                ]);
                head("Transfer-Encoding: chunked\r\n", body)
            }
            Kind::LengthAndChunked => head(
                "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
                "0\r\n\r\n",
            ),
            Kind::LoneCrlfs => b"\r\n".repeat(1 + rng.below(16) as usize),
            Kind::NulBytes => {
                // Anywhere in the head but its final blank line.
                let mut bytes = GOOD_HEAD.to_vec();
                let at = rng.below((GOOD_HEAD.len() - 4) as u64) as usize;
                bytes.insert(at, 0);
                bytes
            }
            Kind::NoColon => {
                let name = rng.pick(&["X-No-Colon", "Accept text/html", "garbage"]);
                head(&format!("{name}\r\n"), "")
            }
            Kind::EarlyClose => {
                let line = b"GET / HTTP/1.1";
                line[..1 + rng.below((line.len() - 1) as u64) as usize].to_vec()
            }
        };
        Garbage {
            kind,
            bytes,
            close_early: kind == Kind::EarlyClose,
        }
    }
}

/// SplitMix64: a tiny, well-mixed generator whose sequence depends on the seed alone. Nothing
/// here needs more, and a crate of our own choosing could change its sequence in an update.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`; the bias of the modulo is far below anything that matters here.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// Phase 3: connections that send nothing, or half a head, held while `GET /healthz` must
/// still answer, then watched until the server closes them.
async fn idle_phase(
    engine: &Engine,
    id: &str,
    client: &reqwest::Client,
    plan: &Plan,
    progress: &Progress,
) -> Result<IdleFigures> {
    let partial_count = plan.idle / 2;
    let phase = progress.phase(&format!(
        "idle: {} connections held ({} silent, {partial_count} with half a head), watched for {} s",
        plan.idle,
        plan.idle - partial_count,
        IDLE_WATCH.as_secs()
    ));
    let memory_before = engine.memory(id).await.ok();
    let addr = plan.addr();
    // Every other connection sends half a head, so both kinds meet the server interleaved.
    let opened: Vec<(bool, Instant, TcpStream)> = futures_util::stream::iter(0..plan.idle)
        .map(|index| async move {
            let partial = index % 2 == 1;
            let mut stream = tokio::time::timeout(ANSWER_TIMEOUT, TcpStream::connect(addr))
                .await
                .ok()?
                .ok()?;
            let opened_at = Instant::now();
            if partial {
                stream.write_all(PARTIAL_HEAD).await.ok()?;
            }
            Some((partial, opened_at, stream))
        })
        .buffer_unordered(GARBAGE_CONCURRENCY)
        .filter_map(|opened| async move { opened })
        .collect()
        .await;
    let watch_from = Instant::now();

    let healthz = healthz(client, plan).await;
    let memory_held = engine.memory(id).await.ok();

    // Each connection reads until the server closes it or the watch ends; anything it reads
    // first is an answer (a 408, say) and is kept.
    let watch_until = tokio::time::Instant::from_std(watch_from + IDLE_WATCH);
    let watched: Vec<(bool, Option<Duration>, Outcome)> =
        futures_util::future::join_all(opened.into_iter().map(
            |(partial, at, mut stream)| async move {
                let mut first = Outcome::TimedOut;
                let mut buf = [0u8; 256];
                loop {
                    match tokio::time::timeout_at(watch_until, stream.read(&mut buf)).await {
                        Err(_) => return (partial, None, first),
                        Ok(Ok(0)) | Ok(Err(_)) => return (partial, Some(at.elapsed()), first),
                        Ok(Ok(n)) => {
                            if first == Outcome::TimedOut {
                                first = parse_status(&buf[..n]);
                            }
                        }
                    }
                }
            },
        ))
        .await;

    let mut closes: Vec<f64> = Vec::new();
    let (mut closed_silent, mut closed_partial) = (0, 0);
    let mut answered: BTreeMap<u16, u64> = BTreeMap::new();
    for (partial, closed, first) in &watched {
        if let Outcome::Status(status) = first {
            *answered.entry(*status).or_default() += 1;
        }
        if let Some(after) = closed {
            closes.push(after.as_secs_f64() * 1000.0);
            if *partial {
                closed_partial += 1;
            } else {
                closed_silent += 1;
            }
        }
    }
    closes.sort_by(f64::total_cmp);
    let container = survival(engine, id, client, plan).await?;
    let figures = IdleFigures {
        connections: plan.idle,
        silent: plan.idle - partial_count,
        partial: partial_count,
        opened: watched.len() as u32,
        memory_before_bytes: memory_before,
        memory_held_bytes: memory_held,
        healthz,
        watch_ms: IDLE_WATCH.as_millis() as u64,
        closed_silent,
        closed_partial,
        answered,
        close_first_ms: closes.first().copied(),
        close_median_ms: closes.get(closes.len() / 2).copied(),
        close_last_ms: closes.last().copied(),
        container,
    };
    phase.finish(&format!(
        "idle: {} of {} closed by the server within {} s",
        closed_silent + closed_partial,
        figures.opened,
        IDLE_WATCH.as_secs()
    ));
    Ok(figures)
}

/// How one request of the stop phase's load ended, and when.
enum Ended {
    Ok,
    /// The connection could not be made: nothing listens any more.
    Refused,
    /// Anything else: a reset, a close in mid-request, a bad status, a timeout.
    Failed,
}

/// Phase 4: continuous load and slow requests, then `docker stop` while they are in flight.
async fn stop_phase(
    engine: &Engine,
    id: &str,
    plan: &Plan,
    progress: &Progress,
) -> Result<StopFigures> {
    let phase = progress.phase(&format!(
        "stop under load: {STOP_LOAD_CONNECTIONS} connections on GET / and {DELAY_REQUESTS} \
         GET /delay/{DELAY_MS}, stopped {} ms after they were sent",
        STOP_AFTER.as_millis()
    ));
    let stopping = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    let url = format!("{}/", plan.base());
    let mut load = tokio::task::JoinSet::new();
    for _ in 0..STOP_LOAD_CONNECTIONS {
        let client = http_client(REQUEST_TIMEOUT)?;
        let (url, stopping, done) = (url.clone(), stopping.clone(), done.clone());
        load.spawn(async move {
            let mut ended: Vec<(Instant, Ended)> = Vec::new();
            while !done.load(Ordering::Relaxed) {
                let result = get_ok(&client, &url).await;
                let at = Instant::now();
                match result {
                    Ok(()) => ended.push((at, Ended::Ok)),
                    Err(err) => {
                        ended.push((
                            at,
                            if err.is_connect() {
                                Ended::Refused
                            } else {
                                Ended::Failed
                            },
                        ));
                        // Once the stop has begun, one failure per connection tells the story;
                        // looping on would only count refusals as fast as they come.
                        if stopping.load(Ordering::Relaxed) {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
            ended
        });
    }
    // One client, so one connection per slow request, all in flight together.
    let delay_client = http_client(Duration::from_millis(DELAY_MS) + STOP_GRACE)?;
    let delay_url = format!("{}/delay/{DELAY_MS}", plan.base());
    let mut delays = tokio::task::JoinSet::new();
    for _ in 0..DELAY_REQUESTS {
        let (client, url) = (delay_client.clone(), delay_url.clone());
        delays.spawn(async move {
            match client.get(&url).send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    match response.bytes().await {
                        Ok(_) if status == 200 => Ok(()),
                        Ok(_) => Err(format!("status {status}")),
                        Err(err) => Err(root_cause(&err)),
                    }
                }
                Err(err) => Err(root_cause(&err)),
            }
        });
    }
    tokio::time::sleep(STOP_AFTER).await;

    let stop_began = Instant::now();
    stopping.store(true, Ordering::Relaxed);
    let stopped = engine.stop(id, STOP_GRACE).await;
    // A little more load after the stop, so that every connection meets the closed port.
    tokio::time::sleep(Duration::from_millis(300)).await;
    done.store(true, Ordering::Relaxed);
    let mut delay_ok = 0;
    let mut delay_failures: BTreeMap<String, u32> = BTreeMap::new();
    while let Some(joined) = delays.join_next().await {
        match joined.context("a slow request's task failed")? {
            Ok(()) => delay_ok += 1,
            Err(why) => *delay_failures.entry(why).or_default() += 1,
        }
    }
    let mut figures = StopFigures {
        load_connections: STOP_LOAD_CONNECTIONS,
        delay_requests: DELAY_REQUESTS,
        delay_ms: DELAY_MS,
        stop_after_ms: STOP_AFTER.as_millis() as u64,
        delay_ok,
        delay_failures,
        ok_before_stop: 0,
        errors_before_stop: 0,
        ok_during_drain: 0,
        refused_after: 0,
        failed_after: 0,
        stop_ms: 0.0,
        exit_code: None,
    };
    while let Some(joined) = load.join_next().await {
        for (at, ended) in joined.context("a load task failed")? {
            let before = at < stop_began;
            let slot = match (before, ended) {
                (true, Ended::Ok) => &mut figures.ok_before_stop,
                (true, _) => &mut figures.errors_before_stop,
                (false, Ended::Ok) => &mut figures.ok_during_drain,
                (false, Ended::Refused) => &mut figures.refused_after,
                (false, Ended::Failed) => &mut figures.failed_after,
            };
            *slot += 1;
        }
    }
    figures.stop_ms = stopped?.as_secs_f64() * 1000.0;
    figures.exit_code = engine.container(id).await?.exit_code;
    phase.finish(&format!(
        "stop under load: stopped in {:.0} ms, {} of {} slow requests answered 200",
        figures.stop_ms, figures.delay_ok, figures.delay_requests
    ));
    Ok(figures)
}

/// The verdicts; everything else in the report is a figure.
fn verdicts(
    load: &LoadFigures,
    garbage: &GarbageFigures,
    idle: &IdleFigures,
    stop: &StopFigures,
) -> Vec<Check> {
    let memory = |bytes: Option<u64>| bytes.map_or_else(|| "unknown".to_string(), human_bytes);
    let survived = |container: &Survival| {
        container.running && !container.oom_killed && container.same_container
    };
    let describe = |container: &Survival| {
        let mut facts = vec![if container.running {
            "running".to_string()
        } else {
            format!(
                "exited with code {}",
                container
                    .exit_code
                    .map_or_else(|| "unknown".to_string(), |c| c.to_string())
            )
        }];
        if container.oom_killed {
            facts.push("killed: out of memory".into());
        }
        facts.push(if container.same_container {
            "GET / names the same container".into()
        } else {
            "GET / does not name the container started".into()
        });
        facts.join(", ")
    };
    let accepted: Vec<String> = garbage
        .kinds
        .iter()
        .filter(|k| !k.may_succeed && k.outcomes.answered_2xx > 0)
        .map(|k| format!("{} ({} of {})", k.kind, k.outcomes.answered_2xx, k.sent))
        .collect();
    vec![
        Check {
            name: "load without errors".into(),
            ok: load.errors == 0 && load.requests > 0,
            detail: format!("{} errors in {} requests", load.errors, load.requests),
            ..Check::default()
        },
        Check {
            name: "no crash".into(),
            ok: survived(&garbage.container) && survived(&idle.container),
            detail: format!(
                "after the garbage: {}; after the idle connections: {}",
                describe(&garbage.container),
                describe(&idle.container)
            ),
            ..Check::default()
        },
        Check {
            name: "garbage never accepted".into(),
            ok: accepted.is_empty(),
            detail: if accepted.is_empty() {
                "no malformed head was answered 2xx".into()
            } else {
                format!("answered 2xx: {}", accepted.join(", "))
            },
            ..Check::default()
        },
        Check {
            name: "healthz after garbage".into(),
            ok: garbage.healthz.ok(),
            detail: stress_healthz(&garbage.healthz),
            ..Check::default()
        },
        Check {
            name: "memory bound".into(),
            ok: garbage
                .memory_after_bytes
                .is_some_and(|bytes| bytes <= MEMORY_BOUND),
            detail: format!(
                "{} after the garbage (from {}), bound {} MiB",
                memory(garbage.memory_after_bytes),
                memory(garbage.memory_before_bytes),
                MEMORY_BOUND >> 20
            ),
            ..Check::default()
        },
        Check {
            name: "healthz while idle connections are held".into(),
            ok: idle.healthz.ok(),
            detail: format!(
                "{} with {} connections held",
                stress_healthz(&idle.healthz),
                idle.opened
            ),
            ..Check::default()
        },
        Check {
            name: "in-flight requests finish".into(),
            ok: stop.delay_ok == stop.delay_requests,
            detail: {
                let mut detail = format!(
                    "{} of {} GET /delay/{} answered 200 across the stop",
                    stop.delay_ok, stop.delay_requests, stop.delay_ms
                );
                for (why, count) in &stop.delay_failures {
                    detail.push_str(&format!("; {count}x {why}"));
                }
                detail
            },
            ..Check::default()
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_depends_on_the_seed_alone() {
        let run = |seed| {
            let mut rng = Rng::new(seed);
            (0..200)
                .map(|_| Garbage::random(&mut rng).bytes)
                .collect::<Vec<_>>()
        };
        assert_eq!(run(SEED), run(SEED));
        assert_ne!(run(SEED), run(SEED + 1));
    }

    #[test]
    fn every_kind_comes_up_in_proportion() {
        let mut rng = Rng::new(SEED);
        let mut counts = [0u64; Kind::ALL.len()];
        for _ in 0..10_000 {
            counts[Garbage::random(&mut rng).kind as usize] += 1;
        }
        for kind in Kind::ALL {
            let expected = kind.weight() * 100;
            let got = counts[kind as usize];
            assert!(
                got.abs_diff(expected) < expected / 4 + 20,
                "{}: {got} of 10,000, expected about {expected}",
                kind.name()
            );
        }
        let total: u64 = Kind::ALL.iter().map(|k| k.weight()).sum();
        assert_eq!(total, 100, "the weights are percentages");
    }

    #[test]
    fn kinds_are_listed_in_enum_order() {
        for (index, kind) in Kind::ALL.iter().enumerate() {
            assert_eq!(*kind as usize, index);
        }
    }

    #[test]
    fn the_garbage_is_what_it_says() {
        let mut rng = Rng::new(1);
        for _ in 0..50 {
            let huge = Garbage::of(Kind::HugeHeader, &mut rng);
            assert!(huge.bytes.len() > 100 * 1024);
            let nul = Garbage::of(Kind::NulBytes, &mut rng);
            assert_eq!(nul.bytes.iter().filter(|&&b| b == 0).count(), 1);
            assert!(nul.bytes.ends_with(b"\r\n\r\n"));
            let early = Garbage::of(Kind::EarlyClose, &mut rng);
            assert!(early.close_early && b"GET / HTTP/1.1".starts_with(&early.bytes));
            assert!(early.bytes.len() < b"GET / HTTP/1.1".len());
            let unknown = Garbage::of(Kind::UnknownMethod, &mut rng);
            let method = unknown.bytes.split(|&b| b == b' ').next().unwrap();
            assert!(method.len() >= 5 && method.iter().all(u8::is_ascii_uppercase));
            let crlfs = Garbage::of(Kind::LoneCrlfs, &mut rng);
            assert!(crlfs.bytes.chunks(2).all(|pair| pair == b"\r\n"));
        }
        let many = Garbage::of(Kind::ManyHeaders, &mut rng);
        let lines = many.bytes.split(|&b| b == b'\n').count();
        assert!(lines > 200);
    }

    #[test]
    fn status_lines_are_read() {
        assert_eq!(
            parse_status(b"HTTP/1.1 400 Bad Request\r\n"),
            Outcome::Status(400)
        );
        assert_eq!(parse_status(b"HTTP/1.0 200 OK"), Outcome::Status(200));
        assert_eq!(parse_status(b"HTTP/1.1 4"), Outcome::NotHttp);
        assert_eq!(parse_status(b"SSH-2.0-x"), Outcome::NotHttp);
    }

    #[test]
    fn outcomes_add_up() {
        let mut outcomes = Outcomes::default();
        for outcome in [
            Outcome::Status(204),
            Outcome::Status(431),
            Outcome::Status(505),
            Outcome::Status(301),
            Outcome::NotHttp,
            Outcome::Closed,
            Outcome::TimedOut,
            Outcome::ConnectFailed,
        ] {
            outcomes.add(outcome);
        }
        assert_eq!(outcomes.total(), 8);
        assert_eq!(outcomes.answered_other, 2);
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let samples: Vec<u32> = (1..=100).map(|ms| ms * 1000).collect();
        assert_eq!(percentile_ms(&samples, 0.50), 50.0);
        assert_eq!(percentile_ms(&samples, 0.99), 99.0);
        assert_eq!(percentile_ms(&[], 0.5), 0.0);
    }
}
