//! The runs of an app's variants, one at a time since they share the host port: each variant
//! that runs is started `starts` times (the ready time is their median), and its first start is
//! also probed, measured (memory idle and after load) and loaded; every start is stopped (timed)
//! and removed.
//!
//! The figures of an image are kept by its ID and by everything else the run depended on (the
//! engine, the port, the security settings, the probes, the load, the number of starts), as the
//! registry round trip's are: a `compare` with nothing changed starts nothing and says so, and
//! `--fresh` runs every variant again. A run that failed is never kept, so it is tried again.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures_util::StreamExt;

use super::App;
use crate::engine::{Engine, Security};
use crate::figure_cache::FigureCache;
use crate::manifest::Manifest;
use crate::model::{Check, ImageReport, LoadReport, ProbeResult, RunReport, RunSecurity};
use crate::runner::{self, median, percentile, NotReady, Service, STOP_GRACE};

/// Bumped when the meaning of a run's figure changes, so that older entries are run again.
const FORMAT: &str = "v1";

/// Runs every variant of `images` that runs, or takes its figures from the cache; a run that
/// fails is a failed check (with the container's logs shown), not an error of the command.
pub(super) async fn run_all(app: &App<'_>, images: &mut [ImageReport]) -> Result<Vec<Check>> {
    let (engine, manifest, plan, progress) = (app.engine, app.manifest, app.plan, app.progress);
    let cache: FigureCache<RunReport> =
        FigureCache::under(&app.ctx.out_dir(), "run-cache", FORMAT).fresh(plan.fresh);
    let runs = Runs {
        engine,
        client: runner::http_client(Duration::from_secs(5))?,
        manifest,
        starts: plan.starts,
    };
    let mut checks = Vec::new();
    for image in images.iter_mut() {
        let variant = &manifest.variants[&image.variant];
        if !variant.run {
            continue;
        }
        let service = Service {
            image: &image.tag,
            publish: plan.publish(manifest),
            security: security_of(variant),
            tmpfs: &variant.tmpfs,
            ready_timeout: Duration::from_secs(manifest.run.ready_timeout_secs),
            probe_host: plan.probe_host,
        };
        let key = key(&runs, &image.id, &service);
        if let Some(run) = cache.get(&key) {
            progress.note(&format!(
                "run {}: unchanged image, figures from the cache (ready in {} ms, stopped in {} ms; --fresh runs it again)",
                image.tag, run.ready_ms, run.stop_ms
            ));
            image.run = Some(RunReport {
                cached: true,
                ..run
            });
            continue;
        }
        let phase = progress.phase(&format!(
            "run {}: {} start(s) on {}",
            image.tag,
            plan.starts,
            std::net::SocketAddr::new(plan.probe_host, plan.port)
        ));
        match run_variant(&runs, &service).await {
            Ok(run) => {
                phase.finish(&format!(
                    "run {}: ready in {} ms, stopped in {} ms, probes {}",
                    image.tag,
                    run.ready_ms,
                    run.stop_ms,
                    if run.probes_ok { "ok" } else { "FAILED" }
                ));
                cache
                    .put(&key, &run)
                    .with_context(|| format!("keep the run of {}", image.tag))?;
                image.run = Some(run);
            }
            Err(err) => {
                phase.fail(&format!("run {} failed: {err:#}", image.tag));
                if let Some(not_ready) = err.downcast_ref::<NotReady>() {
                    progress.note(&crate::report::container_logs(&image.tag, &not_ready.logs));
                }
                // An error is already words: the engine's or the runner's message.
                checks.push(Check {
                    name: format!("run {}", image.variant),
                    image: image.variant.clone(),
                    detail: format!("{err:#}"),
                    ..Check::default()
                });
            }
        }
    }
    Ok(checks)
}

/// Everything a run's figures depend on besides the image's content: the engine it ran on,
/// how the container was started and reached, and what was asked of it.
fn key(runs: &Runs<'_>, id: &str, service: &Service<'_>) -> String {
    format!(
        "{id}\n{}\n{service:?}\nstarts {}\nprobes {:?}\nload {:?}",
        runs.engine.endpoint(),
        runs.starts,
        runs.manifest.probe,
        runs.manifest.run.load
    )
}

/// What only the first start of a variant measures.
struct FirstStart {
    probes: Vec<ProbeResult>,
    /// Memory in use when idle, then after the load.
    idle: u64,
    after: Option<u64>,
    load: Option<LoadReport>,
    security: RunSecurity,
}

/// What every run of the variants shares: the engine, one HTTP client, the manifest's probes and
/// load, and how many times each variant starts.
struct Runs<'a> {
    engine: &'a Engine,
    client: reqwest::Client,
    manifest: &'a Manifest,
    starts: u32,
}

/// How a variant's container runs: hardened when the manifest says so, else with the engine's
/// defaults. One rule for the registry round trip's start and for the runs.
pub(super) fn security_of(variant: &crate::manifest::Variant) -> Security {
    if variant.hardened {
        Security::Hardened
    } else {
        Security::Default
    }
}

/// Starts a variant `runs.starts` times; the first start is also probed, measured and loaded.
async fn run_variant(runs: &Runs<'_>, service: &Service<'_>) -> Result<RunReport> {
    let Runs {
        engine,
        client,
        manifest,
        starts,
    } = runs;
    let base = service.base();
    let mut ready = Vec::new();
    let mut stops = Vec::new();
    let mut first: Option<FirstStart> = None;
    for _ in 0..*starts {
        let runner::Started {
            id,
            ready: ready_in,
        } = runner::start(engine, client, service).await?;
        let measured = async {
            let ready_ms = ready_in.as_millis() as u64;
            if first.is_none() {
                let facts = engine.container(&id).await?;
                let probes = probe(client, &base, manifest).await;
                let idle = engine.memory(&id).await?;
                let load = if manifest.run.load.requests > 0 {
                    Some(load(client, &base, manifest).await)
                } else {
                    None
                };
                let after = if load.is_some() {
                    Some(engine.memory(&id).await?)
                } else {
                    None
                };
                first = Some(FirstStart {
                    probes,
                    idle,
                    after,
                    load,
                    security: RunSecurity {
                        read_only_rootfs: facts.read_only_rootfs,
                        cap_drop: facts.cap_drop,
                        no_new_privileges: facts.no_new_privileges,
                        user: facts.user,
                        published: facts.published,
                        tmpfs: facts.tmpfs,
                    },
                });
            }
            let stop_ms = engine.stop(&id, STOP_GRACE).await?.as_millis() as u64;
            Ok::<_, anyhow::Error>((ready_ms, stop_ms))
        }
        .await;
        let removed = engine.remove(&id).await;
        let (ready_ms, stop_ms) = measured?;
        removed?;
        ready.push(ready_ms);
        stops.push(stop_ms);
    }
    let FirstStart {
        probes,
        idle,
        after,
        load,
        security,
    } = first.context("the variant never started")?;
    Ok(RunReport {
        ready_ms: median(&ready),
        ready_samples_ms: ready,
        stop_ms: median(&stops),
        memory_bytes: idle,
        memory_after_load_bytes: after,
        probes_ok: probes.iter().all(|p| p.ok),
        probes,
        load,
        security,
        cached: false,
    })
}

async fn probe(client: &reqwest::Client, base: &str, manifest: &Manifest) -> Vec<ProbeResult> {
    let mut results = Vec::new();
    for probe in &manifest.probe {
        let url = format!("{base}{}", probe.path);
        let answer = match client.get(&url).send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                response
                    .text()
                    .await
                    .map(|body| (status, body))
                    .map_err(|e| e.to_string())
            }
            Err(err) => Err(err.to_string()),
        };
        let result = match answer {
            Err(err) => ProbeResult {
                path: probe.path.clone(),
                expected_status: probe.status,
                status: None,
                ok: false,
                detail: err,
            },
            Ok((status, body)) => {
                let mut problems = Vec::new();
                if status != probe.status {
                    problems.push(format!("status {status}, expected {}", probe.status));
                }
                if let Some(needle) = &probe.body_contains {
                    if !body.contains(needle.as_str()) {
                        problems.push(format!("body lacks `{needle}`"));
                    }
                }
                ProbeResult {
                    path: probe.path.clone(),
                    expected_status: probe.status,
                    status: Some(status),
                    ok: problems.is_empty(),
                    detail: problems.join(", "),
                }
            }
        };
        results.push(result);
    }
    results
}

/// A burst of requests at a fixed concurrency, with one connection pool as a real client has.
async fn load(client: &reqwest::Client, base: &str, manifest: &Manifest) -> LoadReport {
    let spec = &manifest.run.load;
    let url = format!("{base}{}", spec.path);
    let started = Instant::now();
    let results: Vec<Option<f64>> = futures_util::stream::iter(0..spec.requests)
        .map(|_| {
            let request = client.get(&url);
            async move {
                let sent = Instant::now();
                match request.send().await {
                    Ok(response) if response.status().is_success() => response
                        .bytes()
                        .await
                        .ok()
                        .map(|_| sent.elapsed().as_secs_f64() * 1000.0),
                    _ => None,
                }
            }
        })
        .buffer_unordered(spec.concurrency as usize)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let mut latencies: Vec<f64> = results.iter().flatten().copied().collect();
    latencies.sort_by(f64::total_cmp);
    LoadReport {
        path: spec.path.clone(),
        requests: spec.requests,
        concurrency: spec.concurrency,
        errors: (results.len() - latencies.len()) as u64,
        duration_ms: elapsed.as_secs_f64() * 1000.0,
        requests_per_second: spec.requests as f64 / elapsed.as_secs_f64().max(1e-9),
        p50_ms: percentile(&latencies, 0.50),
        p99_ms: percentile(&latencies, 0.99),
    }
}
