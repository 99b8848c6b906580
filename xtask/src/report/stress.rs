//! The `cargo xtask stress` report as the terminal shows it: the figures of each phase, the
//! garbage by kind, and the verdicts as PASS/FAIL lines like the checks of `compare`.
//!
//! Color is used only when `Style::color` says so; otherwise the text holds no escape sequence
//! at all, so that it can be piped, logged or compared.

use comfy_table::{Attribute, Cell, CellAlignment, Color, Table};

use super::human::{human_bytes, millis, printable, rate, thousands};
use super::terminal::{checks, paint, table, BOLD};
use super::Style;
use crate::model::stress::{Figures, Healthz, Outcomes, StressReport, Survival, Verdict};
use crate::model::Check;

/// Where the figures of a phase start, after its name.
const INDENT: &str = "          ";

pub fn render(report: &StressReport, style: Style) -> String {
    let mut out = String::new();
    out.push_str(&paint(
        style,
        BOLD,
        &format!("{} under stress", printable(&report.image)),
    ));
    out.push_str(&format!(
        " · {} · engine {}\n\n",
        printable(&report.security),
        printable(&report.engine)
    ));
    out.push_str(&load(report));
    out.push_str(&garbage(report, style));
    out.push_str(&idle(report));
    out.push_str(&stop(report));
    out.push_str(&checks(&report.checks, style));
    out
}

/// A phase: its name in a column of its own, then its lines of figures.
fn phase(name: &str, lines: &[String]) -> String {
    let mut out = String::new();
    for (index, line) in lines.iter().enumerate() {
        if index == 0 {
            out.push_str(&format!("{name:<width$}{line}\n", width = INDENT.len()));
        } else {
            out.push_str(&format!("{INDENT}{line}\n"));
        }
    }
    out.push('\n');
    out
}

fn memory(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "-".to_string(), human_bytes)
}

/// A bound set in binary units reads as it was set: `64 MiB`, not `67.1 MB`.
fn binary_bound(bytes: u64) -> String {
    const MIB: u64 = 1 << 20;
    if bytes > 0 && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else {
        human_bytes(bytes)
    }
}

fn seconds(ms: f64) -> String {
    format!("{:.1} s", ms / 1000.0)
}

fn load(report: &StressReport) -> String {
    let load = &report.load;
    phase(
        "load",
        &[
            format!(
                "{} keep-alive connections on GET {} for {}",
                load.connections,
                printable(&load.path),
                seconds(load.duration_ms)
            ),
            format!(
                "{} requests, {} errors, {} req/s, p50 {} ms, p99 {} ms, max {} ms",
                thousands(load.requests),
                thousands(load.errors),
                rate(load.requests_per_second),
                millis(load.p50_ms),
                millis(load.p99_ms),
                millis(load.max_ms)
            ),
            format!(
                "memory {} before, {} after",
                memory(load.memory_before_bytes),
                memory(load.memory_after_bytes)
            ),
        ],
    )
}

/// The outcome classes, in the order both the summary line and the table show them.
fn classes(outcomes: &Outcomes) -> [(&'static str, u64); 7] {
    [
        ("4xx", outcomes.answered_4xx),
        ("5xx", outcomes.answered_5xx),
        ("2xx", outcomes.answered_2xx),
        ("other", outcomes.answered_other),
        ("closed", outcomes.closed),
        ("timed out", outcomes.timed_out),
        ("no connect", outcomes.connect_failed),
    ]
}

fn survival(container: &Survival) -> String {
    let mut facts = vec![if container.running {
        "running".to_string()
    } else {
        match container.exit_code {
            Some(code) => format!("EXITED with code {code}"),
            None => "NOT RUNNING".to_string(),
        }
    }];
    facts.push(
        if container.same_container {
            "same container"
        } else {
            "NOT the same container"
        }
        .into(),
    );
    facts.push(
        if container.oom_killed {
            "OOM-KILLED"
        } else {
            "not OOM-killed"
        }
        .into(),
    );
    facts.join(", ")
}

fn healthz(answer: &Healthz) -> String {
    match (answer.status, answer.ms) {
        (Some(status), Some(ms)) => format!("status {status} in {} ms", millis(ms)),
        (Some(status), None) => format!("status {status}"),
        _ => format!(
            "NO ANSWER ({})",
            printable(answer.error.as_deref().unwrap_or("unknown error"))
        ),
    }
}

fn garbage(report: &StressReport, style: Style) -> String {
    let garbage = &report.garbage;
    let summary = classes(&garbage.outcomes)
        .iter()
        .map(|(class, count)| format!("{class} {}", thousands(*count)))
        .collect::<Vec<_>>()
        .join(" · ");
    let mut lines = vec![
        format!(
            "{} malformed requests, each on its own connection, {} at a time, {} s to answer \
             (seed {:#x}), in {}",
            thousands(garbage.requests),
            garbage.concurrency,
            garbage.answer_timeout_ms as f64 / 1000.0,
            garbage.seed,
            seconds(garbage.duration_ms)
        ),
        summary,
    ];
    lines.extend(
        kind_table(report, style)
            .to_string()
            .lines()
            .map(str::to_string),
    );
    lines.push(format!(
        "memory {} before, {} after (bound {})",
        memory(garbage.memory_before_bytes),
        memory(garbage.memory_after_bytes),
        binary_bound(garbage.memory_bound_bytes)
    ));
    lines.push(format!(
        "then GET /healthz: {}; the container: {}",
        healthz(&garbage.healthz),
        survival(&garbage.container)
    ));
    phase("garbage", &lines)
}

/// The garbage by kind: how many were sent, how they ended, and the status codes seen. A kind
/// for which a 2xx is wrong shows its 2xx count in red when there is one.
fn kind_table(report: &StressReport, style: Style) -> Table {
    let mut table = table(style);
    let mut headers = vec!["kind", "sent"];
    headers.extend(classes(&Outcomes::default()).map(|(class, _)| class));
    headers.push("statuses");
    table.set_header(headers.iter().map(|header| {
        let cell = Cell::new(header);
        if style.color {
            cell.add_attribute(Attribute::Bold)
        } else {
            cell
        }
    }));
    for kind in &report.garbage.kinds {
        let mut row = vec![
            Cell::new(printable(&kind.description)),
            Cell::new(thousands(kind.sent)),
        ];
        for (class, count) in classes(&kind.outcomes) {
            let cell = Cell::new(if count == 0 {
                "-".to_string()
            } else {
                thousands(count)
            });
            let wrong = class == "2xx" && count > 0 && !kind.may_succeed;
            row.push(match (style.color, wrong) {
                (true, true) => cell.fg(Color::Red).add_attribute(Attribute::Bold),
                _ => cell,
            });
        }
        let statuses = kind
            .statuses
            .iter()
            .map(|(status, count)| format!("{status}×{}", thousands(*count)))
            .collect::<Vec<_>>()
            .join(" ");
        row.push(Cell::new(if statuses.is_empty() {
            "-".to_string()
        } else {
            statuses
        }));
        table.add_row(row);
    }
    // Every column but the first and the last holds a count.
    for index in 1..=8 {
        if let Some(column) = table.column_mut(index) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    table
}

fn idle(report: &StressReport) -> String {
    let idle = &report.idle;
    let closed = idle.closed_silent + idle.closed_partial;
    let mut lines = vec![
        format!(
            "{} connections held: {} silent, {} with half a head (`GET / HTTP/1.1`, `Host: x`, \
             no blank line); {} opened",
            idle.connections, idle.silent, idle.partial, idle.opened
        ),
        format!(
            "while held: GET /healthz answered {}; memory {} (from {})",
            healthz(&idle.healthz),
            memory(idle.memory_held_bytes),
            memory(idle.memory_before_bytes)
        ),
        format!(
            "closed by the server within {}: {} of {} ({} of {} silent, {} of {} half-open)",
            seconds(idle.watch_ms as f64),
            closed,
            idle.opened,
            idle.closed_silent,
            idle.silent,
            idle.closed_partial,
            idle.partial
        ),
    ];
    if let (Some(first), Some(median), Some(last)) = (
        idle.close_first_ms,
        idle.close_median_ms,
        idle.close_last_ms,
    ) {
        lines.push(format!(
            "closed after {} (first), {} (median), {} (last), from each one's opening",
            seconds(first),
            seconds(median),
            seconds(last)
        ));
    }
    if !idle.answered.is_empty() {
        let answers = idle
            .answered
            .iter()
            .map(|(status, count)| format!("{status}×{}", thousands(*count)))
            .collect::<Vec<_>>()
            .join(" ");
        lines.push(format!("answered before the close: {answers}"));
    }
    lines.push(format!("then the container: {}", survival(&idle.container)));
    phase("idle", &lines)
}

fn stop(report: &StressReport) -> String {
    let stop = &report.stop;
    let mut lines = vec![
        format!(
            "a fresh container; {} connections of load on GET / and {} GET /delay/{}, stopped \
             {} ms after they were sent",
            stop.load_connections, stop.delay_requests, stop.delay_ms, stop.stop_after_ms
        ),
        format!(
            "docker stop took {} ms; exit code {}",
            thousands(stop.stop_ms.round() as u64),
            stop.exit_code
                .map_or_else(|| "-".to_string(), |code| code.to_string())
        ),
        format!(
            "slow requests answered 200: {} of {}",
            stop.delay_ok, stop.delay_requests
        ),
    ];
    for (why, count) in &stop.delay_failures {
        lines.push(format!("  {count}× {}", printable(why)));
    }
    lines.push(format!(
        "GET /: {} ok before the stop ({} errors), {} ok during the drain; after it began, {} \
         refused at connect and {} failed (closed or reset)",
        thousands(stop.ok_before_stop),
        thousands(stop.errors_before_stop),
        thousands(stop.ok_during_drain),
        thousands(stop.refused_after),
        thousands(stop.failed_after)
    ));
    phase("stop", &lines)
}

/// The verdicts as checks: each one's name, and the figures it was decided on in words.
pub fn verdicts(figures: &Figures, verdicts: &[(Verdict, bool)]) -> Vec<Check> {
    verdicts
        .iter()
        .map(|&(verdict, ok)| {
            let (name, detail) = verdict_words(figures, verdict);
            Check {
                name: name.into(),
                ok,
                detail,
                ..Check::default()
            }
        })
        .collect()
}

fn verdict_words(figures: &Figures, verdict: Verdict) -> (&'static str, String) {
    let Figures {
        load,
        garbage,
        idle,
        stop,
        ..
    } = figures;
    let memory = |bytes: Option<u64>| bytes.map_or_else(|| "unknown".to_string(), human_bytes);
    match verdict {
        Verdict::LoadWithoutErrors => (
            "load without errors",
            format!(
                "{} errors in {} requests",
                thousands(load.errors),
                thousands(load.requests)
            ),
        ),
        Verdict::NoCrash => (
            "no crash",
            format!(
                "after the garbage: {}; after the idle connections: {}",
                container_facts(&garbage.container),
                container_facts(&idle.container)
            ),
        ),
        Verdict::GarbageNeverAccepted => {
            let accepted: Vec<String> = garbage
                .kinds
                .iter()
                .filter(|k| k.accepted_wrongly())
                .map(|k| {
                    format!(
                        "{} ({} of {})",
                        printable(&k.kind),
                        thousands(k.outcomes.answered_2xx),
                        thousands(k.sent)
                    )
                })
                .collect();
            (
                "garbage never accepted",
                if accepted.is_empty() {
                    "no malformed head was answered 2xx".into()
                } else {
                    format!("answered 2xx: {}", accepted.join(", "))
                },
            )
        }
        Verdict::GarbageRefusedAsRequired => {
            let kinds: Vec<String> = garbage
                .kinds
                .iter()
                .filter_map(|k| {
                    let status = k.expected_status?;
                    let got = k.statuses.get(&status).copied().unwrap_or(0);
                    Some(format!(
                        "{}: {} of {} answered {status}",
                        printable(&k.kind),
                        thousands(got),
                        thousands(k.sent)
                    ))
                })
                .collect();
            (
                "garbage refused as required",
                if kinds.is_empty() {
                    "no kind of garbage requires a status".into()
                } else {
                    kinds.join("; ")
                },
            )
        }
        Verdict::HealthzAfterGarbage => ("healthz after garbage", healthz(&garbage.healthz)),
        Verdict::MemoryBound => (
            "memory bound",
            format!(
                "{} after the garbage (from {}), bound {}",
                memory(garbage.memory_after_bytes),
                memory(garbage.memory_before_bytes),
                binary_bound(garbage.memory_bound_bytes)
            ),
        ),
        Verdict::HealthzWhileIdle => (
            "healthz while idle connections are held",
            format!(
                "{} with {} connections held",
                healthz(&idle.healthz),
                idle.opened
            ),
        ),
        Verdict::InFlightFinish => ("in-flight requests finish", {
            let mut detail = format!(
                "{} of {} GET /delay/{} answered 200 across the stop",
                stop.delay_ok, stop.delay_requests, stop.delay_ms
            );
            for (why, count) in &stop.delay_failures {
                detail.push_str(&format!("; {count}x {}", printable(why)));
            }
            detail
        }),
    }
}

/// How a container came out of the abuse, as the `no crash` check says it.
fn container_facts(container: &Survival) -> String {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::stress::sample;

    #[test]
    fn plain_text_has_the_figures_and_no_escape_codes() {
        let text = render(&sample(true), Style { color: false });
        assert!(!text.contains('\x1b'), "{text}");
        for needle in [
            "webtest:multistage under stress",
            "200,000 requests, 0 errors, 10,000 req/s, p50 8.0 ms, p99 30.5 ms",
            "memory 1.00 MB before, - after",
            "4xx 100 · 5xx 0 · 2xx 0",
            "400×90",
            "then GET /healthz: status 200 in 1.3 ms",
            "(bound 64 MiB)",
            "NO ANSWER (connection reset)",
            "closed by the server within 15.0 s: 300 of 300",
            "answered before the close: 408×150",
            "docker stop took 1,234 ms; exit code 0",
            "slow requests answered 200: 50 of 50",
            "PASS load without errors",
            "all 2 checks hold",
        ] {
            assert!(text.contains(needle), "`{needle}` missing from:\n{text}");
        }
    }

    #[test]
    fn failures_are_named_and_colored_only_with_color() {
        let plain = render(&sample(false), Style { color: false });
        assert!(plain.contains("FAIL memory bound"));
        assert!(plain.contains("1 of 2 checks failed"));
        let colored = render(&sample(false), Style { color: true });
        assert!(colored.contains("\x1b[31m✗\x1b[0m"));
        assert!(!colored.contains("FAIL"));
    }

    #[test]
    fn verdicts_are_worded_with_their_figures() {
        let figures = Figures::from(sample(true));
        let checks = verdicts(
            &figures,
            &[
                (Verdict::MemoryBound, true),
                (Verdict::GarbageRefusedAsRequired, true),
                (Verdict::HealthzWhileIdle, false),
                (Verdict::NoCrash, true),
            ],
        );
        let words: Vec<(&str, bool, &str)> = checks
            .iter()
            .map(|c| (c.name.as_str(), c.ok, c.detail.as_str()))
            .collect();
        assert_eq!(
            words,
            [
                (
                    "memory bound",
                    true,
                    "2.00 MB after the garbage (from 1.00 MB), bound 64 MiB"
                ),
                (
                    "garbage refused as required",
                    true,
                    "length_and_chunked: 10 of 10 answered 400"
                ),
                (
                    "healthz while idle connections are held",
                    false,
                    "NO ANSWER (connection reset) with 300 connections held"
                ),
                (
                    "no crash",
                    true,
                    "after the garbage: running, GET / names the same container; after the idle \
                     connections: running, GET / names the same container"
                ),
            ]
        );
    }
}
