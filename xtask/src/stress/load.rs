//! The load generator of phase 1: keep-alive connections, each a client of its own, looping on
//! `GET /` until a deadline, every latency kept. The stop phase sends its load with the same
//! one request, [`get_ok`].

use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::plan::Plan;
use crate::engine::Engine;
use crate::model::stress::LoadFigures;
use crate::runner::{self, percentile, Watch};

/// How long an HTTP request of the load may take before it counts as an error.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Phase 1: `plan.connections` tasks, each with a client of its own (so exactly one keep-alive
/// connection each), looping on `GET /` until the deadline.
pub async fn phase(
    engine: &Engine,
    id: &str,
    plan: &Plan,
    watch: &dyn Watch,
) -> Result<LoadFigures> {
    watch.begin(&format!(
        "load: {} keep-alive connections on GET / for {} s",
        plan.connections,
        plan.duration.as_secs()
    ));
    let memory_before = engine.memory(id).await.ok();
    let url = format!("{}/", plan.base());
    // The clients are made before the clock starts: making one is not what is measured.
    let clients = (0..plan.connections)
        .map(|_| runner::http_client(REQUEST_TIMEOUT))
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
    let ms = |us: u32| f64::from(us) / 1000.0;
    let figures = LoadFigures {
        path: "/".into(),
        connections: plan.connections,
        duration_ms: elapsed.as_secs_f64() * 1000.0,
        requests,
        errors,
        requests_per_second: requests as f64 / elapsed.as_secs_f64().max(1e-9),
        p50_ms: ms(percentile(&latencies, 0.50)),
        p99_ms: ms(percentile(&latencies, 0.99)),
        max_ms: latencies.last().copied().map_or(0.0, ms),
        memory_before_bytes: memory_before,
        memory_after_bytes: memory_after,
    };
    watch.done(&format!(
        "load: {} requests, {} errors, {:.0} req/s",
        figures.requests, figures.errors, figures.requests_per_second
    ));
    Ok(figures)
}

/// One `GET` that must be answered 2xx with its whole body.
pub async fn get_ok(client: &reqwest::Client, url: &str) -> Result<(), reqwest::Error> {
    client
        .get(url)
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await
        .map(|_| ())
}
