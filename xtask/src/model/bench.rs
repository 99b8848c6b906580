//! The figures of `cargo xtask bench`: the Rust and the Go service under the same load, and the
//! image analysis against dive's. Plain data, written to `target/xtask/bench.json` and read by
//! the renderer; nothing here does I/O.

use serde::{Deserialize, Serialize};

/// One service under load, over every run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceFigures {
    /// `rust` or `go`.
    pub service: String,
    /// The binary that served, as its image ships it.
    pub binary: String,
    pub binary_bytes: u64,
    /// Where its access log went (a file, or `/dev/null`).
    pub log: String,
    /// One entry per run, in the order they ran.
    pub runs: Vec<LoadSample>,
}

/// One load run against one service.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LoadSample {
    pub requests: u64,
    /// Socket errors and answers other than 2xx/3xx.
    pub errors: u64,
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Access-log lines the service wrote during the run.
    pub log_lines: u64,
    /// The CPU time (user and system, every thread) the server used while wrk ran, in
    /// milliseconds: its cost per request holds even on a machine shared with other work, where
    /// the rate does not.
    #[serde(default)]
    pub server_cpu_ms: f64,
}

impl LoadSample {
    /// The server's CPU time per request, in microseconds.
    pub fn cpu_us_per_request(&self) -> f64 {
        self.server_cpu_ms * 1000.0 / (self.requests.max(1) as f64)
    }
}

/// What `bench` measured for the HTTP services.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpBench {
    /// The load generator and its settings, e.g. `wrk 4.1.0, 1 thread, 64 connections, 10 s`.
    pub load: String,
    pub server_cpu: usize,
    pub load_cpu: usize,
    /// Requests sent at once on each connection (1: one at a time).
    #[serde(default = "one")]
    pub pipeline: u32,
    /// Seconds of load per run.
    #[serde(default)]
    pub duration_s: f64,
    pub services: Vec<ServiceFigures>,
}

fn one() -> u32 {
    1
}

impl LoadSample {
    /// The share of its core the server used while loaded (1.0 = the whole core), given the
    /// run's length: well under 1, the load generator, not the server, set the rate.
    pub fn core_busy(&self, duration_s: f64) -> f64 {
        if duration_s <= 0.0 {
            return 0.0;
        }
        self.server_cpu_ms / 1000.0 / duration_s
    }
}

/// One image analysed by us and by dive, cold and after a one-line source edit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalysisTimes {
    pub image: String,
    pub size_bytes: u64,
    pub layers: usize,
    /// Seconds per run, in the order they ran.
    pub ours_cold_s: Vec<f64>,
    pub dive_cold_s: Vec<f64>,
    /// After an edit only the top layer(s) differ; ours reads only those, dive reads all.
    pub ours_edit_s: Vec<f64>,
    pub dive_edit_s: Vec<f64>,
    /// How many layers the edited image shares with the original.
    pub shared_layers: usize,
    /// Ours without the compressed size (plain layers not deflated, which dive does not do
    /// either), cold, from a cache of its own. Empty in files written before it was measured.
    #[serde(default)]
    pub ours_no_compressed_cold_s: Vec<f64>,
    /// The same after the edit, with the cache its cold run left.
    #[serde(default)]
    pub ours_no_compressed_edit_s: Vec<f64>,
}

/// What `bench --against-dive` measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiveBench {
    /// e.g. `dive 0.13.1`.
    pub dive: String,
    pub images: Vec<AnalysisTimes>,
}

/// The median of a few samples (the upper middle one for an even count).
pub fn median(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}

/// The smallest and the largest sample.
pub fn spread(samples: &[f64]) -> (f64, f64) {
    let min = samples.iter().copied().fold(f64::INFINITY, f64::min);
    let max = samples.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if samples.is_empty() {
        (0.0, 0.0)
    } else {
        (min, max)
    }
}
