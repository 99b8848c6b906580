//! Every rendering of a `Report` meant for people: the terminal table, `report.md`, the sizes
//! chart and the pretty JSON.
//!
//! This is the only module that formats output for people, so that the figures read the same
//! wherever they appear. Every function here is pure: it takes a report and returns text, does no
//! I/O and stamps no time, so the same report always renders to the same bytes and the golden
//! tests in `tests.rs` can pin the output down.

mod analysis;
mod apps;
mod bench;
mod checks;
mod edit_cost;
mod human;
mod markdown;
pub mod progress;
mod shipping;
mod stress;
mod svg;
mod terminal;

#[cfg(test)]
mod tests;

use crate::model::{Check, ImageReport, Report};

pub use bench::{bench_dive, bench_http};
pub use checks::{describe, describe_all};
pub use human::{human_bytes, ran_with};

/// How output for people looks; decided once in main from NO_COLOR and whether stdout is a terminal.
#[derive(Clone, Copy, Debug)]
pub struct Style {
    /// Whether ANSI colors and the ✓/✗ markers may be used.
    pub color: bool,
}

impl Style {
    /// Colors only when stdout is a terminal and NO_COLOR is unset or empty.
    ///
    /// The convention (https://no-color.org) is that NO_COLOR set to any non-empty value turns
    /// color off, while an empty value counts as unset.
    pub fn detect() -> Style {
        use std::io::IsTerminal;
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
        Style {
            color: !no_color && std::io::stdout().is_terminal(),
        }
    }
}

/// The summary table, one row per image, for the terminal.
pub fn terminal(report: &Report, style: Style) -> String {
    terminal::render(report, style)
}

/// `report.md`: the summary, the checks, a size chart and per-image details.
///
/// `svg_name` is the file name of the chart written next to the Markdown, if any; it is
/// referenced as an image so that the log-scale chart shows up where the Markdown is rendered.
pub fn markdown(report: &Report, svg_name: Option<&str>) -> String {
    markdown::render(report, svg_name)
}

/// The figures and verdicts of `cargo xtask stress`, for the terminal.
pub fn stress_terminal(report: &crate::model::stress::StressReport, style: Style) -> String {
    stress::render(report, style)
}

/// The verdicts of `cargo xtask stress` as checks: each named, with its figures in words.
pub fn stress_checks(
    figures: &crate::model::stress::Figures,
    verdicts: &[(crate::model::stress::Verdict, bool)],
) -> Vec<Check> {
    stress::verdicts(figures, verdicts)
}

/// The end of what a container that never got ready printed, as a note under its failure.
pub fn container_logs(image: &str, logs: &str) -> String {
    format!(
        "--- the logs of {image} (last 30 lines; the container is removed) ---\n{}\n---",
        if logs.trim().is_empty() {
            "(it printed nothing)"
        } else {
            logs.trim_end()
        }
    )
}

/// The figures of one image as `cargo xtask analyze` shows them: the image's figures, its layers,
/// its largest files and dive's inefficient paths.
pub fn analysis(image: &ImageReport, analysis: &image_analysis::Analysis, style: Style) -> String {
    analysis::render(image, analysis, style)
}

/// One image entry of `report.json` as pretty JSON with a trailing newline.
pub fn image_json(image: &ImageReport) -> String {
    // As for `json`: the model always serializes.
    let mut text = serde_json::to_string_pretty(image).expect("an ImageReport always serializes");
    text.push('\n');
    text
}

/// A self-contained SVG bar chart of the image sizes on a log scale.
pub fn svg(report: &Report) -> String {
    svg::render(report)
}

/// The report as pretty JSON with a trailing newline, as `report.json` holds it.
pub fn json(report: &Report) -> String {
    // The model holds only strings, numbers, booleans, vectors and string-keyed maps, which
    // serde_json always knows how to write, so a failure here would be a bug in serde_json.
    let mut text = serde_json::to_string_pretty(report).expect("a Report always serializes");
    text.push('\n');
    text
}

/// The columns of the summary table, shared by the terminal and the Markdown renderings so that
/// both show the same figures under the same names. The tag is left out: it is always
/// `repository:variant`, and the heading names the repository.
const SUMMARY_HEADERS: [&str; 15] = [
    "variant",
    "size",
    "compressed",
    "layers",
    "efficiency",
    "wasted",
    "files",
    "user",
    "shell",
    "ready ms",
    "stop ms",
    "memory",
    "req/s",
    "p99 ms",
    "probes",
];

/// Which summary columns hold figures, and are therefore aligned to the right.
const SUMMARY_NUMERIC: [bool; 15] = [
    false, true, true, true, true, true, true, false, false, true, true, true, true, true, false,
];

/// The index of the probes column, which the renderers mark as passed or failed.
const PROBES_COLUMN: usize = 14;

/// What a summary cell says when the figure does not exist, e.g. the run of a variant that is
/// only built.
const ABSENT: &str = "-";

/// The outcome of the probes of one image, for the renderers to mark in their own way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Probes {
    NotRun,
    Ok,
    Failed,
}

/// The cells of one summary row, as plain text, in the order of `SUMMARY_HEADERS`.
fn summary_row(image: &ImageReport) -> ([String; 15], Probes) {
    let run = image.run.as_ref();
    let load = run.and_then(|run| run.load.as_ref());
    let or_absent = |value: Option<String>| value.unwrap_or_else(|| ABSENT.to_string());
    let probes = match run {
        None => Probes::NotRun,
        Some(run) if run.probes_ok => Probes::Ok,
        Some(_) => Probes::Failed,
    };
    let cells = [
        image.variant.clone(),
        human_bytes(image.size_bytes),
        human_bytes(image.compressed_bytes),
        image.layer_count.to_string(),
        human::percent(image.efficiency),
        human_bytes(image.wasted_bytes),
        human::thousands(image.file_count),
        if image.posture.runs_as_root {
            "root".to_string()
        } else {
            "non-root".to_string()
        },
        human::yes_no(image.posture.has_shell).to_string(),
        or_absent(run.map(|run| human::thousands(run.ready_ms))),
        or_absent(run.map(|run| human::thousands(run.stop_ms))),
        or_absent(run.map(|run| human_bytes(run.memory_bytes))),
        or_absent(load.map(|load| human::rate(load.requests_per_second))),
        or_absent(load.map(|load| human::millis(load.p99_ms))),
        match probes {
            Probes::NotRun => ABSENT.to_string(),
            Probes::Ok => "ok".to_string(),
            Probes::Failed => "FAIL".to_string(),
        },
    ];
    (cells, probes)
}

/// The sentence that closes the checks: whether they all hold, or how many failed.
fn checks_verdict(checks: &[Check]) -> (bool, String) {
    let total = checks.len();
    let failed = checks.iter().filter(|check| !check.ok).count();
    match (total, failed) {
        (0, _) => (true, "no checks were run".to_string()),
        (1, 0) => (true, "all 1 check holds".to_string()),
        (_, 0) => (true, format!("all {total} checks hold")),
        _ => (false, format!("{failed} of {total} checks failed")),
    }
}

/// What a failed run prints on standard error: the error, its causes, and what to do next.
/// Nothing for failed checks, since the report has already said which ones failed.
pub fn failure(err: &anyhow::Error, style: Style) -> String {
    use crate::error::{BuildFailed, ChecksFailed, Fix, Interrupted, UsageError};
    use std::fmt::Write;
    if err.downcast_ref::<ChecksFailed>().is_some() {
        return String::new();
    }
    let label = if style.color {
        "\u{1b}[31merror\u{1b}[0m"
    } else {
        "error"
    };
    let mut out = String::new();
    if let Some(interrupted) = err.downcast_ref::<Interrupted>() {
        // The signal alone, or the signal over a clean-up that failed (its causes follow).
        if err.chain().nth(1).is_none() {
            let _ = writeln!(
                out,
                "{label}: {interrupted}; the containers this run started are removed"
            );
        } else {
            let _ = writeln!(
                out,
                "{label}: {interrupted}; removing what this run started failed"
            );
            for cause in err.chain().skip(1) {
                let _ = writeln!(out, "  caused by: {cause}");
            }
            let _ = writeln!(
                out,
                "next: `cargo xtask clean` removes what the project left in the engine"
            );
        }
        return out;
    }
    let usage = err.chain().any(|cause| cause.is::<UsageError>());
    let _ = writeln!(out, "{label}: {err}");
    for cause in err.chain().skip(1) {
        let _ = writeln!(out, "  caused by: {cause}");
    }
    let fix = err.chain().find_map(|cause| cause.downcast_ref::<Fix>());
    let next = if let Some(fix) = fix {
        fix.next.as_str()
    } else if usage {
        "fix the manifest or the command line (`cargo xtask <command> --help` lists the options)"
    } else if err.chain().any(|cause| cause.is::<BuildFailed>()) {
        "fix what the failing step reports, then run `cargo xtask build-images` again"
    } else {
        "see the cause above; `cargo xtask clean` removes what the project left in the engine"
    };
    let _ = writeln!(out, "next: {next}");
    out
}
