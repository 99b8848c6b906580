//! Phase 3: hundreds of connections that send nothing or half a request head, held open while
//! `GET /healthz` must still answer, then watched until the server closes them.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Result;
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::garbage::{parse_status, ANSWER_TIMEOUT, CONCURRENCY};
use super::plan::Plan;
use super::probe;
use crate::engine::Engine;
use crate::model::stress::{IdleFigures, Outcome};
use crate::runner::{median, Watch};

/// How long the phase watches its connections for the server to close them: three times the
/// service's header read timeout.
const WATCH: Duration = Duration::from_secs(15);
/// The head the half-open connections send before they fall silent.
const PARTIAL_HEAD: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n";

/// Phase 3: connections that send nothing, or half a head, held while `GET /healthz` must
/// still answer, then watched until the server closes them.
pub async fn phase(
    engine: &Engine,
    id: &str,
    client: &reqwest::Client,
    plan: &Plan,
    watch: &dyn Watch,
) -> Result<IdleFigures> {
    let partial_count = plan.idle / 2;
    watch.begin(&format!(
        "idle: {} connections held ({} silent, {partial_count} with half a head), watched for {} s",
        plan.idle,
        plan.idle - partial_count,
        WATCH.as_secs()
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
        .buffer_unordered(CONCURRENCY)
        .filter_map(|opened| async move { opened })
        .collect()
        .await;
    let watch_from = Instant::now();

    let healthz = probe::healthz(client, plan).await;
    let memory_held = engine.memory(id).await.ok();

    // Each connection reads until the server closes it or the watch ends; anything it reads
    // first is an answer (a 408, say) and is kept.
    let watch_until = tokio::time::Instant::from_std(watch_from + WATCH);
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
    let container = probe::survival(engine, id, client, plan).await?;
    let figures = IdleFigures {
        connections: plan.idle,
        silent: plan.idle - partial_count,
        partial: partial_count,
        opened: watched.len() as u32,
        memory_before_bytes: memory_before,
        memory_held_bytes: memory_held,
        healthz,
        watch_ms: WATCH.as_millis() as u64,
        closed_silent,
        closed_partial,
        answered,
        close_first_ms: closes.first().copied(),
        close_median_ms: (!closes.is_empty()).then(|| median(&closes)),
        close_last_ms: closes.last().copied(),
        container,
    };
    watch.done(&format!(
        "idle: {} of {} closed by the server within {} s",
        closed_silent + closed_partial,
        figures.opened,
        WATCH.as_secs()
    ));
    Ok(figures)
}
