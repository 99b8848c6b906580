//! One image's details in the Markdown report, folded away under its line in the summary: its
//! configuration, its layers, and its run.

use std::fmt::Write as _;

use super::markup::{code, code_cell, html, mark, plural, row, text};
use crate::model::{ImageReport, RunReport};
use crate::report::human::{
    human_bytes, millis, percent, ran_with, rate, thousands, truncate, yes_no,
};

/// How many characters of a layer's command the layers table shows; the full command is in
/// `report.json`.
const CREATED_BY_CHARS: usize = 100;

/// Everything known about one image, folded away so that the summary stays short.
pub(super) fn details(out: &mut String, image: &ImageReport, label: &str) {
    let run_note = match &image.run {
        None => "not run".to_string(),
        Some(run) if run.probes_ok => "probes ok".to_string(),
        Some(_) => "probes FAIL".to_string(),
    };
    let _ = writeln!(
        out,
        "<details><summary><b>{}</b> · {} · {} · {}</summary>\n",
        html(label),
        human_bytes(image.size_bytes),
        plural(image.layer_count as u64, "layer", "layers"),
        run_note,
    );
    let _ = writeln!(out, "- tag {} · id {}", code(&image.tag), code(&image.id));
    if let Some(base) = &image.base {
        let _ = writeln!(out, "- built on {}", text(&base.describe()));
    }
    let _ = writeln!(
        out,
        "- {} uncompressed, {} compressed; efficiency {}, {} wasted (dive), {} reclaimable; {}\n",
        human_bytes(image.size_bytes),
        human_bytes(image.compressed_bytes),
        percent(image.efficiency),
        human_bytes(image.wasted_bytes),
        human_bytes(image.reclaimable_bytes),
        plural(image.file_count, "file", "files"),
    );

    out.push_str(
        "#### Layers\n\nOldest first.\n\n| # | size | created by |\n| ---: | ---: | --- |\n",
    );
    for (index, layer) in image.layers.iter().enumerate() {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            index + 1,
            human_bytes(layer.size_bytes),
            code_cell(&created_by(&layer.created_by)),
        );
    }
    out.push('\n');

    if !image.largest_files.is_empty() {
        out.push_str("#### Largest files\n\n| size | path |\n| ---: | --- |\n");
        for file in image.largest_files.iter().take(10) {
            let _ = writeln!(
                out,
                "| {} | {} |",
                human_bytes(file.size_bytes),
                code_cell(&file.path)
            );
        }
        out.push('\n');
    }

    let config = &image.config;
    out.push_str("#### Config\n\n");
    let user = if config.user.is_empty() {
        "(none: root)".to_string()
    } else {
        code(&config.user)
    };
    let _ = writeln!(out, "- user: {user}");
    let _ = writeln!(out, "- entrypoint: {}", words(&config.entrypoint));
    let _ = writeln!(out, "- cmd: {}", words(&config.cmd));
    let _ = writeln!(out, "- exposed ports: {}", list(&config.exposed_ports));
    let healthcheck = config.healthcheck.as_deref().map_or("none".into(), words);
    let _ = writeln!(out, "- healthcheck: {healthcheck}");
    // The labels get a table of their own after the list: a table nested in a list item depends
    // on its indentation, which some renderers read differently.
    if config.labels.is_empty() {
        out.push_str("- labels: none\n\n");
    } else {
        let _ = writeln!(
            out,
            "- labels: {}, below\n\n| label | value |\n| --- | --- |",
            config.labels.len()
        );
        for (key, value) in &config.labels {
            let _ = writeln!(out, "| {} | {} |", code_cell(key), text(value));
        }
        out.push('\n');
    }

    let posture = &image.posture;
    out.push_str("#### Posture\n\n");
    let _ = writeln!(out, "- runs as root: {}", yes_no(posture.runs_as_root));
    let _ = writeln!(out, "- shell: {}", yes_no(posture.has_shell));
    let _ = writeln!(
        out,
        "- package manager: {}\n",
        yes_no(posture.has_package_manager)
    );

    match &image.run {
        None => out.push_str("#### Run\n\nThis variant is built and measured, not run.\n\n"),
        Some(run) => run_details(out, run),
    }
    out.push_str("</details>\n\n");
}

fn run_details(out: &mut String, run: &RunReport) {
    out.push_str("#### Run\n\n");
    let samples: Vec<String> = run.ready_samples_ms.iter().map(u64::to_string).collect();
    let _ = writeln!(
        out,
        "- ready: {} ms (median of {})",
        thousands(run.ready_ms),
        if samples.is_empty() {
            "no samples".to_string()
        } else {
            samples.join(", ")
        }
    );
    let _ = writeln!(out, "- stop: {} ms", thousands(run.stop_ms));
    if run.cached {
        out.push_str(
            "- measured by an earlier run of this very image with the same settings \
             (`compare --fresh` runs it again)\n",
        );
    }
    let _ = writeln!(out, "- ran with: {}", text(&ran_with(&run.security)));
    let _ = writeln!(out, "- memory idle: {}", human_bytes(run.memory_bytes));
    if let Some(bytes) = run.memory_after_load_bytes {
        let _ = writeln!(out, "- memory after load: {}", human_bytes(bytes));
    }
    out.push('\n');

    out.push_str("| | probe | expected | status | detail |\n| --- | --- | ---: | ---: | --- |\n");
    for probe in &run.probes {
        let status = probe
            .status
            .map_or("no answer".to_string(), |status| status.to_string());
        let _ = writeln!(
            out,
            "{}",
            row([
                mark(probe.ok).to_string(),
                code_cell(&probe.path),
                probe.expected_status.to_string(),
                status,
                text(&probe.detail),
            ])
        );
    }
    out.push('\n');

    if let Some(load) = &run.load {
        let _ = writeln!(
            out,
            "Load on {}: {} requests, {} at a time, in {} ms: {} req/s, p50 {} ms, \
             p99 {} ms, {} errors.\n",
            code(&load.path),
            thousands(load.requests),
            load.concurrency,
            millis(load.duration_ms),
            rate(load.requests_per_second),
            millis(load.p50_ms),
            millis(load.p99_ms),
            thousands(load.errors),
        );
    }
}

/// A layer's command without the `#(nop)` noise of the classic builder, on one line, cut short.
fn created_by(command: &str) -> String {
    let command = command.trim();
    let command = command
        .strip_prefix("/bin/sh -c #(nop)")
        .unwrap_or(command)
        .trim();
    let one_line = command.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.is_empty() {
        return "-".to_string();
    }
    truncate(&one_line, CREATED_BY_CHARS)
}

/// Arguments such as an entrypoint, as code, or "none".
fn words(items: &[String]) -> String {
    if items.is_empty() {
        return "none".to_string();
    }
    let quoted: Vec<String> = items.iter().map(|item| format!("{item:?}")).collect();
    code(&format!("[{}]", quoted.join(", ")))
}

/// Names such as ports, each as code, or "none".
fn list(items: &[String]) -> String {
    if items.is_empty() {
        return "none".to_string();
    }
    items
        .iter()
        .map(|item| code(item))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_by_drops_nop_and_cuts_long_commands() {
        assert_eq!(
            created_by("/bin/sh -c #(nop)  CMD [\"/webtest\"]"),
            "CMD [\"/webtest\"]"
        );
        assert_eq!(created_by("RUN a \\\n\t&& b"), "RUN a \\ && b");
        assert_eq!(created_by(""), "-");
        let long = "x".repeat(300);
        assert_eq!(created_by(&long).chars().count(), CREATED_BY_CHARS);
    }
}
