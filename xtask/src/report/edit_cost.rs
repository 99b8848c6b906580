//! The edit cost (`compare --edit-cost`) as people read it: per variant, how long the rebuild
//! after a one-line source change took, how many steps the cache answered, and which ran again.
//! Nothing is rendered when the report holds no edit cost, so other reports look as before.

use std::fmt::Write;

use comfy_table::{Cell, CellAlignment};

use super::human::{printable, truncate};
use super::markdown::{code_cell, text};
use super::terminal::table;
use super::Style;
use crate::model::{EditCost, Report};

/// How much of a rebuilt instruction is shown.
const STEP_CHARS: usize = 60;

/// The rebuilt steps that do work (`RUN`, `COPY`, `ADD`); the others only write metadata and
/// take no time, so the tables leave them out (`report.json` lists them all).
fn working(cost: &EditCost) -> impl Iterator<Item = &String> {
    cost.rebuilt.iter().filter(|step| {
        let word = step.split_whitespace().next().unwrap_or("");
        ["RUN", "COPY", "ADD"]
            .iter()
            .any(|w| word.eq_ignore_ascii_case(w))
    })
}

/// Each image's edit cost, the image named with its app when the report has several.
fn costs(report: &Report) -> Vec<(String, &EditCost)> {
    report
        .images
        .iter()
        .filter_map(|i| {
            i.edit_cost
                .as_ref()
                .map(|c| (super::apps::label(report, i), c))
        })
        .collect()
}

/// The changed files, each once in the order of the images, each with its app when the report
/// has several (every app changes its own manifest's `edit:` file).
fn changed_files(report: &Report, quote: impl Fn(&str) -> String) -> String {
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for image in &report.images {
        if let Some(cost) = &image.edit_cost {
            if !seen.iter().any(|(_, file)| *file == cost.file) {
                seen.push((image.app.as_str(), cost.file.as_str()));
            }
        }
    }
    let several = super::apps::several(report);
    seen.iter()
        .map(|(app, file)| match several && !app.is_empty() {
            true => format!("{} ({app})", quote(file)),
            false => quote(file),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn seconds(ms: u64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

/// The terminal's table, with a title line naming the changed file; empty without edit costs.
pub fn terminal(report: &Report, style: Style) -> String {
    let costs = costs(report);
    if costs.is_empty() {
        return String::new();
    }
    let mut table = table(style);
    table.set_header(vec![
        "variant",
        "rebuild",
        "from cache",
        "ran again (RUN, COPY, ADD)",
    ]);
    for (variant, cost) in &costs {
        table.add_row(vec![
            Cell::new(printable(variant)),
            Cell::new(seconds(cost.rebuild_ms)).set_alignment(CellAlignment::Right),
            Cell::new(format!("{}/{}", cost.cached_steps, cost.steps))
                .set_alignment(CellAlignment::Right),
            Cell::new(
                working(cost)
                    .map(|s| truncate(&printable(s), STEP_CHARS))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
        ]);
    }
    format!(
        "Edit cost: rebuild after one line appended to {}\n{table}\n\n",
        changed_files(report, printable)
    )
}

/// The Markdown section; empty without edit costs.
pub fn markdown(report: &Report) -> String {
    let costs = costs(report);
    if costs.is_empty() {
        return String::new();
    }
    let mut out = String::from("## Edit cost\n\n");
    let _ = writeln!(
        out,
        "The rebuild of each variant after one line was appended to {} (in a copy of the build \
         context), from a warm build cache.\n",
        changed_files(report, code_cell)
    );
    out.push_str("| variant | rebuild | from cache | ran again (RUN, COPY, ADD) |\n| --- | ---: | ---: | --- |\n");
    for (variant, cost) in &costs {
        let steps: Vec<String> = working(cost)
            .map(|s| code_cell(&truncate(s, STEP_CHARS)))
            .collect();
        let _ = writeln!(
            out,
            "| {} | {} | {}/{} | {} |",
            text(variant),
            seconds(cost.rebuild_ms),
            cost.cached_steps,
            cost.steps,
            steps.join("<br>")
        );
    }
    out.push('\n');
    out
}
