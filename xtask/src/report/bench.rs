//! The figures of `cargo xtask bench` in words: the services' requests per second and p99 (the
//! median over the runs, and their spread), and the analysis times beside dive's.

use std::fmt::Write;

use super::human::{human_bytes, thousands};
use crate::model::bench::{median, spread, DiveBench, HttpBench};

/// The HTTP benchmark: one block per service, then Rust's rate over Go's.
pub fn bench_http(bench: &HttpBench) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "HTTP on loopback, no container: server on core {}, load on core {} ({})",
        bench.server_cpu, bench.load_cpu, bench.load
    );
    let _ = writeln!(
        out,
        "{:<6} {:>12} {:>21} {:>9} {:>17} {:>11} {:>8} {:>11}  access log",
        "", "req/s", "(min–max)", "p99 ms", "(min–max)", "CPU µs/req", "errors", "binary"
    );
    let mut rates = Vec::new();
    for service in &bench.services {
        let rps: Vec<f64> = service.runs.iter().map(|r| r.requests_per_second).collect();
        let p99: Vec<f64> = service.runs.iter().map(|r| r.p99_ms).collect();
        let cpu: Vec<f64> = service
            .runs
            .iter()
            .map(|r| r.cpu_us_per_request())
            .collect();
        let errors: u64 = service.runs.iter().map(|r| r.errors).sum();
        let lines: u64 = service.runs.iter().map(|r| r.log_lines).sum();
        let requests: u64 = service.runs.iter().map(|r| r.requests).sum();
        let (rps_min, rps_max) = spread(&rps);
        let (p99_min, p99_max) = spread(&p99);
        let _ = writeln!(
            out,
            "{:<6} {:>12} {:>21} {:>9.2} {:>17} {:>11.1} {:>8} {:>11}  {} ({} lines for {} requests)",
            service.service,
            thousands(median(&rps).round() as u64),
            format!(
                "({}–{})",
                thousands(rps_min.round() as u64),
                thousands(rps_max.round() as u64)
            ),
            median(&p99),
            format!("({p99_min:.2}–{p99_max:.2})"),
            median(&cpu),
            errors,
            human_bytes(service.binary_bytes),
            service.log,
            thousands(lines),
            thousands(requests),
        );
        rates.push((service.service.as_str(), median(&rps), median(&cpu)));
    }
    if let [(a, a_rate, a_cpu), (b, b_rate, b_cpu)] = rates.as_slice() {
        let _ = writeln!(
            out,
            "{a} serves {:.2}x the requests per second of {b}, and spends {:.2}x less CPU per \
             request (medians of {} runs)",
            a_rate / b_rate.max(1e-9),
            b_cpu / a_cpu.max(1e-9),
            bench.services.first().map_or(0, |s| s.runs.len())
        );
    }
    out
}

/// The analysis against dive: per image, the medians and spreads of both tools' times, and our
/// time as a share of dive's.
pub fn bench_dive(bench: &DiveBench) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Analysis of docker-archive files, ours against {} (seconds: median (min–max))",
        bench.dive
    );
    let cell = |samples: &[f64]| {
        let (min, max) = spread(samples);
        format!("{:.2} ({min:.2}–{max:.2})", median(samples))
    };
    for image in &bench.images {
        let _ = writeln!(
            out,
            "{}: {}, {} layers; after the edit {} of them are unchanged",
            image.image,
            human_bytes(image.size_bytes),
            image.layers,
            image.shared_layers
        );
        let _ = writeln!(
            out,
            "  cold:       ours {:<22} dive {:<22} ours/dive {:.2} (target ≤ 1)",
            cell(&image.ours_cold_s),
            cell(&image.dive_cold_s),
            median(&image.ours_cold_s) / median(&image.dive_cold_s).max(1e-9)
        );
        let _ = writeln!(
            out,
            "  after edit: ours {:<22} dive {:<22} ours/dive {:.2} (target ≤ 0.33)",
            cell(&image.ours_edit_s),
            cell(&image.dive_edit_s),
            median(&image.ours_edit_s) / median(&image.dive_edit_s).max(1e-9)
        );
    }
    out
}
