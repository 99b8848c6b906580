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
        "{:<6} {:>12} {:>21} {:>9} {:>17} {:>11} {:>10} {:>8} {:>11}  access log",
        "",
        "req/s",
        "(min–max)",
        "p99 ms",
        "(min–max)",
        "CPU µs/req",
        "core busy",
        "errors",
        "binary"
    );
    let mut rates = Vec::new();
    let mut idle = Vec::new();
    for service in &bench.services {
        let rps: Vec<f64> = service.runs.iter().map(|r| r.requests_per_second).collect();
        let p99: Vec<f64> = service.runs.iter().map(|r| r.p99_ms).collect();
        let cpu: Vec<f64> = service
            .runs
            .iter()
            .map(|r| r.cpu_us_per_request())
            .collect();
        let busy: Vec<f64> = service
            .runs
            .iter()
            .map(|r| r.core_busy(bench.duration_s))
            .collect();
        let errors: u64 = service.runs.iter().map(|r| r.errors).sum();
        let lines: u64 = service.runs.iter().map(|r| r.log_lines).sum();
        let requests: u64 = service.runs.iter().map(|r| r.requests).sum();
        let (rps_min, rps_max) = spread(&rps);
        let (p99_min, p99_max) = spread(&p99);
        let _ = writeln!(
            out,
            "{:<6} {:>12} {:>21} {:>9.2} {:>17} {:>11.1} {:>10} {:>8} {:>11}  {} ({} lines for {} requests)",
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
            format!("{:.0} %", median(&busy) * 100.0),
            errors,
            human_bytes(service.binary_bytes),
            service.log,
            thousands(lines),
            thousands(requests),
        );
        rates.push((service.service.as_str(), median(&rps), median(&cpu)));
        // Below nine tenths of its core the server waited for requests: wrk set its rate.
        if bench.duration_s > 0.0 && median(&busy) < 0.9 {
            idle.push(format!(
                "{} ({:.0} %)",
                service.service,
                median(&busy) * 100.0
            ));
        }
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
    if !idle.is_empty() {
        let _ = writeln!(
            out,
            "note: the server's core was not kept busy for {}: the load generator, not the \
             server, set that rate; run with --pipeline 16 to measure what the server can serve",
            idle.join(", ")
        );
    }
    out
}

/// The analysis against dive: per image, the medians and spreads of both tools' times, and our
/// time as a share of dive's; then ours without deflating (as `compare` runs it, the registry
/// round trip giving the compressed size; dive computes none either) against dive's same times,
/// when the file has it.
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
        if !image.ours_no_compressed_cold_s.is_empty() {
            let _ = writeln!(
                out,
                "  ours without deflating (as compare, the registry giving the compressed size): cold {} ours/dive {:.2} \
                 (target ≤ 1), after edit {} ours/dive {:.2}",
                cell(&image.ours_no_compressed_cold_s),
                median(&image.ours_no_compressed_cold_s) / median(&image.dive_cold_s).max(1e-9),
                cell(&image.ours_no_compressed_edit_s),
                median(&image.ours_no_compressed_edit_s) / median(&image.dive_edit_s).max(1e-9)
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::bench::{AnalysisTimes, LoadSample, ServiceFigures};

    fn service(name: &str, rps: f64, cpu_ms: f64) -> ServiceFigures {
        ServiceFigures {
            service: name.into(),
            binary: format!("/bin/{name}"),
            binary_bytes: 1_000_000,
            log: "/dev/null".into(),
            runs: vec![LoadSample {
                requests: (rps * 10.0) as u64,
                errors: 0,
                requests_per_second: rps,
                p50_ms: 1.0,
                p99_ms: 2.0,
                log_lines: (rps * 10.0) as u64,
                server_cpu_ms: cpu_ms,
            }],
        }
    }

    fn bench(services: Vec<ServiceFigures>) -> HttpBench {
        HttpBench {
            load: "wrk 4.1.0, 1 thread".into(),
            server_cpu: 0,
            load_cpu: 1,
            pipeline: 1,
            duration_s: 10.0,
            services,
        }
    }

    fn times(no_compressed: bool) -> AnalysisTimes {
        AnalysisTimes {
            image: "webtest:simples".into(),
            size_bytes: 1_020_000_000,
            layers: 9,
            ours_cold_s: vec![7.9, 8.1, 7.8],
            dive_cold_s: vec![2.4, 2.5, 2.3],
            ours_edit_s: vec![0.5, 0.4, 0.6],
            dive_edit_s: vec![2.0, 2.1, 2.2],
            shared_layers: 8,
            ours_no_compressed_cold_s: if no_compressed {
                vec![1.2, 1.1, 1.3]
            } else {
                Vec::new()
            },
            ours_no_compressed_edit_s: if no_compressed {
                vec![0.2, 0.3, 0.1]
            } else {
                Vec::new()
            },
        }
    }

    #[test]
    fn a_server_that_waited_for_requests_is_named_with_its_busy_share() {
        // Rust used 4.1 s of CPU in 10 s (41 %), Go 9.6 s (96 %): only Rust's rate was wrk's.
        let text = bench_http(&bench(vec![
            service("rust", 44_000.0, 4_100.0),
            service("go", 31_000.0, 9_600.0),
        ]));
        assert!(text.contains("41 %") && text.contains("96 %"), "{text}");
        assert!(
            text.contains("not kept busy for rust (41 %)") && !text.contains("go (96 %)"),
            "{text}"
        );
        assert!(text.contains("rust serves 1.42x"), "{text}");
    }

    #[test]
    fn servers_that_were_kept_busy_get_no_note() {
        let text = bench_http(&bench(vec![
            service("rust", 90_000.0, 9_900.0),
            service("go", 45_000.0, 9_800.0),
        ]));
        assert!(!text.contains("note:"), "{text}");
        assert!(text.contains("rust serves 2.00x"), "{text}");
    }

    #[test]
    fn ours_without_the_compressed_size_gets_a_line_of_its_own_against_dive() {
        let text = bench_dive(&DiveBench {
            dive: "dive 0.13.1".into(),
            images: vec![times(true)],
        });
        assert!(
            text.contains("cold:       ours 7.90 (7.80–8.10)")
                && text.contains("ours/dive 3.29 (target ≤ 1)"),
            "{text}"
        );
        assert!(
            text.contains("after edit: ours 0.50 (0.40–0.60)")
                && text.contains("ours/dive 0.24 (target ≤ 0.33)"),
            "{text}"
        );
        assert!(
            text.contains(
                "ours without deflating (as compare, the registry giving the compressed size): cold 1.20 (1.10–1.30) ours/dive 0.50 \
                 (target ≤ 1), after edit 0.20 (0.10–0.30) ours/dive 0.10"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_file_from_before_the_light_analysis_reads_and_renders_as_it_did() {
        let mut old = serde_json::to_value(times(false)).unwrap();
        let fields = old.as_object_mut().unwrap();
        fields.remove("ours_no_compressed_cold_s");
        fields.remove("ours_no_compressed_edit_s");
        let read: AnalysisTimes = serde_json::from_value(old).unwrap();
        assert_eq!(read, times(false));
        let text = bench_dive(&DiveBench {
            dive: "dive 0.13.1".into(),
            images: vec![read],
        });
        assert!(!text.contains("without the compressed size"), "{text}");
        assert_eq!(text.lines().count(), 4, "{text}");
    }
}
