//! Phase 4: a fresh container stopped with requests in flight: continuous load on `GET /` and
//! slow `GET /delay/N` requests, then `docker stop`, after which every request is counted by
//! when and how it ended.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::load::{get_ok, REQUEST_TIMEOUT};
use super::plan::Plan;
use crate::engine::{root_cause, Engine};
use crate::model::stress::StopFigures;
use crate::runner::{self, Watch, STOP_GRACE};

/// The load connections, the slow requests and how slow, and when the stop comes.
const LOAD_CONNECTIONS: u32 = 50;
const DELAY_REQUESTS: u32 = 50;
const DELAY_MS: u64 = 1500;
const STOP_AFTER: Duration = Duration::from_millis(300);

/// How one request of the stop phase's load ended, and when.
enum Ended {
    Ok,
    /// The connection could not be made: nothing listens any more.
    Refused,
    /// Anything else: a reset, a close in mid-request, a bad status, a timeout.
    Failed,
}

/// Phase 4: continuous load and slow requests, then `docker stop` while they are in flight.
pub async fn phase(
    engine: &Engine,
    id: &str,
    plan: &Plan,
    watch: &dyn Watch,
) -> Result<StopFigures> {
    watch.begin(&format!(
        "stop under load: {LOAD_CONNECTIONS} connections on GET / and {DELAY_REQUESTS} \
         GET /delay/{DELAY_MS}, stopped {} ms after they were sent",
        STOP_AFTER.as_millis()
    ));
    let stopping = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    let url = format!("{}/", plan.base());
    let mut load = tokio::task::JoinSet::new();
    for _ in 0..LOAD_CONNECTIONS {
        let client = runner::http_client(REQUEST_TIMEOUT)?;
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
    let delay_client = runner::http_client(Duration::from_millis(DELAY_MS) + STOP_GRACE)?;
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
        load_connections: LOAD_CONNECTIONS,
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
    watch.done(&format!(
        "stop under load: stopped in {:.0} ms, {} of {} slow requests answered 200",
        figures.stop_ms, figures.delay_ok, figures.delay_requests
    ));
    Ok(figures)
}
