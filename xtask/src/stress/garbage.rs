//! Phase 2: thousands of malformed requests from the [corpus](super::corpus), each on its own
//! connection, classified by what the server answered; then the questions that matter: is it
//! the same container, alive, answering, and within its memory?

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Result;
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::corpus::{Garbage, Rng, KINDS};
use super::plan::Plan;
use super::probe;
use crate::engine::Engine;
use crate::model::stress::{GarbageFigures, KindFigures, Outcome, Outcomes};
use crate::runner::Watch;

/// The seed of the garbage, fixed so that two runs send the same bytes in the same order.
pub const SEED: u64 = 0x5EED_0F57_E55E;
/// How many garbage requests (and idle connections being opened) are in flight at once.
pub const CONCURRENCY: usize = 32;
/// How long a garbage request waits to connect, to write, and then for the first byte of an
/// answer. A server that waits for the rest of an incomplete request is `timed out`, which is
/// a correct reaction, so this stays short to keep the phase short.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(2);
/// The memory the container may use after the garbage: a server that buffers what it is sent,
/// or leaks per connection, goes far beyond this after ten thousand connections.
const MEMORY_BOUND: u64 = 64 * 1024 * 1024;

pub async fn phase(
    engine: &Engine,
    id: &str,
    client: &reqwest::Client,
    plan: &Plan,
    watch: &dyn Watch,
) -> Result<GarbageFigures> {
    watch.begin(&format!(
        "garbage: {} malformed requests, {CONCURRENCY} at a time, each on its own connection",
        plan.garbage
    ));
    let memory_before = engine.memory(id).await.ok();
    let addr = plan.addr();
    let started = Instant::now();
    // The requests are made in order from one generator, before they are sent out of order, so
    // that the bytes sent depend on the seed alone.
    let mut rng = Rng::new(SEED);
    let results: Vec<(usize, Outcome)> = futures_util::stream::iter(0..plan.garbage)
        .map(|_| {
            let garbage = Garbage::random(&mut rng);
            async move { (garbage.kind, send(addr, &garbage).await) }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;

    let mut outcomes = Outcomes::default();
    let mut kinds: Vec<KindFigures> = KINDS
        .iter()
        .map(|kind| KindFigures {
            kind: kind.name.into(),
            description: kind.description.into(),
            may_succeed: kind.expect.may_succeed(),
            expected_status: kind.expect.status(),
            sent: 0,
            outcomes: Outcomes::default(),
            statuses: BTreeMap::new(),
        })
        .collect();
    for (kind, outcome) in results {
        outcomes.add(outcome);
        let figures = &mut kinds[kind];
        figures.sent += 1;
        figures.outcomes.add(outcome);
        if let Outcome::Status(status) = outcome {
            *figures.statuses.entry(status).or_default() += 1;
        }
    }

    let healthz = probe::healthz(client, plan).await;
    let memory_after = engine.memory(id).await.ok();
    let container = probe::survival(engine, id, client, plan).await?;
    watch.done(&format!(
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
        concurrency: CONCURRENCY as u32,
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

/// Sends one garbage request on a connection of its own and classifies the answer.
async fn send(addr: SocketAddr, garbage: &Garbage) -> Outcome {
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
    if garbage.kind().close_early {
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
pub fn parse_status(answer: &[u8]) -> Outcome {
    let status = answer
        .strip_prefix(b"HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .filter(|digits| digits.iter().all(u8::is_ascii_digit))
        .and_then(|digits| std::str::from_utf8(digits).ok()?.parse().ok());
    status.map_or(Outcome::NotHttp, Outcome::Status)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
